import { execFile } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { containerdWanted, startContainerd, type PrivateContainerd } from '../support/containerd.js';
import { pushFixtures, type PushedImages } from '../support/fixture.js';
import { startFlakyRegistry, type FlakyRegistry } from '../support/flaky-registry.js';
import { foreignLayer, image, layer, pushImage, type BuiltImage } from '../support/images.js';
import { tarDirectory } from '../support/load.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { schema1Fixture, type Schema1Fixture } from '../support/schema1.js';
import { startV1Registry, v1Image, type V1Image, type V1Registry } from '../support/v1-registry.js';

const exec = promisify(execFile);
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-ctd-'));

/**
 * The proof by containerd's importer (`ctr images import`), which `docker load` uses with Docker's containerd image
 * store (the default since Docker 29), as do nerdctl and k3s. It reads manifest.json (or an OCI layout's index.json),
 * and unpacking the image applies every layer and checks it against the config's diff IDs. Unlike `docker load`, it
 * does not follow tar hard-link entries.
 */
describe.runIf(containerdWanted)('ctr images import on a private containerd', () => {
  let registry: RunningRegistry;
  let flaky: FlakyRegistry;
  let v1: V1Registry;
  let images: PushedImages;
  let extra: { zstd: BuiltImage; twice: BuiltImage; foreign: BuiltImage; schema1: Schema1Fixture; v1Top: V1Image };
  let containerd: PrivateContainerd;

  beforeAll(async () => {
    const foreignUrls = '^https://example\\.invalid/';
    [registry, flaky, v1, containerd] = await Promise.all([
      startRegistry({ allowUrls: foreignUrls }),
      startFlakyRegistry(),
      startV1Registry(),
      startContainerd(),
    ]);
    images = await pushFixtures({ url: registry.url });
    const base = await layer([{ type: 'file', name: 'base', content: 'base\n' }], 'oci-gzip');
    const zstd = image({
      layers: [base, await layer([{ type: 'file', name: 'top', content: 'zstd layer\n' }], 'zstd')],
      format: 'oci',
    });
    await pushImage({ url: registry.url }, 'zstd/app', zstd, '1');
    const empty = await layer([]);
    const twice = image({ layers: [await layer([{ type: 'file', name: 'a', content: 'a\n' }]), empty, empty] });
    await pushImage({ url: registry.url }, 'dup/twice', twice, '1');
    // A foreign layer the registry holds too: its manifest.json entry has LayerSources.
    const windowsBase = foreignLayer(await layer([{ type: 'file', name: 'Files/base.txt', content: 'foreign\n' }]), [
      'https://example.invalid/base.tar.gz',
    ]);
    const foreign = image({
      layers: [windowsBase, await layer([{ type: 'file', name: 'Files/app.txt', content: 'app\n' }])],
    });
    await pushImage({ url: registry.url }, 'foreign/app', foreign, '1');
    const schema1 = await schema1Fixture();
    flaky.serveRaw('old/app', '1', schema1.signed, [schema1.base, schema1.top, schema1.empty]);
    const v1Base = await v1Image([{ type: 'file', name: 'base', content: 'base\n' }]);
    const v1Top = await v1Image([{ type: 'file', name: 'top', content: 'top\n' }], { parent: v1Base, gzip: false });
    v1.add(v1Base);
    v1.add(v1Top);
    v1.tag('legacy/app', '1', v1Top.id);
    extra = { zstd, twice, foreign, schema1, v1Top };
  }, 90_000);
  afterAll(async () => {
    await Promise.all([containerd?.stop(), registry?.stop(), flaky?.stop(), v1?.stop()]);
  });

  /** Imports the tar and unpacks it (the native snapshotter needs no mounts); fails if containerd refuses it. */
  async function importTar(file: string): Promise<void> {
    await containerd.ctr(['images', 'import', '--snapshotter', 'native', file]);
  }

  /** The config digest (image ID) of the image containerd holds under `ref`, read through its manifest. */
  async function importedConfig(ref: string): Promise<string> {
    const { stdout } = await containerd.ctr(['images', 'ls', `name==${ref}`]);
    const row = stdout.split('\n').find((line) => line.startsWith(`${ref} `));
    expect(row, `containerd has no image ${ref}:\n${stdout}`).toBeDefined();
    const manifestDigest = row!.split(/\s+/)[2]!;
    const manifest = JSON.parse((await containerd.ctr(['content', 'get', manifestDigest])).stdout) as {
      config: { digest: string };
    };
    return manifest.config.digest;
  }

  async function pull(args: string[]): Promise<void> {
    const result = await runCli(['pull', '-q', ...args]);
    expect([result.code, result.stderr]).toEqual([0, '']);
  }

  test('a directory of Docker, OCI, zstd, foreign-layer, schema1 and v1 images imports and unpacks, each under its tag and image ID', async () => {
    const output = await tempDir();
    const pulled: [string, string][] = [
      [`${registry.host}/one/app:1`, images.one.config.digest],
      [`${registry.host}/team/app:1.2`, images.multi.config.digest],
      [`${registry.host}/oci/app:1`, images.oci.config.digest],
      [`${registry.host}/ocitar/app:1`, images.ociTar.config.digest],
      [`${registry.host}/zstd/app:1`, extra.zstd.config.digest],
      [`${registry.host}/foreign/app:1`, extra.foreign.config.digest],
    ];
    await pull(['-o', output, ...pulled.map(([ref]) => ref)]);
    await pull(['-o', output, `${flaky.host}/old/app:1`, `${v1.host}/legacy/app:1`]);
    await importTar(await tarDirectory(output));
    for (const [ref, configDigest] of pulled) expect(await importedConfig(ref)).toBe(configDigest);
    // The converted images' configs are frozen's own: they must be the ones the directory names.
    const entries = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8')) as {
      Config: string;
      RepoTags: string[];
    }[];
    for (const ref of [`${flaky.host}/old/app:1`, `${v1.host}/legacy/app:1`]) {
      const entry = entries.find((e) => e.RepoTags.includes(ref));
      expect(await importedConfig(ref)).toBe(`sha256:${entry!.Config.replace(/\.json$/, '')}`);
    }
  }, 120_000);

  test('an image with the same layer at two layer IDs imports from `tar -c` of its directory (the files are not hard links to each other)', async () => {
    const dir = await tempDir();
    const output = join(dir, 'out');
    const ref = `${registry.host}/dup/twice:1`;
    await pull(['--cache', join(dir, 'cache'), '-o', output, ref]);
    const archive = await tarDirectory(output);
    const { stdout } = await exec('tar', ['-tvf', archive]);
    expect(stdout.split('\n').filter((line) => line.startsWith('h'))).toEqual([]);
    await importTar(archive);
    expect(await importedConfig(ref)).toBe(extra.twice.config.digest);
  }, 60_000);

  test('--format tar, --format oci and --decompress output import', async () => {
    const dir = await tempDir();
    const ref = (repo: string) => `${registry.host}/${repo}`;
    await pull(['--format', 'tar', '-o', join(dir, 'images.tar'), ref('team/app:1.2')]);
    await pull(['--format', 'oci', '-o', join(dir, 'layout'), ref('oci/app:1')]);
    await pull(['--decompress', '-o', join(dir, 'plain'), ref('one/app:1')]);
    await containerd
      .ctr(['images', 'rm', ref('team/app:1.2'), ref('oci/app:1'), ref('one/app:1')])
      .catch(() => undefined);
    await importTar(join(dir, 'images.tar'));
    await importTar(await tarDirectory(join(dir, 'layout')));
    await importTar(await tarDirectory(join(dir, 'plain')));
    expect(await importedConfig(ref('team/app:1.2'))).toBe(images.multi.config.digest);
    expect(await importedConfig(ref('oci/app:1'))).toBe(images.oci.config.digest);
    expect(await importedConfig(ref('one/app:1'))).toBe(images.one.config.digest);
  }, 60_000);
});
