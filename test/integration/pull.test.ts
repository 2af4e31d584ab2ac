import { existsSync } from 'node:fs';
import { link, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { layerIds, printRepositories, starterLayerJson, topLayerJson } from '../../src/layout/docker-format.js';
import { lock } from '../../src/lock.js';
import { pull, type PullEvent } from '../../src/index.js';
import { parseEvents, runCli } from '../support/cli.js';
import { pushReplacement, snapshot, useFixtureRegistry } from '../support/fixture.js';
import { image, index, layer, pushImage, pushManifest, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';

const fixture = useFixtureRegistry();

const hex = (digest: string) => digest.slice('sha256:'.length);
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-it-'));

async function pullCli(output: string, ...refs: string[]) {
  const result = await runCli(['pull', '-o', output, ...refs]);
  expect(result.stderr).not.toContain('error');
  expect(result.code).toBe(0);
  return result;
}

/**
 * Every file the script would write for `img`, with the bytes it would write. `sharedTop`: another image written
 * later has the same top layer, so that layer's json is the later image's (the script's last-writer rule).
 */
async function expectScriptLayout(output: string, img: BuiltImage, sharedTop = false) {
  const ids = layerIds(img.layers.map((l) => l.digest));
  expect(await readFile(join(output, `${hex(img.config.digest)}.json`))).toEqual(img.config.bytes);
  for (const [i, id] of ids.entries()) {
    expect(await readFile(join(output, id, 'VERSION'), 'utf8')).toBe('1.0\n');
    expect(await readFile(join(output, id, 'layer.tar'))).toEqual(img.layers[i]!.bytes);
    const parent = i > 0 ? ids[i - 1]! : '';
    const isTop = i === ids.length - 1;
    if (isTop && sharedTop) continue;
    const expectedJson = isTop ? topLayerJson(id, parent, img.config.bytes.toString()) : starterLayerJson(id, parent);
    expect(await readFile(join(output, id, 'json'), 'utf8')).toBe(expectedJson);
  }
  return ids;
}

describe('single images into a fresh directory', () => {
  test('one layer: the script’s files and bytes, loadable, image ID = config digest', async () => {
    const output = await tempDir();
    const result = await pullCli(output, `${fixture.registry.host}/one/app:1`);
    const ids = await expectScriptLayout(output, fixture.images.one);
    expect((await readdir(output)).sort()).toEqual(
      [`${hex(fixture.images.one.config.digest)}.json`, ids[0], 'manifest.json', 'repositories'].sort(),
    );
    expect(await readFile(join(output, 'manifest.json'), 'utf8')).toBe(
      `[\n  {\n    "Config": "${hex(fixture.images.one.config.digest)}.json",\n    "RepoTags": [\n      "${fixture.registry.host}/one/app:1"\n    ],\n    "Layers": [\n      "${ids[0]}/layer.tar"\n    ]\n  }\n]\n`,
    );
    expect(await readFile(join(output, 'repositories'), 'utf8')).toBe(
      `{\n\t"${fixture.registry.host}/one/app": { "1": "${ids[0]}" }\n}\n`,
    );
    expect(result.stdout).toContain(`manifest  ${fixture.images.one.manifest.digest}`);
    expect(result.stdout).toContain(`image ID  ${fixture.images.one.config.digest}`);
    expect(result.stdout).toMatch(/layers {4}1, /);
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.one.config.digest);
  });

  test('several layers with a symlink, a hardlink and a whiteout load with the right diff IDs', async () => {
    const output = await tempDir();
    await pullCli(output, `${fixture.registry.host}/team/app:1.2`);
    await expectScriptLayout(output, fixture.images.multi);
    // The top json keeps the registry's key order, including the integer-like label key JSON.parse would move.
    const top = layerIds(fixture.images.multi.layers.map((l) => l.digest)).at(-1)!;
    expect(await readFile(join(output, top, 'json'), 'utf8')).toMatch(/"zeta": "last-first",\n\s+"1": "one"/);
    const loaded = await loadWithSkopeo(output);
    expect(loaded.imageId).toBe(fixture.images.multi.config.digest);
    expect(loaded.diffIds).toEqual(fixture.images.multi.layers.map((l) => l.diffId));
  });

  test.each([
    ['oci/app:1', 'oci'],
    ['ocitar/app:1', 'ociTar'],
  ] as const)('OCI manifest %s', async (ref, key) => {
    const output = await tempDir();
    await pullCli(output, `${fixture.registry.host}/${ref}`);
    await expectScriptLayout(output, fixture.images[key]);
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images[key].config.digest);
  });
});

test('the default output directory is ./frozen-images; --quiet prints nothing', async () => {
  const cwd = await tempDir();
  const result = await runCli(['pull', '--quiet', `${fixture.registry.host}/one/app:1`], { cwd });
  expect(result).toMatchObject({ code: 0, stdout: '', stderr: '' });
  await expectScriptLayout(join(cwd, 'frozen-images'), fixture.images.one);
  expect((await loadWithSkopeo(join(cwd, 'frozen-images'))).imageId).toBe(fixture.images.one.config.digest);
});

test('-f reads references one a line, with comments and blank lines; with none at all it is a usage error', async () => {
  const dir = await tempDir();
  const list = join(dir, 'fixture.images.txt');
  await writeFile(
    list,
    `# frozen images for CI\n${fixture.registry.host}/one/app:1   # the base\n\n  ${fixture.registry.host}/oci/app:1\n`,
  );
  const output = join(dir, 'out');
  await pullCli(output, '-f', list, `${fixture.registry.host}/team/app:1.2`);
  const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
  expect(manifest.map((e: { RepoTags: string[] }) => e.RepoTags[0])).toEqual([
    `${fixture.registry.host}/team/app:1.2`,
    `${fixture.registry.host}/one/app:1`,
    `${fixture.registry.host}/oci/app:1`,
  ]);
  // The same list with Windows line ends pulls the same images.
  await writeFile(
    list,
    `# frozen images for CI\r\n${fixture.registry.host}/one/app:1   # the base\r\n\r\n  # indented comment\r\n${fixture.registry.host}/oci/app:1\r\n`,
  );
  const crlf = await runCli(['pull', '-q', '-o', join(dir, 'crlf'), '-f', list]);
  expect([crlf.code, crlf.stderr]).toEqual([0, '']);
  const crlfManifest = JSON.parse(await readFile(join(dir, 'crlf', 'manifest.json'), 'utf8'));
  expect(crlfManifest.map((e: { RepoTags: string[] }) => e.RepoTags[0])).toEqual([
    `${fixture.registry.host}/one/app:1`,
    `${fixture.registry.host}/oci/app:1`,
  ]);
  await writeFile(list, '# nothing\n');
  const empty = await runCli(['pull', '-o', join(dir, 'none'), '-f', list]);
  expect(empty.code).toBe(2);
  expect(empty.stderr).toBe('frozen: error: no image given\n');
  expect((await runCli(['pull', '-f', join(dir, 'missing.txt')])).code).toBe(2);
  // A malformed reference is named by its file and line, before any request.
  await writeFile(list, `# frozen images\n${fixture.registry.host}/one/app:1\n\n${fixture.registry.host}/One/app:1\n`);
  const malformed = await runCli(['pull', '-o', join(dir, 'malformed'), '-f', list]);
  expect([malformed.code, malformed.stderr]).toEqual([
    2,
    `frozen: error: ${list}:4: invalid reference "${fixture.registry.host}/One/app:1": repository name must be lowercase\n`,
  ]);
  expect(existsSync(join(dir, 'malformed'))).toBe(false);
});

describe('a layer at two layer IDs', () => {
  /** Inode of each layer file of `img` in `output`, checking its bytes on the way. */
  async function layerInodes(output: string, img: BuiltImage): Promise<number[]> {
    const ids = layerIds(img.layers.map((l) => l.digest));
    return Promise.all(
      ids.map(async (id, i) => {
        expect(await readFile(join(output, id, 'layer.tar'))).toEqual(img.layers[i]!.bytes);
        return (await stat(join(output, id, 'layer.tar'))).ino;
      }),
    );
  }

  // `tar -c` stores a second name of an inode as a hard-link entry without bytes, which skopeo and podman read as
  // an empty layer: each layer file of a directory must be an inode of its own.
  /** dup/twice:1 holds the empty layer at two layer IDs; dup/alone:1 holds it on no parent, at a third. */
  const pushDupImages = async () => {
    const [a, empty, b] = [
      await layer([{ type: 'file', name: 'a', content: 'a\n' }]),
      await layer([]),
      await layer([{ type: 'file', name: 'b', content: 'b\n' }]),
    ];
    const twice = image({ layers: [a, empty, empty, b] });
    const alone = image({ layers: [empty] });
    await pushImage({ url: fixture.registry.url }, 'dup/twice', twice, '1');
    await pushImage({ url: fixture.registry.url }, 'dup/alone', alone, '1');
    return { empty, twice, alone };
  };
  let images: ReturnType<typeof pushDupImages> | undefined;
  const dupImages = () => (images ??= pushDupImages());

  test('is linked from the cache once and copied for the others, so `tar -c` of the directory loads with skopeo', async () => {
    const { empty, twice, alone } = await dupImages();
    const dir = await tempDir();
    const [output, cache] = [join(dir, 'out'), join(dir, 'cache')];
    const pullInto = async (ref: string) => {
      const result = await runCli(['pull', '-q', '--cache', cache, '-o', output, `${fixture.registry.host}/${ref}`]);
      expect([result.code, result.stderr]).toEqual([0, '']);
    };
    const cachedInode = async (digest: string) => (await stat(join(cache, 'blobs', 'sha256', hex(digest)))).ino;

    await pullInto('dup/twice:1');
    const inodes = await layerInodes(output, twice);
    expect(new Set(inodes).size).toBe(4);
    expect(inodes[1]).toBe(await cachedInode(empty.digest)); // the first is the link, the second a copy
    const loaded = await loadWithSkopeo(output);
    expect(loaded).toEqual({ imageId: twice.config.digest, diffIds: twice.layers.map((l) => l.diffId) });

    // A later run adding the blob at a third layer ID copies it too, and both images still load.
    await pullInto('dup/alone:1');
    const [aloneInode] = await layerInodes(output, alone);
    expect([...inodes, await cachedInode(empty.digest)]).not.toContain(aloneInode);
    expect((await loadWithSkopeo(output, 0)).imageId).toBe(twice.config.digest);
    expect((await loadWithSkopeo(output, 1)).imageId).toBe(alone.config.digest);

    // A directory where two layer files are one inode (as frozen left them before) is mended by a re-pull.
    const [first, second] = layerIds(twice.layers.map((l) => l.digest))
      .slice(1, 3)
      .map((id) => join(output, id, 'layer.tar'));
    await rm(second!);
    await link(first!, second!);
    await pullInto('dup/twice:1');
    expect(new Set(await layerInodes(output, twice)).size).toBe(4);
    expect((await loadWithSkopeo(output, 0)).imageId).toBe(twice.config.digest);
  });

  test('--format tar and oci hold such an image as readers expect: skopeo loads the tar, frozen verify passes both', async () => {
    const dir = await tempDir();
    await dupImages();
    const ref = `${fixture.registry.host}/dup/twice:1`;
    for (const [format, out] of [
      ['tar', join(dir, 'twice.tar')],
      ['oci', join(dir, 'layout')],
    ]) {
      const result = await runCli(['pull', '-q', '--format', format!, '-o', out!, ref]);
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect((await runCli(['verify', out!])).stdout).toBe(`${out}: ok, 1 image, 4 layers verified\n`);
    }
    const { execFile } = await import('node:child_process');
    const copied = join(dir, 'copied');
    await new Promise((resolve, reject) =>
      execFile('skopeo', ['copy', '--quiet', `docker-archive:${join(dir, 'twice.tar')}`, `dir:${copied}`], (error) =>
        error ? reject(error) : resolve(undefined),
      ),
    );
    expect(JSON.parse(await readFile(join(copied, 'manifest.json'), 'utf8')).layers).toHaveLength(4);
  });

  test('two blobs of one content (gzip and plain tar) are one file once decompressed: with --decompress, a copy too', async () => {
    const entries = [{ type: 'file' as const, name: 'same', content: 'same\n' }];
    const [gzipped, plain] = [await layer(entries, 'docker-gzip'), await layer(entries, 'docker-tar')];
    expect(gzipped.diffId).toBe(plain.digest);
    const img = image({ layers: [gzipped, plain] });
    await pushImage({ url: fixture.registry.url }, 'dup/decompressed', img, '1');
    const output = await tempDir();
    const result = await runCli([
      'pull',
      '-q',
      '--decompress',
      '-o',
      output,
      `${fixture.registry.host}/dup/decompressed:1`,
    ]);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const files = layerIds(img.layers.map((l) => l.digest)).map((id) => join(output, id, 'layer.tar'));
    for (const file of files) expect(await readFile(file)).toEqual(plain.bytes);
    const [first, second] = await Promise.all(files.map(async (file) => (await stat(file)).ino));
    expect(first).not.toBe(second);
    expect(await loadWithSkopeo(output)).toEqual({ imageId: img.config.digest, diffIds: [plain.digest, plain.digest] });
  });
});

describe('many layers', () => {
  test('an image of 120 layers pulls and loads with 64 open files allowed (macOS allows 256), --decompress too: layers are placed and decompressed a few at a time', async () => {
    const layers = [];
    for (let i = 0; i < 120; i++)
      layers.push(await layer([{ type: 'file', name: `etc/layer-${i}`, content: `${i}\n` }]));
    const tall = image({ layers });
    await pushImage({ url: fixture.registry.url }, 'tall/app', tall, '1');
    for (const extra of [[], ['--decompress']]) {
      const output = join(await tempDir(), 'out');
      const result = await runCli(['pull', '-q', ...extra, '-o', output, `${fixture.registry.host}/tall/app:1`], {
        openFiles: 64,
      });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect((await loadWithSkopeo(output)).imageId).toBe(tall.config.digest);
    }
  });
});

describe('multi-platform indexes', () => {
  test.each([
    ['linux/arm64', 'arm64'],
    ['linux/arm/v7', 'armv7'],
    ['linux/amd64', 'amd64'],
  ] as const)('--platform %s', async (platform, key) => {
    const output = await tempDir();
    const result = await runCli(['pull', '-o', output, '--platform', platform, `${fixture.registry.host}/multi/app:1`]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`(${platform})`);
    await expectScriptLayout(output, fixture.images.platforms[key]);
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.platforms[key].config.digest);
  });

  test('TARGETPLATFORM / TARGETARCH pick the platform in Dockerfile builds; an index without mediaType works', async () => {
    const viaTargetPlatform = await tempDir();
    const r1 = await runCli(['pull', '-o', viaTargetPlatform, `${fixture.registry.host}/bare/app:1`], {
      env: { TARGETPLATFORM: 'linux/arm/v7' },
    });
    expect(r1.code).toBe(0);
    await expectScriptLayout(viaTargetPlatform, fixture.images.platforms.armv7);
    expect((await loadWithSkopeo(viaTargetPlatform)).imageId).toBe(fixture.images.platforms.armv7.config.digest);
    const viaTargetArch = await tempDir();
    const r2 = await runCli(['pull', '-o', viaTargetArch, `${fixture.registry.host}/multi/app:1`], {
      env: { TARGETARCH: 'arm64', TARGETPLATFORM: '' },
    });
    expect(r2.code).toBe(0);
    await expectScriptLayout(viaTargetArch, fixture.images.platforms.arm64);
    expect((await loadWithSkopeo(viaTargetArch)).imageId).toBe(fixture.images.platforms.arm64.config.digest);
  });

  test('a single-platform image for another platform is pulled as it is, with a warning in every mode', async () => {
    const ref = `${fixture.registry.host}/one/app:1`; // linux/amd64, not an index
    const warning = `warning: ${ref} is a linux/amd64 image, not linux/arm64; it has no other platforms, so it is pulled as it is\n`;
    const quiet = await runCli(['pull', '-q', '-o', await tempDir(), '--platform', 'linux/arm64', ref]);
    expect([quiet.code, quiet.stderr]).toEqual([0, warning]);
    const plain = await runCli(['pull', '-o', await tempDir(), '--platform', 'linux/arm64', ref]);
    expect(plain.stderr).toContain(warning);
    const json = await runCli(['pull', '--json', '-o', await tempDir(), '--platform', 'linux/arm64', ref]);
    const events = parseEvents(json.stdout);
    expect(events.filter((e) => e.type === 'platform-mismatch')).toEqual([
      { type: 'platform-mismatch', image: ref, platform: 'linux/amd64', wanted: 'linux/arm64' },
    ]);
    // The arm64 image by digest, wanted as arm64 (its variant v8 normalizes away): no warning.
    const arm64 = `${fixture.registry.host}/multi/app@${fixture.images.platforms.arm64.manifest.digest}`;
    const matching = await runCli(['pull', '-q', '-o', await tempDir(), '--platform', 'linux/arm64', arm64]);
    expect([matching.code, matching.stderr]).toEqual([0, '']);
  });

  // containerd's Only(linux/arm64) also runs arm/v8 down to arm/v5 (containerd/platforms compare.go), and docker
  // pulls an arm/v7-only image on an arm64 host: so does frozen, and it says which it picked.
  test('an index without the platform: the best one it also runs is picked and told, by pull, lock and inspect alike', async () => {
    const target = { url: fixture.registry.url };
    const armv7 = fixture.images.platforms.armv7;
    await pushImage(target, 'armonly/app', armv7);
    await pushManifest(target, 'armonly/app', '1', index([armv7]));
    const ref = `${fixture.registry.host}/armonly/app:1`;
    const line = `picked linux/arm/v7 for linux/arm64: ${ref} has no linux/arm64 entry\n`;
    const output = await tempDir();
    const quiet = await runCli(['pull', '-q', '-o', output, '--platform', 'linux/arm64', ref]);
    expect([quiet.code, quiet.stderr]).toEqual([0, line]);
    expect((await loadWithSkopeo(output)).imageId).toBe(armv7.config.digest);
    const json = await runCli(['pull', '--json', '-o', await tempDir(), '--platform', 'linux/arm64', ref]);
    const events = parseEvents(json.stdout);
    expect(events.filter((e) => e.type === 'platform-fallback')).toEqual([
      { type: 'platform-fallback', image: ref, platform: 'linux/arm/v7', wanted: 'linux/arm64' },
    ]);
    expect(events.find((e) => e.type === 'resolved')).toMatchObject({ platform: 'linux/arm/v7' });
    const lockFile = join(await tempDir(), 'frozen.lock.json');
    const locked = await runCli(['lock', '-o', lockFile, '--no-cache', '--platform', 'linux/arm64', ref]);
    expect([locked.code, locked.stderr]).toEqual([0, line]);
    expect(JSON.parse(await readFile(lockFile, 'utf8')).images[0]).toMatchObject({
      platform: 'linux/arm/v7',
      manifestDigest: armv7.manifest.digest,
    });
    const inspected = await runCli(['inspect', '--no-cache', '--platform', 'linux/arm64', ref]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain('  platform  linux/arm/v7 (the image has no linux/arm64)\n');
    // An index with the platform itself: no fallback, whatever else it offers.
    const exact = await runCli([
      'pull',
      '-q',
      '-o',
      await tempDir(),
      '--platform',
      'linux/arm64',
      `${fixture.registry.host}/multi/app:1`,
    ]);
    expect([exact.code, exact.stderr]).toEqual([0, '']);
  });

  test('no matching platform: exit 1, the offered platforms listed, nothing written', async () => {
    const parent = await tempDir();
    const output = join(parent, 'out');
    const result = await runCli([
      'pull',
      '-o',
      output,
      '--platform',
      'linux/s390x',
      `${fixture.registry.host}/multi/app:1`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `frozen: error: ${fixture.registry.host}/multi/app:1: no manifest for platform linux/s390x; the index offers linux/amd64, linux/arm64, linux/arm/v7\n`,
    );
    expect(existsSync(output)).toBe(false);
  });
});

describe('digests and image IDs', () => {
  test('name:tag@digest pulls by digest and keeps the tag for RepoTags', async () => {
    const output = await tempDir();
    const ref = `${fixture.registry.host}/multi/app:pinned@${fixture.images.index.digest}`;
    await pullCli(output, '--platform', 'linux/arm64', ref);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest[0].RepoTags).toEqual([`${fixture.registry.host}/multi/app:pinned`]);
    expect(manifest[0].Config).toBe(`${hex(fixture.images.platforms.arm64.config.digest)}.json`);
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.platforms.arm64.config.digest);
  });

  test('a digest-only pull is loadable and untagged', async () => {
    const output = await tempDir();
    await pullCli(output, `${fixture.registry.host}/one/app@${fixture.images.one.manifest.digest}`);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest[0].RepoTags).toEqual([]);
    expect(await readFile(join(output, 'repositories'), 'utf8')).toBe('{\n}\n');
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.one.config.digest);
  });

  test('name:tag@<image ID> succeeds when the tag resolves to that image, and fails otherwise', async () => {
    const output = await tempDir();
    await pullCli(output, `${fixture.registry.host}/team/app:1.2@${hex(fixture.images.multi.config.digest)}`);
    expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.multi.config.digest);
    const before = await snapshot(output);
    const wrong = await runCli([
      'pull',
      '-o',
      output,
      `${fixture.registry.host}/team/app:1.2@${hex(fixture.images.one.config.digest)}`,
    ]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /^frozen: error: .*team\/app:1\.2@[0-9a-f]{64}: image ID mismatch: wanted [0-9a-f]{64}, the tag resolves to image sha256:/,
    );
    expect(await snapshot(output)).toEqual(before);
  });
});

describe('merging into one directory', () => {
  test('several images in one run, then another run: every entry stays and loads', async () => {
    const output = await tempDir();
    await pullCli(output, `${fixture.registry.host}/one/app:1`, `${fixture.registry.host}/team/app:1.2`);
    await pullCli(output, `${fixture.registry.host}/oci/app:1`);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest.map((e: { RepoTags: string[] }) => e.RepoTags[0])).toEqual([
      `${fixture.registry.host}/one/app:1`,
      `${fixture.registry.host}/team/app:1.2`,
      `${fixture.registry.host}/oci/app:1`,
    ]);
    // team/app and oci/app share all three layers (same gzip bytes): one set of layer dirs serves both.
    const expected = [fixture.images.one, fixture.images.multi, fixture.images.oci];
    expect(fixture.images.multi.layers.map((l) => l.digest)).toEqual(fixture.images.oci.layers.map((l) => l.digest));
    for (const [i, img] of expected.entries()) {
      await expectScriptLayout(output, img, img === fixture.images.multi);
      expect((await loadWithSkopeo(output, i)).imageId).toBe(img.config.digest);
    }
    const top = (img: BuiltImage) => layerIds(img.layers.map((l) => l.digest)).at(-1)!;
    expect(await readFile(join(output, 'repositories'), 'utf8')).toBe(
      printRepositories(
        new Map([
          [`${fixture.registry.host}/one/app`, new Map([['1', top(fixture.images.one)]])],
          [`${fixture.registry.host}/team/app`, new Map([['1.2', top(fixture.images.multi)]])],
          [`${fixture.registry.host}/oci/app`, new Map([['1', top(fixture.images.oci)]])],
        ]),
      ),
    );
  });

  test('a re-pulled tag that moved moves in manifest.json and repositories', async () => {
    const output = await tempDir();
    const target = { url: fixture.registry.url };
    const first = await pushReplacement(target, 'moving/app', 'v');
    await pullCli(output, `${fixture.registry.host}/moving/app:v`, `${fixture.registry.host}/one/app:1`);
    const second = await pushReplacement(target, 'moving/app', 'v2');
    await pushReplacement(target, 'moving/app', 'v'); // same content as `first`: nothing moves
    await runCli(['pull', '-o', output, `${fixture.registry.host}/moving/app:v`]);
    // now really move it: retag v to the second image
    await (await import('../support/images.js')).pushManifest(target, 'moving/app', 'v', second.manifest);
    await pullCli(output, `${fixture.registry.host}/moving/app:v`);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest.map((e: { Config: string; RepoTags: string[] }) => [e.Config, e.RepoTags])).toEqual([
      [`${hex(fixture.images.one.config.digest)}.json`, [`${fixture.registry.host}/one/app:1`]],
      [`${hex(second.config.digest)}.json`, [`${fixture.registry.host}/moving/app:v`]],
    ]);
    expect(manifest.some((e: { Config: string }) => e.Config.startsWith(hex(first.config.digest)))).toBe(false);
    const repositories = await readFile(join(output, 'repositories'), 'utf8');
    expect(repositories).toContain(
      `"${fixture.registry.host}/moving/app": { "v": "${layerIds(second.layers.map((l) => l.digest))[0]}" }`,
    );
    expect((await loadWithSkopeo(output, 1)).imageId).toBe(second.config.digest);
  });

  test('four processes pulling different images into one directory at once: every entry survives', async () => {
    const output = await tempDir();
    const cache = await tempDir();
    const refs = ['one/app:1', 'team/app:1.2', 'ocitar/app:1', 'multi/app:1'].map(
      (r) => `${fixture.registry.host}/${r}`,
    );
    // A warm cache brings the four runs to their commit at about the same moment.
    await pullCli(await tempDir(), '--cache', cache, '--platform', 'linux/amd64', ...refs);
    const results = await Promise.all(
      refs.map((ref) => runCli(['pull', '-q', '-o', output, '--cache', cache, '--platform', 'linux/amd64', ref])),
    );
    expect(results.map((r) => [r.code, r.stderr])).toEqual(refs.map(() => [0, '']));
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest.map((e: { RepoTags: string[] }) => e.RepoTags[0]).sort()).toEqual([...refs].sort());
    const repositories = await readFile(join(output, 'repositories'), 'utf8');
    for (const ref of refs) expect(repositories).toContain(`"${ref.slice(0, ref.lastIndexOf(':'))}"`);
    expect((await readdir(output)).filter((name) => name.startsWith('.'))).toEqual([]);
    for (const [i, img] of [
      fixture.images.one,
      fixture.images.multi,
      fixture.images.ociTar,
      fixture.images.platforms.amd64,
    ].entries()) {
      const position = manifest.findIndex((e: { RepoTags: string[] }) => e.RepoTags[0] === refs[i]);
      expect((await loadWithSkopeo(output, position)).imageId).toBe(img.config.digest);
    }
  });

  test('the printed load command works when pasted, whatever the directory is called', async () => {
    const output = join(await tempDir(), `it's "here" $HOME`);
    const result = await pullCli(output, `${fixture.registry.host}/one/app:1`);
    const command = /load with: (.*)\n$/.exec(result.stdout)![1]!;
    expect(command).toMatch(/ \| docker load$/);
    // The same command, with tar listing what docker load would read.
    const { execFile } = await import('node:child_process');
    const listing = await new Promise<string>((resolve, reject) =>
      execFile('sh', ['-c', command.replace(/docker load$/, 'tar -tf -')], (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      ),
    );
    expect(listing.split('\n')).toContain('./manifest.json');
  });

  test('references naming the same image are pulled and listed once', async () => {
    const output = await tempDir();
    const one = `${fixture.registry.host}/one/app:1`;
    const result = await pullCli(output, one, `${fixture.registry.host}/team/app:1.2`, one);
    expect(result.stdout.split('\n').filter((line) => line.startsWith(one))).toHaveLength(1);
    expect(result.stdout).toContain(`Wrote 2 images to ${output}`);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest.map((e: { RepoTags: string[] }) => e.RepoTags)).toEqual([
      [one],
      [`${fixture.registry.host}/team/app:1.2`],
    ]);
  });

  test('a second pull of the same image downloads nothing and writes identical bytes', async () => {
    const output = await tempDir();
    await pullCli(output, `${fixture.registry.host}/team/app:1.2`);
    const before = await snapshot(output);
    const again = await pullCli(output, `${fixture.registry.host}/team/app:1.2`);
    // Each run has a cache of its own: the config and the layers come from the directory, checked by hash.
    expect(again.stdout).toMatch(/layers {4}3, [\d.]+ [KM]?B; config [\d.]+ [KM]?B \(0 B downloaded\)/);
    expect(await snapshot(output)).toEqual(before);
  });
});

describe('the API', () => {
  test('pull() returns the summary and reports events in order', async () => {
    const output = await tempDir();
    const events: PullEvent[] = [];
    const result = await pull({
      images: [`${fixture.registry.host}/team/app:1.2`],
      output,
      cache: await tempDir(),
      platform: 'linux/amd64',
      onEvent: (event) => events.push(event),
    });
    expect(result.images[0]).toMatchObject({
      repoTag: `${fixture.registry.host}/team/app:1.2`,
      manifestDigest: fixture.images.multi.manifest.digest,
      imageId: fixture.images.multi.config.digest,
      layers: 3,
      bytes: fixture.images.multi.config.size + fixture.images.multi.layers.reduce((s, l) => s + l.size, 0),
    });
    expect(events[0]).toMatchObject({ type: 'resolved', imageId: fixture.images.multi.config.digest, layers: 3 });
    const done = events.filter((e) => e.type === 'blob-done');
    expect(done).toHaveLength(4);
    expect(done.every((e) => e.type === 'blob-done' && e.source === 'registry')).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'image-done' });
  });

  test('an abort while another run is writing the directory stops the wait, and the directory is left alone', async () => {
    const output = await tempDir();
    // Another live run on this host holds the directory's commit lock (this test's own process stands in for it).
    const lock = join(output, '.frozen-commit.lock');
    await writeFile(lock, JSON.stringify({ pid: process.pid, host: hostname(), token: 'the other run' }));
    const controller = new AbortController();
    let blobsDone = 0;
    const promise = pull({
      images: [`${fixture.registry.host}/one/app:1`],
      output,
      cache: await tempDir(),
      signal: controller.signal,
      onEvent: (event) => {
        if (event.type === 'blob-done' && ++blobsDone === 2) setTimeout(() => controller.abort(), 300); // config and layer in: now waiting
      },
    });
    await expect(promise).rejects.toMatchObject({ kind: 'aborted' });
    expect(await readdir(output)).toEqual(['.frozen-commit.lock']);
    expect(JSON.parse(await readFile(lock, 'utf8')).token).toBe('the other run');
  });

  test('an abort leaves nothing behind, and is an aborted error whatever its reason (AbortSignal.timeout gives a TimeoutError)', async () => {
    const reasons = [
      undefined,
      new Error('the caller gave up'),
      new DOMException('timed out', 'TimeoutError'),
      'a string',
    ];
    const said = [
      'aborted: This operation was aborted',
      'aborted: the caller gave up',
      'aborted: timed out',
      'aborted: a string',
    ];
    for (const [i, reason] of reasons.entries()) {
      const parent = await tempDir();
      const output = join(parent, 'out');
      const controller = new AbortController();
      const promise = pull({
        images: [`${fixture.registry.host}/team/app:1.2`, `${fixture.registry.host}/oci/app:1`],
        output,
        cache: await tempDir(),
        platform: 'linux/amd64',
        signal: controller.signal,
        onEvent: (event) => event.type === 'blob-start' && controller.abort(reason),
      });
      await expect(promise).rejects.toMatchObject({ kind: 'aborted', message: said[i] });
      expect(existsSync(output)).toBe(false);
    }
    const stopped = lock({
      images: [`${fixture.registry.host}/team/app:1.2`],
      cache: false,
      signal: AbortSignal.abort(new Error('stop')),
    });
    await expect(stopped).rejects.toMatchObject({ kind: 'aborted' });
  });

  test('an onEvent that throws stops the pull, which rejects with that very error: no retry, nothing written', async () => {
    const parent = await tempDir();
    const output = join(parent, 'out');
    const bug = new Error('a bug in the caller');
    const seen: string[] = [];
    const started = Date.now();
    const promise = pull({
      images: [`${fixture.registry.host}/team/app:1.2`],
      output,
      cache: await tempDir(),
      platform: 'linux/amd64',
      onEvent: (event) => {
        seen.push(event.type);
        if (event.type === 'blob-progress') throw bug;
      },
    });
    await expect(promise).rejects.toBe(bug);
    expect(Date.now() - started).toBeLessThan(3_000); // retrying with back-off would take over 6 s
    expect(seen.filter((type) => type === 'blob-progress')).toHaveLength(1); // no event after the one that threw
    expect(seen).not.toContain('blob-retry');
    expect(existsSync(output)).toBe(false);
  });

  // The image list is references ('reference'); every other option a caller got wrong is a 'usage' mistake.
  test.each([
    [{ images: 'a/b:1' }, 'reference', /^images must be an array of image references$/],
    [{ images: [42] }, 'reference', /^invalid reference: 42 is not a string$/],
    [{ images: ['a/b:1'], format: 'zip' }, 'usage', /^format must be dir, tar or oci, not "zip"$/],
    [{ images: ['a/b:1'], protocol: 'v3' }, 'usage', /^protocol must be v1, v2 or auto, not "v3"$/],
    [{ images: ['a/b:1'], concurrency: 0 }, 'usage', /^concurrency must be a positive integer, not 0$/],
    [
      { images: ['a/b:1'], perHostConcurrency: 2.5 },
      'usage',
      /^perHostConcurrency must be a positive integer, not 2.5$/,
    ],
    [{ images: ['a/b:1'], output: 42 }, 'usage', /^output must be a path or a writable stream$/],
    [{ images: ['a/b:1'], onEvent: 'log' }, 'usage', /^onEvent must be a function$/],
  ])('options a JavaScript caller got wrong are refused before anything starts: %j', async (options, kind, message) => {
    const parent = await tempDir();
    const output = join(parent, 'out');
    const promise = pull({ output, cache: join(parent, 'cache'), ...options } as unknown as Parameters<typeof pull>[0]);
    await expect(promise).rejects.toMatchObject({ kind, message: expect.stringMatching(message) });
    expect(await readdir(parent)).toEqual([]);
  });
});
