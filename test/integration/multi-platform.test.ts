/**
 * Several platforms of one reference (`--platform a,b` and `--platform all`), against a real registry: an OCI layout
 * keeps the registry's index, byte for byte, with the blobs of every platform chosen (a sparse index when some are
 * not), and loads in containerd's importer and skopeo's `oci:`; the formats that hold one image per tag refuse it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LockFile, PullEvent } from '../../src/index.js';
import { FROZEN_BIN, parseEvents, runCli } from '../support/cli.js';
import { containerdWanted, startContainerd, type PrivateContainerd } from '../support/containerd.js';
import { pushFixtures, snapshot, useRegistry, type PushedImages } from '../support/fixture.js';
import { image, index, layer, pushImage, pushManifest, sha256, type Blob, type BuiltImage } from '../support/images.js';
import { tarDirectory } from '../support/load.js';

const exec = promisify(execFile);
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-multi-'));

interface Pushed extends PushedImages {
  /** list/app:1, a Docker manifest list of two Docker images. */
  readonly list: { readonly amd64: BuiltImage; readonly arm64: BuiltImage; readonly blob: Blob };
}

async function dockerPlatformImage(architecture: string, variant?: string): Promise<BuiltImage> {
  const l = await layer([{ type: 'file', name: 'etc/arch', content: `docker ${architecture}\n` }]);
  return image({ layers: [l], architecture, ...(variant && { variant }) });
}

const fixture = useRegistry<Pushed>(async (target) => {
  const pushed = await pushFixtures(target);
  const list = { amd64: await dockerPlatformImage('amd64'), arm64: await dockerPlatformImage('arm64', 'v8') };
  for (const img of [list.amd64, list.arm64]) await pushImage(target, 'list/app', img);
  const blob = index([list.amd64, list.arm64], { docker: true });
  await pushManifest(target, 'list/app', '1', blob);
  return { ...pushed, list: { ...list, blob } };
});
const ref = (repository: string) => `${fixture.registry.host}/${repository}`;

interface Layout {
  readonly index: { manifests: { mediaType: string; digest: string; size: number; annotations?: object }[] };
  readonly manifestJson: { Config: string; RepoTags: string[]; Layers: string[] }[];
  /** Every blob's file name (`sha256:<hex>`), each checked to hash to its name. */
  readonly blobs: Set<string>;
}

async function readLayout(dir: string): Promise<Layout> {
  const blobs = new Set<string>();
  for (const name of await readdir(join(dir, 'blobs', 'sha256'))) {
    expect(sha256(await readFile(join(dir, 'blobs', 'sha256', name))), `blob ${name}`).toBe(`sha256:${name}`);
    blobs.add(`sha256:${name}`);
  }
  return {
    index: JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as Layout['index'],
    manifestJson: JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Layout['manifestJson'],
    blobs,
  };
}

function imageBlobs(img: BuiltImage): string[] {
  return [img.manifest, img.config, ...img.layers].map((b) => b.digest);
}

async function pullOci(output: string, platform: string, reference: string, ...extra: string[]) {
  const result = await runCli([
    'pull',
    '--json',
    '--format',
    'oci',
    '--platform',
    platform,
    '-o',
    output,
    ...extra,
    reference,
  ]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return parseEvents(result.stdout).filter(
    (e): e is Extract<PullEvent, { type: 'image-done' }> => e.type === 'image-done',
  );
}

describe('several platforms into an OCI layout', () => {
  test('--platform all of an OCI index: the index as the registry serves it, every platform whole, and its attestation', async () => {
    const output = join(await tempDir(), 'layout');
    const done = await pullOci(output, 'all', ref('multi/app:1'));
    const { platforms, index: served } = fixture.images;
    expect(done.map((e) => [e.result.platform, e.result.manifestDigest, e.result.digest])).toEqual([
      ['linux/amd64', platforms.amd64.manifest.digest, served.digest],
      ['linux/arm64', platforms.arm64.manifest.digest, served.digest],
      ['linux/arm/v7', platforms.armv7.manifest.digest, served.digest],
    ]);
    const layout = await readLayout(output);
    expect(layout.index.manifests).toEqual([
      {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: served.digest,
        size: served.size,
        annotations: { 'io.containerd.image.name': ref('multi/app:1'), 'org.opencontainers.image.ref.name': '1' },
      },
    ]);
    expect(await readFile(join(output, 'blobs', 'sha256', served.digest.slice(7)))).toEqual(served.bytes);
    for (const img of Object.values(platforms))
      for (const digest of imageBlobs(img)) expect(layout.blobs).toContain(digest);
    // The attestation entry (no platform) comes too, manifest and blobs, so that the layout is whole.
    const attestation = (JSON.parse(served.bytes.toString()) as { manifests: { digest: string }[] }).manifests[3]!;
    expect(layout.blobs).toContain(attestation.digest);
    expect(layout.blobs.size).toBe(1 + 4 * 3);
    // manifest.json (what docker load reads) has every platform; the tag goes to the one this host would pull.
    expect(layout.manifestJson.map((m) => m.Config)).toEqual(
      Object.values(platforms).map((img) => `blobs/sha256/${img.config.digest.slice(7)}`),
    );
    expect(layout.manifestJson.flatMap((m) => m.RepoTags)).toEqual([ref('multi/app:1')]);
  });

  test("skopeo's oci: transport reads each platform of the layout", async () => {
    const output = join(await tempDir(), 'layout');
    await pullOci(output, 'all', ref('multi/app:1'));
    const { platforms } = fixture.images;
    const wanted: [string[], BuiltImage][] = [
      [['--override-arch', 'amd64'], platforms.amd64],
      [['--override-arch', 'arm64', '--override-variant', 'v8'], platforms.arm64],
      [['--override-arch', 'arm', '--override-variant', 'v7'], platforms.armv7],
    ];
    for (const [override, img] of wanted) {
      const target = await tempDir();
      await exec('skopeo', [
        ...override,
        '--override-os',
        'linux',
        'copy',
        '--quiet',
        `oci:${output}:1`,
        `dir:${target}`,
      ]);
      const manifest = JSON.parse(await readFile(join(target, 'manifest.json'), 'utf8')) as {
        config: { digest: string };
      };
      expect(manifest.config.digest).toBe(img.config.digest);
      await rm(target, { recursive: true, force: true });
    }
  });

  test('--platform all of a Docker manifest list keeps the list, with its media type and digest', async () => {
    const output = join(await tempDir(), 'layout');
    const done = await pullOci(output, 'all', ref('list/app:1'));
    const { list } = fixture.images;
    expect(done.map((e) => e.result.manifestDigest)).toEqual([list.amd64.manifest.digest, list.arm64.manifest.digest]);
    const layout = await readLayout(output);
    expect(layout.index.manifests.map((m) => [m.mediaType, m.digest, m.size])).toEqual([
      ['application/vnd.docker.distribution.manifest.list.v2+json', list.blob.digest, list.blob.size],
    ]);
    for (const digest of [list.blob.digest, ...imageBlobs(list.amd64), ...imageBlobs(list.arm64)])
      expect(layout.blobs).toContain(digest);
  });

  test('a list of two platforms: those two only, under the whole index', async () => {
    const output = join(await tempDir(), 'layout');
    const done = await pullOci(output, 'linux/arm/v7,linux/amd64', ref('multi/app:1'));
    expect(done.map((e) => e.result.platform)).toEqual(['linux/amd64', 'linux/arm/v7']);
    const layout = await readLayout(output);
    const { platforms, index: served } = fixture.images;
    expect(layout.index.manifests.map((m) => m.digest)).toEqual([served.digest]);
    expect([...layout.blobs].sort()).toEqual(
      [served.digest, ...imageBlobs(platforms.amd64), ...imageBlobs(platforms.armv7)].sort(),
    );
  });

  test('a platform the index does not offer fails the image, naming what it offers; nothing is written', async () => {
    const output = join(await tempDir(), 'layout');
    const result = await runCli([
      'pull',
      '--format',
      'oci',
      '--platform',
      'linux/amd64,linux/s390x',
      '-o',
      output,
      ref('multi/app:1'),
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /no manifest for platform linux\/s390x; the index offers linux\/amd64, linux\/arm64, linux\/arm\/v7\n$/,
    );
    expect(existsSync(output)).toBe(false);
  });
});

describe('an OCI layout as one tar', () => {
  test('-o images.tar and -o - give the same tar of the layout, byte for byte, as docker save writes it since Docker 25', async () => {
    const dir = await tempDir();
    const file = join(dir, 'images.tar');
    const args = ['pull', '-q', '--format', 'oci', '--platform', 'all'];
    const toFile = await runCli([...args, '-o', file, ref('multi/app:1')]);
    expect([toFile.code, toFile.stderr]).toEqual([0, '']);
    const piped = join(dir, 'piped.tar');
    const command = [process.execPath, FROZEN_BIN, ...args, '-o', '-', ref('multi/app:1')]
      .map((a) => `'${a}'`)
      .join(' ');
    await exec('sh', ['-c', `${command} > '${piped}'`], { env: { ...process.env, FROZEN_CACHE: join(dir, 'cache') } });
    expect(await readFile(piped)).toEqual(await readFile(file));
    const { stdout } = await exec('tar', ['-tf', file]);
    const names = stdout.trim().split('\n');
    expect(names.slice(0, 2)).toEqual(['blobs/', 'blobs/sha256/']);
    expect(names).toEqual(expect.arrayContaining(['index.json', 'manifest.json', 'oci-layout']));
    const unpacked = join(dir, 'unpacked');
    await exec('mkdir', [unpacked]);
    await exec('tar', ['-xf', file, '-C', unpacked]);
    await pullOci(join(dir, 'layout'), 'all', ref('multi/app:1'));
    expect(await snapshot(unpacked)).toEqual(await snapshot(join(dir, 'layout')));
  });
});

describe('formats that hold one image per tag', () => {
  test.each([
    ['dir', 'out'],
    ['tar', 'out.tar'],
  ])(
    'several platforms into --format %s: one line that says to use --format oci, nothing written',
    async (format, name) => {
      const output = join(await tempDir(), name);
      const result = await runCli(['pull', '--format', format, '--platform', 'all', '-o', output, ref('multi/app:1')]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `frozen: error: ${ref('multi/app:1')}: 3 platforms (linux/amd64, linux/arm64, linux/arm/v7) of one image: the ${format} format holds one image per tag; write --format oci, or give each platform its own tag\n`,
      );
      expect(existsSync(output)).toBe(false);
    },
  );

  test('references that give each platform its own tag go into a directory', async () => {
    const output = join(await tempDir(), 'out');
    const result = await runCli([
      'pull',
      '-q',
      '--platform',
      'all',
      '-o',
      output,
      ref('one/app:1'),
      ref('team/app:1.2'),
    ]);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8')) as { RepoTags: string[] }[];
    expect(manifest.flatMap((m) => m.RepoTags)).toEqual([ref('one/app:1'), ref('team/app:1.2')]);
  });
});

describe('lock files with several platforms', () => {
  test('lock --platform all pins every platform; pull --lock --offline writes what pull --lock writes, under the same index', async () => {
    const dir = await tempDir();
    const path = join(dir, 'frozen.lock.json');
    const env = { env: { FROZEN_CACHE: join(dir, 'cache') } };
    const locked = await runCli(['lock', '--platform', 'all', '-o', path, ref('multi/app:1')], env);
    expect([locked.code, locked.stderr]).toEqual([0, '']);
    const file = JSON.parse(await readFile(path, 'utf8')) as LockFile;
    const { platforms, index: served } = fixture.images;
    expect(file.images.map((i) => [i.reference, i.digest, i.manifestDigest, i.platform])).toEqual([
      [ref('multi/app:1'), served.digest, platforms.amd64.manifest.digest, 'linux/amd64'],
      [ref('multi/app:1'), served.digest, platforms.arm64.manifest.digest, 'linux/arm64'],
      [ref('multi/app:1'), served.digest, platforms.armv7.manifest.digest, 'linux/arm/v7'],
    ]);
    const online = await runCli(['pull', '-q', '--format', 'oci', '--lock', path, '-o', join(dir, 'online')], env);
    expect([online.code, online.stderr]).toEqual([0, '']);
    const offline = await runCli(
      ['pull', '-q', '--offline', '--format', 'oci', '--lock', path, '-o', join(dir, 'offline')],
      env,
    );
    expect([offline.code, offline.stderr]).toEqual([0, '']);
    expect(await snapshot(join(dir, 'offline'))).toEqual(await snapshot(join(dir, 'online')));
    // What a direct pull writes, but for the attestation's blobs, which a lock file does not pin (a sparse index).
    const direct = join(dir, 'direct');
    await pullOci(direct, 'all', ref('multi/app:1'));
    const [fromLock, fromTag] = [await readLayout(join(dir, 'offline')), await readLayout(direct)];
    expect(fromLock.index).toEqual(fromTag.index);
    expect(fromLock.manifestJson).toEqual(fromTag.manifestJson);
    expect(fromTag.blobs.size - fromLock.blobs.size).toBe(3);

    const intoDir = await runCli(['pull', '--offline', '--lock', path, '-o', join(dir, 'dir')], env);
    expect(intoDir.code).toBe(2);
    expect(intoDir.stderr).toMatch(
      /3 platforms .* of one image: the dir format holds one image per tag; write --format oci/,
    );
  });
});

describe.runIf(containerdWanted)('containerd imports the layouts', () => {
  let containerd: PrivateContainerd;
  beforeAll(async () => {
    containerd = await startContainerd();
  }, 60_000);
  afterAll(async () => containerd?.stop());

  test('ctr images import --all-platforms takes the whole layout, under the index digest', async () => {
    const output = join(await tempDir(), 'layout');
    await pullOci(output, 'all', ref('multi/app:1'));
    await containerd.ctr([
      'images',
      'import',
      '--all-platforms',
      '--snapshotter',
      'native',
      await tarDirectory(output),
    ]);
    const { stdout } = await containerd.ctr(['images', 'ls', `name==${ref('multi/app:1')}`]);
    const row = stdout.split('\n').find((line) => line.startsWith(`${ref('multi/app:1')} `));
    expect(row?.split(/\s+/)[2]).toBe(fixture.images.index.digest);
    const { stdout: content } = await containerd.ctr(['content', 'ls', '-q']);
    for (const img of Object.values(fixture.images.platforms))
      for (const digest of imageBlobs(img)) expect(content).toContain(digest);
  }, 60_000);

  test('the tar of a layout (--format oci -o images.tar) imports as it is', async () => {
    const file = join(await tempDir(), 'images.tar');
    const pulled = await runCli(['pull', '-q', '--format', 'oci', '--platform', 'all', '-o', file, ref('multi/app:1')]);
    expect([pulled.code, pulled.stderr]).toEqual([0, '']);
    await containerd.ctr(['images', 'rm', ref('multi/app:1')]).catch(() => undefined);
    await containerd.ctr(['images', 'import', '--all-platforms', '--snapshotter', 'native', file]);
    const { stdout } = await containerd.ctr(['images', 'ls', `name==${ref('multi/app:1')}`]);
    expect(stdout).toContain(fixture.images.index.digest);
  }, 60_000);

  test('a sparse layout (two platforms of three) imports for one of its platforms', async () => {
    const output = join(await tempDir(), 'layout');
    await pullOci(output, 'linux/amd64,linux/arm/v7', ref('multi/app:1'));
    await containerd.ctr(['images', 'rm', ref('multi/app:1')]).catch(() => undefined);
    await containerd.ctr([
      'images',
      'import',
      '--platform',
      'linux/arm/v7',
      '--snapshotter',
      'native',
      await tarDirectory(output),
    ]);
    const { stdout } = await containerd.ctr(['images', 'ls', `name==${ref('multi/app:1')}`]);
    expect(stdout).toContain(fixture.images.index.digest);
  }, 60_000);
});
