import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseEvents, runCli } from '../support/cli.js';
import { snapshot } from '../support/fixture.js';
import { sha256 } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startV1Registry, v1Image, type V1Image, type V1Registry } from '../support/v1-registry.js';

const tempDir = (name = 'out') => mkdtemp(join(tmpdir(), `frozen-v1-${name}-`));

let registry: V1Registry;
let base: V1Image;
let middle: V1Image;
let top: V1Image;
let other: V1Image;
let plain: V1Image;

beforeAll(async () => {
  registry = await startV1Registry();
  base = await v1Image([
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/os-release', content: 'ID=old\n' },
  ]);
  middle = await v1Image([{ type: 'file', name: 'middle', content: randomBytes(300_000) }], {
    parent: base,
    cmd: 'echo middle > /middle',
  });
  top = await v1Image([{ type: 'file', name: 'top', content: 'top\n' }], { parent: middle, cmd: 'echo top > /top' });
  other = await v1Image([{ type: 'file', name: 'other', content: 'other\n' }], { parent: base });
  plain = await v1Image([{ type: 'file', name: 'plain', content: 'not compressed\n' }], { parent: base, gzip: false });
  for (const image of [base, middle, top, other, plain]) registry.add(image);
  registry.tag('team/app', '1', top.id);
  registry.tag('team/other', '2', other.id);
  registry.tag('plain', 'latest', plain.id);
});
afterAll(async () => registry?.stop());

describe('v1 registries', () => {
  test('auto-detected: two images sharing a layer, written as v1 directories plus a manifest.json that loads', async () => {
    const output = await tempDir();
    const before = registry.requests.length;
    const result = await runCli([
      'pull',
      '--json',
      '-o',
      output,
      `${registry.host}/team/app:1`,
      `${registry.host}/team/other:2`,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const seen = registry.requests.slice(before);

    // The seed's directories: one per v1 image ID, with VERSION, the registry's json byte for byte, and the layer.
    for (const image of [base, middle, top, other]) {
      expect(await readFile(join(output, image.id, 'VERSION'), 'utf8')).toBe('1.0\n');
      expect((await readFile(join(output, image.id, 'json'))).equals(image.json)).toBe(true);
      expect((await readFile(join(output, image.id, 'layer.tar'))).equals(image.layer)).toBe(true);
    }
    expect(JSON.parse(await readFile(join(output, 'repositories'), 'utf8'))).toEqual({
      [`${registry.host}/team/app`]: { '1': top.id },
      [`${registry.host}/team/other`]: { '2': other.id },
    });

    // What Docker 29 and the containerd store need: manifest.json and a config whose diff IDs match the layers.
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest.map((entry: { RepoTags: string[] }) => entry.RepoTags)).toEqual([
      [`${registry.host}/team/app:1`],
      [`${registry.host}/team/other:2`],
    ]);
    expect(manifest[0].Layers).toEqual([base, middle, top].map((image) => `${image.id}/layer.tar`));
    const config = JSON.parse(await readFile(join(output, manifest[0].Config), 'utf8'));
    expect(config.rootfs.diff_ids).toEqual([base.diffId, middle.diffId, top.diffId]);
    expect(config).toMatchObject({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] } });
    expect(config.history.map((h: { created_by: string }) => h.created_by)).toEqual([
      '/bin/sh -c #(nop) ADD file in /',
      '/bin/sh -c echo middle > /middle',
      '/bin/sh -c echo top > /top',
    ]);
    for (const [i, layers] of [
      [0, [base, middle, top]],
      [1, [base, other]],
    ] as const) {
      const loaded = await loadWithSkopeo(output, i);
      expect(loaded.diffIds).toEqual(layers.map((image) => image.diffId));
      expect(loaded.imageId).toBe(`sha256:${manifest[i].Config.replace('.json', '')}`);
    }
    expect((await runCli(['verify', output])).code).toBe(0);

    // The protocol as the seed speaks it: a token from the index, then Token authorization for the registry.
    const indexCalls = seen.filter((r) => r.path.endsWith('/images'));
    expect(indexCalls.map((r) => [r.path, r.xDockerToken])).toEqual(
      expect.arrayContaining([
        ['/v1/repositories/team/app/images', 'true'],
        ['/v1/repositories/team/other/images', 'true'],
      ]),
    );
    const registryCalls = seen.filter((r) => /^\/v1\/(images|repositories\/.+\/tags)\//.test(r.path));
    expect(registryCalls.length).toBeGreaterThan(0);
    expect(registryCalls.every((r) => r.authorization?.startsWith('Token signature='))).toBe(true);
    // The shared base layer was downloaded once.
    expect(seen.filter((r) => r.method === 'GET' && r.path === `/v1/images/${base.id}/layer`)).toHaveLength(1);

    const done = parseEvents(result.stdout).flatMap((e) => (e.type === 'image-done' ? [e.result] : []));
    expect(done[0]).toMatchObject({
      protocol: 'v1',
      manifestDigest: `v1:${top.id}`,
      imageId: `sha256:${manifest[0].Config.replace('.json', '')}`,
      layers: 3,
    });
  });

  test('name:tag@<v1 image ID> pulls that image, named by the tag', async () => {
    const output = await tempDir();
    const result = await runCli(['pull', '-q', '-o', output, `${registry.host}/team/app:1@${middle.id}`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(manifest).toEqual([
      expect.objectContaining({
        RepoTags: [`${registry.host}/team/app:1`],
        Layers: [`${base.id}/layer.tar`, `${middle.id}/layer.tar`],
      }),
    ]);
    expect(JSON.parse(await readFile(join(output, 'repositories'), 'utf8'))).toEqual({
      [`${registry.host}/team/app`]: { '1': middle.id },
    });
    expect((await readdir(output)).sort()).toEqual(
      [base.id, middle.id, 'manifest.json', 'repositories', manifest[0].Config].sort(),
    );
    expect((await loadWithSkopeo(output)).diffIds).toEqual([base.diffId, middle.diffId]);
  });

  test('--protocol v1 asks nothing of /v2/; --protocol v2 fails clearly on a v1 registry', async () => {
    const before = registry.requests.length;
    const output = await tempDir();
    const v1 = await runCli(['pull', '-q', '--protocol', 'v1', '-o', output, `${registry.host}/plain`]);
    expect(v1.stderr).toBe('');
    expect(v1.code).toBe(0);
    expect(registry.requests.slice(before).some((r) => r.path.startsWith('/v2/'))).toBe(false);
    // A plain tar layer is its own diff ID, and its manifest.json lists it as it is.
    const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'));
    expect(sha256(await readFile(join(output, plain.id, 'layer.tar')))).toBe(plain.diffId);
    expect((await loadWithSkopeo(output)).diffIds).toEqual([base.diffId, plain.diffId]);
    expect(manifest[0].RepoTags).toEqual([`${registry.host}/plain:latest`]);

    const v2Output = join(await tempDir(), 'never');
    const v2 = await runCli(['pull', '--protocol', 'v2', '-o', v2Output, `${registry.host}/plain`]);
    expect(v2.code).toBe(1);
    expect(v2.stderr).toMatch(/not found/);
    await expect(stat(v2Output)).rejects.toThrow();
  });

  test('a layer cut mid-body resumes with Range, and a warm cache serves a re-pull with no layer download', async () => {
    const cache = await tempDir('cache');
    registry.behaviour.resets = { count: 1, afterBytes: 100_000 };
    const first = await tempDir();
    const result = await runCli(['pull', '-q', '-o', first, `${registry.host}/team/app:1`], {
      env: { FROZEN_CACHE: cache },
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const middleGets = registry.layerRequests(middle.id).slice(-2);
    expect(middleGets.map((r) => r.range)).toEqual([undefined, 'bytes=100000-']);
    expect(middleGets.reduce((sum, r) => sum + r.bytes, 0)).toBeLessThanOrEqual(middle.layer.length * 1.1);
    expect((await readFile(join(first, middle.id, 'layer.tar'))).equals(middle.layer)).toBe(true);

    const before = registry.requests.length;
    const second = await tempDir();
    const again = await runCli(['pull', '-q', '-o', second, `${registry.host}/team/app:1`], {
      env: { FROZEN_CACHE: cache },
    });
    expect(again.code).toBe(0);
    expect(registry.requests.slice(before).filter((r) => r.path.endsWith('/layer'))).toEqual([]);
    expect(await snapshot(second)).toEqual(await snapshot(first));

    // The cache keeps a record per v1 layer beside the blobs; pruning the blobs drops the records with them.
    const records = join(cache, 'v1', registry.host.replace(':', '_'));
    expect((await readdir(records)).filter((name) => name.endsWith('.json')).sort()).toEqual(
      [base, middle, top].map((i) => `${i.id}.json`).sort(),
    );
    expect((await runCli(['cache', 'prune'], { env: { FROZEN_CACHE: cache } })).code).toBe(0);
    expect(await readdir(records)).toEqual([]);
  });

  test('inspect and lock say the registry is v1 instead of "not found"; --lock with --protocol v1 is refused', async () => {
    for (const command of ['inspect', 'lock']) {
      const result = await runCli([command, `${registry.host}/team/app:1`], { cwd: await tempDir() });
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/is a v1 registry/);
    }
    const lockDir = await tempDir('lock');
    await writeFile(join(lockDir, 'frozen.lock.json'), JSON.stringify({ version: 1, images: [] }));
    const refused = await runCli(['pull', '--protocol', 'v1', '--lock', 'frozen.lock.json'], { cwd: lockDir });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--protocol v1 does not apply/);
  });

  test('--decompress and --format oci apply to v1 images too', async () => {
    const plainDir = await tempDir();
    expect((await runCli(['pull', '-q', '--decompress', '-o', plainDir, `${registry.host}/team/other:2`])).code).toBe(
      0,
    );
    for (const image of [base, other])
      expect(sha256(await readFile(join(plainDir, image.id, 'layer.tar')))).toBe(image.diffId);
    expect((await runCli(['verify', plainDir])).code).toBe(0);

    const layout = join(await tempDir(), 'layout');
    const oci = await runCli(['pull', '-q', '--format', 'oci', '-o', layout, `${registry.host}/team/other:2`]);
    expect(oci.stderr).toBe('');
    expect(oci.code).toBe(0);
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'));
    const manifest = JSON.parse(
      await readFile(join(layout, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'),
    );
    expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual([sha256(base.layer), sha256(other.layer)]);
    expect((await runCli(['verify', layout])).code).toBe(0);
  });

  test('a sha256 digest pin cannot name a v1 image: a usage error', async () => {
    const result = await runCli([
      'pull',
      '--protocol',
      'v1',
      '-o',
      join(await tempDir(), 'never'),
      `${registry.host}/team/app@sha256:${'a'.repeat(64)}`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/is a v1 registry, which has no manifest digests/);
  });

  test('an API call answered 503 twice is retried, and each retry reported', async () => {
    registry.behaviour.apiFailures = 2;
    const result = await runCli(['pull', '--json', '-o', await tempDir(), `${registry.host}/team/other:2`]);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const retries = parseEvents(result.stdout).filter((event) => event.type === 'request-retry');
    const reason = expect.stringMatching(/^GET \/v1\/images\/[a-f0-9]{64}\/(ancestry|json): registry answered 503/);
    expect(retries).toEqual(
      [1, 2].map((attempt) => ({
        type: 'request-retry',
        image: `${registry.host}/team/other:2`,
        attempt,
        delayMs: expect.any(Number),
        reason,
      })),
    );
  });

  test('a registry with no X-Docker-Size: layers are sized by HEAD', async () => {
    registry.behaviour.omitSize = true;
    try {
      const output = await tempDir();
      const result = await runCli(['pull', '-q', '-o', output, `${registry.host}/team/other:2`]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(registry.requests.some((r) => r.method === 'HEAD' && r.path === `/v1/images/${other.id}/layer`)).toBe(
        true,
      );
    } finally {
      registry.behaviour.omitSize = false;
    }
  });

  // A minimal v1 registry serves what the seed script fetches (token, tags, ancestry, json, layer) and nothing
  // else: no X-Docker-Size, and HEAD answered 501. The size was only ever for progress.
  test('a registry with no X-Docker-Size whose layer HEAD answers 501: layers are fetched anyway, each HEAD asked once', async () => {
    registry.behaviour.omitSize = true;
    registry.behaviour.layerHeadStatus = 501;
    try {
      const output = await tempDir();
      const before = registry.requests.length;
      const result = await runCli(['pull', '-q', '-o', output, `${registry.host}/team/other:2`]);
      expect([result.code, result.stderr]).toEqual([0, '']);
      const heads = registry.requests
        .slice(before)
        .filter((r) => r.method === 'HEAD' && r.path === `/v1/images/${other.id}/layer`);
      expect(heads).toHaveLength(1); // 501 is final: no retry
      const layer = await readFile(join(output, other.id, 'layer.tar'));
      expect(layer.equals(other.layer)).toBe(true);
      const config = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'))[0].Config as string;
      expect(config).toMatch(/^[0-9a-f]{64}\.json$/);
      expect((await loadWithSkopeo(output)).imageId).toBe(`sha256:${config.slice(0, 64)}`);
    } finally {
      registry.behaviour.omitSize = false;
      registry.behaviour.layerHeadStatus = undefined;
    }
  });

  test('no size known and the connection cut: the layer is resumed with Range, and verified as every v1 layer is', async () => {
    registry.behaviour.omitSize = true;
    registry.behaviour.layerHeadStatus = 501;
    registry.behaviour.resets = { count: 1, afterBytes: 10 };
    try {
      const output = await tempDir();
      const before = registry.requests.length;
      const result = await runCli(['pull', '-q', '-o', output, `${registry.host}/team/other:2`]);
      expect([result.code, result.stderr]).toEqual([0, '']);
      // Two layers (other and its base) download at once; the one cut is resumed after its first 10 bytes.
      const gets = registry.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith('/layer'));
      expect(gets.map((r) => r.range ?? 'whole').sort()).toEqual(['bytes=10-', 'whole', 'whole']);
      for (const image of [other, base]) {
        expect((await readFile(join(output, image.id, 'layer.tar'))).equals(image.layer)).toBe(true);
      }
    } finally {
      registry.behaviour.omitSize = false;
      registry.behaviour.layerHeadStatus = undefined;
      registry.behaviour.resets = { count: 0, afterBytes: 0 };
    }
  });

  test('a token the registry stops accepting is replaced once from the index', async () => {
    registry.behaviour.tokenUses = 3;
    try {
      const before = registry.requests.length;
      const result = await runCli(['pull', '-q', '-o', await tempDir(), `${registry.host}/team/app:1`]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const seen = registry.requests.slice(before);
      expect(seen.filter((r) => r.status === 401).length).toBeGreaterThan(0);
      expect(seen.filter((r) => r.path === '/v1/repositories/team/app/images').length).toBeGreaterThan(1);
    } finally {
      registry.behaviour.tokenUses = Infinity;
    }
  });

  test.each([
    [
      'an ancestry that does not start with the image',
      'ancestry',
      () => JSON.stringify([middle.id, base.id]),
      /ancestry of .* starts with/,
    ],
    [
      'an ancestry with a malformed ID',
      'ancestry',
      () => JSON.stringify([top.id, '../../etc']),
      /not a 64-hex image ID/,
    ],
    ['a json naming another image', 'json', () => other.json, /names another image/],
  ] as const)('%s is refused, and nothing is written', async (_name, kind, body, message) => {
    const overrides = kind === 'ancestry' ? registry.behaviour.ancestryOverride : registry.behaviour.jsonOverride;
    overrides.set(top.id, Buffer.from(body()));
    try {
      const output = join(await tempDir(), 'never');
      const result = await runCli(['pull', '-o', output, `${registry.host}/team/app:1`]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      await expect(stat(output)).rejects.toThrow();
    } finally {
      overrides.delete(top.id);
    }
  });
});

describe('v1 index naming other registries', () => {
  let index: V1Registry;
  let data: V1Registry;
  const credentials = { username: 'v1user', password: 'v1-secret' };

  beforeAll(async () => {
    // The index checks Basic credentials and hands out tokens; the registry it names serves the images.
    index = await startV1Registry({ basic: credentials, endpoints: () => [data.host] });
    data = await startV1Registry({ tokensOf: index });
    for (const image of [base, other]) data.add(image);
    data.tag('team/other', '2', other.id);
    index.tag('team/other', '2', other.id);
  });
  afterAll(async () => Promise.all([index?.stop(), data?.stop()]));

  test('images come from X-Docker-Endpoints with the token; the Basic credentials go to the index only', async () => {
    const output = await tempDir();
    const result = await runCli([
      'pull',
      '-q',
      '--protocol',
      'v1',
      '--creds',
      'v1user:v1-secret',
      '-o',
      output,
      `${index.host}/team/other:2`,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(index.requests.map((r) => r.path)).toEqual(['/v1/repositories/team/other/images']);
    expect(index.requests[0]!.authorization).toMatch(/^Basic /);
    expect(data.requests.length).toBeGreaterThan(0);
    expect(data.requests.every((r) => r.authorization?.startsWith('Token '))).toBe(true);
    expect((await loadWithSkopeo(output)).diffIds).toEqual([base.diffId, other.diffId]);
  });

  test('without the credentials the index refuses, with one clear line', async () => {
    const result = await runCli([
      'pull',
      '--protocol',
      'v1',
      '-o',
      join(await tempDir(), 'never'),
      `${index.host}/team/other:2`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/v1 index .*unauthorized/);
  });
});
