import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { dockerdWanted, startDockerd, type PrivateDockerd } from '../support/dockerd.js';
import { pushFixtures, type PushedImages } from '../support/fixture.js';
import { startFlakyRegistry } from '../support/flaky-registry.js';
import { foreignLayer, image, layer, pushImage } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { schema1Fixture } from '../support/schema1.js';
import { startV1Registry, v1Image } from '../support/v1-registry.js';

const exec = promisify(execFile);

/** The proof by loading: `tar -cC DIR . | docker load` on a real daemon, then `docker image inspect`. */
describe.runIf(dockerdWanted)('docker load on a private dockerd', () => {
  let registry: RunningRegistry;
  let images: PushedImages;
  let dockerd: PrivateDockerd;

  beforeAll(async () => {
    registry = await startRegistry();
    images = await pushFixtures({ url: registry.url });
    dockerd = await startDockerd();
  }, 90_000);
  afterAll(async () => {
    await dockerd?.stop();
    await registry?.stop();
  });

  /** Pulls `ref` into a new directory, loads it with `tar | docker load`, and returns the loaded image's ID and layers, and the directory. */
  async function pullAndLoad(ref: string): Promise<{ id: string; layers: string[]; output: string }> {
    const output = await mkdtemp(join(tmpdir(), 'frozen-load-'));
    expect((await runCli(['pull', '-o', output, ref])).code).toBe(0);
    const load = await exec('sh', ['-c', `tar -cC '${output}' . | docker -H '${dockerd.host}' load`]);
    expect(load.stdout).toContain(`Loaded image: ${ref}`);
    const { stdout } = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}} {{json .RootFS.Layers}}', ref]);
    const [id, layers] = stdout.trim().split(' ');
    return { id: id!, layers: JSON.parse(layers!) as string[], output };
  }

  test('every pulled image loads with its tag and the image ID = config digest', async () => {
    const output = await mkdtemp(join(tmpdir(), 'frozen-load-'));
    const pulls: [string[], string, string][] = [
      [[], `${registry.host}/one/app:1`, images.one.config.digest],
      [[], `${registry.host}/team/app:1.2`, images.multi.config.digest],
      [[], `${registry.host}/oci/app:1`, images.oci.config.digest],
      [[], `${registry.host}/ocitar/app:1`, images.ociTar.config.digest],
      [['--platform', 'linux/arm64'], `${registry.host}/multi/app:1`, images.platforms.arm64.config.digest],
    ];
    // Two runs into the same directory: the merge must load too.
    const first = await runCli(['pull', '-o', output, ...pulls.slice(0, 4).map(([, ref]) => ref)]);
    expect(first.stderr).not.toContain('error');
    const second = await runCli(['pull', '-o', output, '--platform', 'linux/arm64', pulls[4]![1]]);
    expect(second.stderr).not.toContain('error');

    const load = await exec('sh', ['-c', `tar -cC '${output}' . | docker -H '${dockerd.host}' load`]);
    for (const [, ref] of pulls) expect(load.stdout).toContain(`Loaded image: ${ref}`);

    for (const [, ref, imageId] of pulls) {
      const { stdout } = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}} {{json .RepoTags}}', ref]);
      const [id, tags] = stdout.trim().split(' ');
      expect(id).toBe(imageId);
      expect(JSON.parse(tags!)).toContain(ref);
    }
  }, 120_000);

  test('an OCI layout (--format oci) loads through its manifest.json', async () => {
    const ref = `${registry.host}/oci/app:1`;
    await dockerd.docker(['image', 'rm', '-f', ref]).catch(() => undefined);
    const output = join(await mkdtemp(join(tmpdir(), 'frozen-load-oci-')), 'layout');
    expect((await runCli(['pull', '--format', 'oci', '-o', output, ref])).code).toBe(0);
    const load = await exec('sh', ['-c', `tar -cC '${output}' . | docker -H '${dockerd.host}' load`]);
    expect(load.stdout).toContain(`Loaded image: ${ref}`);
    const { stdout } = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    expect(stdout.trim()).toBe(images.oci.config.digest);
  }, 60_000);

  test('several platforms in one OCI layout (--platform all): docker load takes every image, the tag on the host platform', async () => {
    const ref = `${registry.host}/multi/app:1`;
    await dockerd.docker(['image', 'rm', '-f', ref]).catch(() => undefined);
    const output = join(await mkdtemp(join(tmpdir(), 'frozen-load-multi-')), 'layout');
    const pulled = await runCli(['pull', '-q', '--format', 'oci', '--platform', 'all', '-o', output, ref]);
    expect([pulled.code, pulled.stderr]).toEqual([0, '']);
    const load = await exec('sh', ['-c', `tar -cC '${output}' . | docker -H '${dockerd.host}' load`]);
    expect(load.stdout).toContain(`Loaded image: ${ref}`);
    const { stdout } = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    // The host here is linux/amd64 (the suite's machines): its platform's image gets the tag.
    expect(stdout.trim()).toBe(images.platforms.amd64.config.digest);
    for (const img of [images.platforms.arm64, images.platforms.armv7]) {
      const other = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', img.config.digest]);
      expect(other.stdout.trim()).toBe(img.config.digest);
    }
  }, 60_000);

  test('a converted schema1 image loads', async () => {
    const flaky = await startFlakyRegistry();
    try {
      const fixture = await schema1Fixture();
      flaky.serveRaw('old/app', '1', fixture.signed, [fixture.base, fixture.top, fixture.empty]);
      const loaded = await pullAndLoad(`${flaky.host}/old/app:1`);
      expect(loaded.layers).toEqual([fixture.base.diffId, fixture.top.diffId]);
    } finally {
      await flaky.stop();
    }
  }, 60_000);

  test('an image from a v1 registry loads (its v1 directories plus the synthesized config and manifest.json)', async () => {
    const v1 = await startV1Registry();
    try {
      const base = await v1Image([{ type: 'file', name: 'base', content: 'base\n' }]);
      const top = await v1Image([{ type: 'file', name: 'top', content: 'top\n' }], { parent: base, gzip: false });
      v1.add(base);
      v1.add(top);
      v1.tag('legacy/app', '1', top.id);
      const loaded = await pullAndLoad(`${v1.host}/legacy/app:1`);
      expect(loaded.layers).toEqual([base.diffId, top.diffId]);
    } finally {
      await v1.stop();
    }
  }, 60_000);

  test('an image with a zstd layer loads (the layer is written as its tar)', async () => {
    const base = await layer([{ type: 'file', name: 'base', content: 'base\n' }], 'oci-gzip');
    const top = await layer([{ type: 'file', name: 'top', content: 'zstd layer\n' }], 'zstd');
    const zstdImage = image({ layers: [base, top], format: 'oci' });
    await pushImage({ url: registry.url }, 'zstd/app', zstdImage, '1');
    expect(await pullAndLoad(`${registry.host}/zstd/app:1`)).toMatchObject({
      id: zstdImage.config.digest,
      layers: [base.diffId, top.diffId],
    });
  }, 60_000);

  // Only Windows daemons register a foreign layer with its LayerSources descriptor (moby's layer store does so in
  // layer_windows.go); a Linux daemon loads the image all the same.
  test('an image with a foreign layer, described in LayerSources, loads', async () => {
    // The registry holds the layer too (as a mirror of a Windows image's would), so its url is never asked.
    const base = foreignLayer(await layer([{ type: 'file', name: 'Files/base.txt', content: 'foreign base\n' }]), [
      'https://example.invalid/base.tar.gz',
    ]);
    const top = await layer([{ type: 'file', name: 'Files/app.txt', content: 'app\n' }]);
    const windowsLike = image({ layers: [base, top] });
    const allowing = await startRegistry({ allowUrls: '^https://example\\.invalid/' });
    try {
      await pushImage({ url: allowing.url }, 'foreign/app', windowsLike, '1');
      const ref = `${allowing.host}/foreign/app:1`;
      const { output, ...loaded } = await pullAndLoad(ref);
      expect(loaded).toEqual({ id: windowsLike.config.digest, layers: [base.diffId, top.diffId] });
      const [entry] = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8')) as { LayerSources?: object }[];
      expect(Object.keys(entry!.LayerSources ?? {})).toEqual([base.diffId]);
    } finally {
      await allowing.stop();
    }
  }, 60_000);

  test('frozen pull -o - | docker load', async () => {
    const ref = `${registry.host}/one/app:1`;
    await dockerd.docker(['image', 'rm', '-f', ref]).catch(() => undefined);
    const { FROZEN_BIN } = await import('../support/cli.js');
    const cache = await mkdtemp(join(tmpdir(), 'frozen-load-cache-'));
    const load = await exec('sh', [
      '-c',
      `FROZEN_CACHE='${cache}' '${process.execPath}' '${FROZEN_BIN}' pull -q -o - '${ref}' | docker -H '${dockerd.host}' load`,
    ]);
    expect(load.stdout).toContain(`Loaded image: ${ref}`);
    const { stdout } = await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', ref]);
    expect(stdout.trim()).toBe(images.one.config.digest);
  }, 60_000);
});
