import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, onTestFinished, test } from 'vitest';
import type { LockFile } from '../../src/index.js';
import { parseEvents, runCli } from '../support/cli.js';
import { pushFixtures, pushReplacement, snapshot, useFixtureRegistry } from '../support/fixture.js';
import { loadWithSkopeo } from '../support/load.js';
import { startRegistry } from '../support/registry.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-lock-'));

const fixture = useFixtureRegistry();

async function lockFile(dir: string, ...args: string[]): Promise<string> {
  const path = join(dir, 'frozen.lock.json');
  const result = await runCli(['lock', '-o', path, ...args]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return path;
}

describe('lock files', () => {
  test('frozen lock resolves each reference for the platform; pull --lock writes what a direct pull writes', async () => {
    const dir = await tempDir();
    const refs = [`${fixture.registry.host}/multi/app:1`, `${fixture.registry.host}/team/app:1.2`];
    const path = await lockFile(dir, '--platform', 'linux/arm64', ...refs);
    const locked = JSON.parse(await readFile(path, 'utf8')) as LockFile;
    expect(locked.version).toBe(1);
    expect(locked.images[0]).toMatchObject({
      reference: refs[0],
      digest: fixture.images.index.digest,
      manifestDigest: fixture.images.platforms.arm64.manifest.digest,
      platform: 'linux/arm64',
      imageId: fixture.images.platforms.arm64.config.digest,
      config: {
        digest: fixture.images.platforms.arm64.config.digest,
        size: fixture.images.platforms.arm64.config.size,
      },
    });
    expect(locked.images[1]!.layers.map((l) => [l.digest, l.size])).toEqual(
      fixture.images.multi.layers.map((l) => [l.digest, l.size]),
    );

    const viaLock = join(dir, 'via-lock');
    const pulled = await runCli(['pull', '--lock', path, '-o', viaLock]);
    expect(pulled.code).toBe(0);
    const direct = join(dir, 'direct');
    expect((await runCli(['pull', '--platform', 'linux/arm64', '-o', direct, ...refs])).code).toBe(0);
    expect(await snapshot(viaLock)).toEqual(await snapshot(direct));
    expect((await loadWithSkopeo(viaLock, 0)).imageId).toBe(fixture.images.platforms.arm64.config.digest);
  });

  test('every reference that fails says so, one line each in the order given, and no lock file is written', async () => {
    const dir = await tempDir();
    const path = join(dir, 'frozen.lock.json');
    const host = fixture.registry.host;
    const result = await runCli([
      'lock',
      '-o',
      path,
      `${host}/one/app:1`,
      `${host}/one/app:nope`,
      `${host}/team/app:1.2`,
      `${host}/none/such:1`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(new RegExp(`^frozen: error: ${host}/one/app:nope: manifest nope: not found`)),
      expect.stringMatching(new RegExp(`^frozen: error: ${host}/none/such:1: .*not found`)),
    ]);
    expect(existsSync(path)).toBe(false);
  });

  test('a reference given twice is locked once', async () => {
    const ref = `${fixture.registry.host}/one/app:1`;
    const locked = JSON.parse(await readFile(await lockFile(await tempDir(), ref, ref), 'utf8')) as LockFile;
    expect(locked.images.map((image) => image.reference)).toEqual([ref]);
  });

  test('a tag that moved since the lock is reported, and the locked image is pulled', async () => {
    const dir = await tempDir();
    const first = await pushReplacement({ url: fixture.registry.url }, 'moving/lock', 'v1');
    const path = await lockFile(dir, `${fixture.registry.host}/moving/lock:v1`);
    const second = await pushReplacement({ url: fixture.registry.url }, 'moving/lock', 'other');
    await (
      await import('../support/images.js')
    ).pushManifest({ url: fixture.registry.url }, 'moving/lock', 'v1', second.manifest);
    const output = join(dir, 'out');
    const result = await runCli(['pull', '-q', '--lock', path, '-o', output]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe(
      `moved  ${fixture.registry.host}/moving/lock:v1: the tag now points to ${second.manifest.digest}; pulling the locked ${first.manifest.digest}\n`,
    );
    expect((await loadWithSkopeo(output)).imageId).toBe(first.config.digest);
  });

  test('--offline pulls from the cache with the registry stopped, and says which blob is missing otherwise', async () => {
    const own = await startRegistry();
    onTestFinished(() => own.stop()); // also when an assertion fails before the test stops it
    await pushFixtures({ url: own.url });
    const dir = await tempDir();
    const cache = await tempDir();
    const path = await lockFile(dir, `${own.host}/team/app:1.2`);
    expect(
      (await runCli(['pull', '--lock', path, '-o', join(dir, 'warm')], { env: { FROZEN_CACHE: cache } })).code,
    ).toBe(0);
    await own.stop();

    const offline = join(dir, 'offline');
    const result = await runCli(['pull', '--offline', '--lock', path, '-o', offline], { env: { FROZEN_CACHE: cache } });
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    expect(await snapshot(offline)).toEqual(await snapshot(join(dir, 'warm')));

    const cold = await runCli(['pull', '--offline', '--lock', path, '-o', join(dir, 'cold')], {
      env: { FROZEN_CACHE: await tempDir() },
    });
    expect(cold.code).toBe(1);
    expect(cold.stderr).toMatch(
      /frozen: error: .*team\/app:1\.2: offline: blob sha256:[0-9a-f]{64} is not in the cache\n$/,
    );
  });

  test('bad input: a malformed lock file, images and a lock together, --offline without a lock', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({
        version: 1,
        images: [{ reference: 'a:1', digest: 'sha256:../x', manifestDigest: 'x', config: {}, layers: [] }],
      }),
    );
    const malformed = await runCli(['pull', '--lock', bad, '-o', join(dir, 'o')]);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(
      /^frozen: error: .*bad\.json: image 1: "manifestMediaType" is missing or not a string\n$/,
    );
    const layer = { digest: `sha256:${'a'.repeat(64)}`, size: 1, mediaType: 'application/vnd.oci.image.layer.v1.tar' };
    const entry = {
      reference: 'a:1',
      digest: layer.digest,
      manifestDigest: layer.digest,
      manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: layer,
      layers: [layer],
    };
    const cases: [object, string][] = [
      [{ ...entry, digest: 'sha256:../x' }, 'malformed digest'],
      [{ ...entry, config: undefined }, 'the config or a layer lacks its digest or media type'],
      [{ ...entry, layers: [{ ...layer, size: -1 }] }, `${layer.digest}: the size is not a whole number`],
      [
        { ...entry, layers: [{ ...layer, urls: 'https://example.com/l' }] },
        `${layer.digest}: "urls" is not a list of strings`,
      ],
      [{ ...entry, layers: 'x' }, '"layers" is missing or not a list'],
      [{ reference: 'x' }, '"digest" is missing or not a string'],
    ];
    for (const [image, message] of cases) {
      await writeFile(bad, JSON.stringify({ version: 1, images: [entry, image] }));
      const result = await runCli(['pull', '--lock', bad, '-o', join(dir, 'o')]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(`^frozen: error: .*bad\\.json: image 2: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
      );
    }
    expect(existsSync(join(dir, 'o'))).toBe(false);
    const path = await lockFile(dir, `${fixture.registry.host}/one/app:1`);
    const unknown = `${fixture.registry.host}/one/app:nope`;
    const partly = await runCli([
      'lock',
      '-o',
      join(dir, 'partly.json'),
      `${fixture.registry.host}/one/app:1`,
      unknown,
    ]);
    expect([partly.code, partly.stderr]).toEqual([
      1,
      `frozen: error: ${unknown}: manifest nope: not found (MANIFEST_UNKNOWN: manifest unknown)\n`,
    ]);
    expect(existsSync(join(dir, 'partly.json'))).toBe(false);
    expect((await runCli(['pull', '--lock', path, `${fixture.registry.host}/one/app:1`])).stderr).toBe(
      'frozen: error: give images or a lock file, not both\n',
    );
    const offlineTag = await runCli([
      'pull',
      '--offline',
      `${fixture.registry.host}/one/app@${fixture.images.one.manifest.digest}`,
      `${fixture.registry.host}/one/app:1`,
    ]);
    expect([offlineTag.code, offlineTag.stderr]).toEqual([
      2,
      `frozen: error: offline pulls need a lock file or references with a digest (${fixture.registry.host}/one/app:1 has none)\n`,
    ]);
  });
});

describe('pulls by digest', () => {
  test('with everything cached they send no request: they work with the registry stopped, and --offline takes them', async () => {
    const own = await startRegistry();
    onTestFinished(() => own.stop()); // also when an assertion fails before the test stops it
    const images = await pushFixtures({ url: own.url });
    const dir = await tempDir();
    const cache = await tempDir();
    // A multi-platform index (one without a mediaType field, so its type comes from its shape when read back) and
    // a single image.
    const refs = [
      `${own.host}/bare/app@${images.bareIndex.digest}`,
      `${own.host}/team/app@${images.multi.manifest.digest}`,
    ];
    const pull = (output: string, ...flags: string[]) =>
      runCli(['pull', '--json', ...flags, '-o', join(dir, output), ...refs], { env: { FROZEN_CACHE: cache } });
    const resolvedFrom = (stdout: string) =>
      parseEvents(stdout).flatMap((event) => (event.type === 'resolved' ? [event.endpoint] : []));
    const warm = await pull('warm');
    expect(warm.code).toBe(0);
    expect(resolvedFrom(warm.stdout)).toEqual([own.host, own.host]);
    // A cached blob that is no manifest (a config, named by mistake) is not taken for one: the registry is asked
    // (Distribution 2.8 answers that with a 500).
    const notManifest = `${own.host}/team/app@${images.multi.config.digest}`;
    const wrong = await runCli(['pull', '--retries', '0', '-o', join(dir, 'wrong'), notManifest], {
      env: { FROZEN_CACHE: cache },
    });
    expect([wrong.code, wrong.stderr]).toEqual([
      1,
      `frozen: error: ${notManifest}: manifest ${images.multi.config.digest}: registry answered 500 (UNKNOWN: unknown error)\n`,
    ]);
    await own.stop();

    for (const [output, flags] of [
      ['again', []],
      ['offline', ['--offline']],
    ] as const) {
      const result = await pull(output, ...flags);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(resolvedFrom(result.stdout)).toEqual(['cache', 'cache']);
      expect(await snapshot(join(dir, output))).toEqual(await snapshot(join(dir, 'warm')));
    }
    expect((await loadWithSkopeo(join(dir, 'offline'), 0)).imageId).toBe(images.platforms.amd64.config.digest);

    const cold = await runCli(['pull', '--offline', '-o', join(dir, 'cold'), refs[0]!], {
      env: { FROZEN_CACHE: await tempDir() },
    });
    expect([cold.code, cold.stderr]).toEqual([
      1,
      `frozen: error: ${refs[0]}: offline: manifest ${images.bareIndex.digest} is not in the cache\n`,
    ]);
    expect(existsSync(join(dir, 'cold'))).toBe(false);
  });

  test('a cached manifest damaged on disk is fetched again and mended', async () => {
    const dir = await tempDir();
    const cache = await tempDir();
    const ref = `${fixture.registry.host}/one/app@${fixture.images.one.manifest.digest}`;
    expect((await runCli(['pull', '-q', '-o', join(dir, 'first'), ref], { env: { FROZEN_CACHE: cache } })).code).toBe(
      0,
    );
    const kept = join(cache, 'blobs', 'sha256', fixture.images.one.manifest.digest.slice('sha256:'.length));
    const intact = await readFile(kept);
    await writeFile(kept, Buffer.alloc(intact.length, 0x20));

    const again = await runCli(['pull', '--json', '-o', join(dir, 'again'), ref], { env: { FROZEN_CACHE: cache } });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`"endpoint":"${fixture.registry.host}"`);
    expect(await snapshot(join(dir, 'again'))).toEqual(await snapshot(join(dir, 'first')));
    expect(await readFile(kept)).toEqual(intact);
  });
});
