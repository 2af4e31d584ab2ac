import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { layerIds } from '../../src/layout/docker-format.js';
import type { PullEvent } from '../../src/index.js';
import { FROZEN_BIN, parseEvents, runCli, runCliInTerminal } from '../support/cli.js';
import { snapshot } from '../support/fixture.js';
import { startFlakyRegistry, wellBehaved, type FlakyRegistry } from '../support/flaky-registry.js';
import { blob, descriptor, image, index, layer, sha256, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { mountTmpfs, mountsWanted, mountXfs, xfsWanted } from '../support/mounts.js';

const MiB = 1024 * 1024;
const tempDir = (prefix = 'frozen-transfer-') => mkdtemp(join(tmpdir(), prefix));

let server: FlakyRegistry;
let big: BuiltImage; // a 4 MiB incompressible layer on a small base
let sibling: BuiltImage; // shares the big layer, own top layer
let third: BuiltImage; // shares both of big's layers, own large top layer

beforeAll(async () => {
  server = await startFlakyRegistry();
  const base = await layer([{ type: 'file', name: 'etc/base', content: 'base\n' }]);
  const heavy = await layer([{ type: 'file', name: 'data/blob', content: randomBytes(4 * MiB) }]);
  big = image({ layers: [base, heavy] });
  sibling = image({
    layers: [base, heavy, await layer([{ type: 'file', name: 'etc/sibling', content: 'sibling\n' }])],
  });
  server.serve('big/app', '1', big);
  third = image({
    layers: [base, heavy, await layer([{ type: 'file', name: 'data/third', content: randomBytes(256 * 1024) }])],
  });
  server.serve('sib/app', '1', sibling);
  server.serve('third/app', '1', third);
});
afterAll(async () => server?.stop());

beforeEach(() => {
  server.requests.length = 0;
  Object.assign(server.behaviour, wellBehaved());
});

const heavyLayer = () => big.layers[1]!;

async function pullWith(cache: string, ...args: string[]) {
  const output = await tempDir();
  const result = await runCli(['pull', '-o', output, ...args], { env: { FROZEN_CACHE: cache } });
  return { ...result, output, cache };
}

/** The cache holds exactly verified blobs, and the output loads with the right image ID. */
async function expectVerified(cache: string, output: string, img: BuiltImage) {
  const verify = await runCli(['cache', 'verify'], { env: { FROZEN_CACHE: cache } });
  expect(verify.stdout).toMatch(/removed 0\n$/);
  expect(verify.code).toBe(0);
  expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);
  const top = layerIds(img.layers.map((l) => l.digest));
  for (const [i, id] of top.entries())
    expect(sha256(await readFile(join(output, id, 'layer.tar')))).toBe(img.layers[i]!.digest);
}

const bytesServed = (digest: string) => server.blobRequests(digest).reduce((sum, r) => sum + r.bytes, 0);

describe('resume and retries', () => {
  test('a connection reset mid-body three times: resumed with Range each time after the bytes that arrived', async () => {
    server.behaviour.resets = { count: 3, afterBytes: 1 * MiB };
    const cache = await tempDir();
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    const gets = server.blobRequests(heavyLayer().digest);
    // Each retry asks for the rest after the bytes that reached the disk (a little less than the server sent).
    const offsets = gets.map((r) => (r.range === undefined ? 0 : Number(/^bytes=(\d+)-$/.exec(r.range)![1])));
    expect(offsets).toHaveLength(4);
    expect(offsets[0]).toBe(0);
    for (let i = 1; i < 4; i++) {
      expect(offsets[i]).toBeGreaterThan(offsets[i - 1]!);
      expect(offsets[i]).toBeLessThanOrEqual(i * MiB);
    }
    expect(gets.slice(1).every((r) => r.status === 206)).toBe(true);
    // The server counts what it handed its socket; a reset throws away what was still in flight, so allow that.
    expect(bytesServed(heavyLayer().digest)).toBeLessThanOrEqual(1.5 * heavyLayer().size);
    expect(result.stderr).toMatch(
      /^retry {2}[0-9a-f]{12} in [\d.]+ s \(attempt 1\): cannot reach 127\.0\.0\.1:\d+: connection reset$/m,
    );
    await expectVerified(cache, result.output, big);
  });

  test('a server that answers Range with 200: the whole body is taken from 0', async () => {
    server.behaviour.resets = { count: 1, afterBytes: 1 * MiB };
    server.behaviour.range = 'ignore';
    const cache = await tempDir();
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    const gets = server.blobRequests(heavyLayer().digest);
    expect(gets.map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      [expect.stringMatching(/^bytes=[1-9]\d*-$/), 200],
    ]);
    await expectVerified(cache, result.output, big);
  });

  test('a server that lies in Content-Range: its answer is refused and the blob fetched again without Range', async () => {
    server.behaviour.resets = { count: 1, afterBytes: 1 * MiB };
    server.behaviour.range = 'lie';
    const cache = await tempDir();
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    const gets = server.blobRequests(heavyLayer().digest);
    expect(gets.map((r) => [r.range, r.status])).toEqual([
      [undefined, 200],
      [expect.stringMatching(/^bytes=[1-9]\d*-$/), 206],
      [undefined, 200],
    ]);
    expect(result.stderr).toMatch(/Content-Range: bytes 0-\d+\/\d+\); starting over/);
    await expectVerified(cache, result.output, big);
  });

  test('a partial whose bytes are wrong: the resumed blob fails its digest, and is fetched again from 0', async () => {
    const cache = await tempDir();
    const blobs = join(cache, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    // What a disk fault (or a server that once sent bad bytes) leaves: a prefix of the right length, wrong content.
    await writeFile(join(blobs, `${heavyLayer().digest.slice(7)}.partial`), Buffer.alloc(1 * MiB, 0x55));
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    const gets = server.blobRequests(heavyLayer().digest);
    expect(gets.map((r) => [r.range, r.status])).toEqual([
      [`bytes=${MiB}-`, 206],
      [undefined, 200],
    ]);
    expect(result.stderr).toMatch(
      /^retry {2}[0-9a-f]{12} in [\d.]+ s \(attempt 1\): blob sha256:[0-9a-f]{64}: digest or size mismatch \(content hashes to sha256:[0-9a-f]{64}\) after resuming; starting over$/m,
    );
    await expectVerified(cache, result.output, big);
  });

  test('429 with Retry-After is honoured', async () => {
    server.behaviour.failures = [{ status: 429, retryAfter: '1' }];
    const cache = await tempDir();
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    const blobGets = server.requests.filter((r) => r.path.includes('/blobs/'));
    const refused = blobGets.find((r) => r.status === 429)!;
    const retried = blobGets.find((r) => r.path === refused.path && r.status === 200)!;
    expect(retried.at - refused.at).toBeGreaterThanOrEqual(950);
    expect(result.stderr).toMatch(/retry .* in 1\.0 s \(attempt 1\): .*rate limited, retry after 1/);
    await expectVerified(cache, result.output, big);
  });

  test('429 asking for hours (a pull rate limit) fails at once, saying so, and leaves nothing behind', async () => {
    server.behaviour.failures = [{ status: 429, retryAfter: '21600' }];
    const cache = await tempDir();
    const started = Date.now();
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^frozen: error: .*: blob sha256:[0-9a-f]{64}: rate limited, retry after 21600$/m);
    expect(result.stderr).not.toMatch(/^retry /m);
    expect(server.requests.filter((r) => r.status === 429)).toHaveLength(1);
    expect(existsSync(result.output) ? await readdir(result.output) : []).toEqual([]);
  });

  test('503 twice, then success', async () => {
    server.behaviour.failures = [{ status: 503 }, { status: 503 }];
    const cache = await tempDir();
    const result = await pullWith(cache, `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    expect(server.requests.filter((r) => r.status === 503)).toHaveLength(2);
    await expectVerified(cache, result.output, big);
  });

  test('a manifest answered 503 twice: retried, and each retry reported, in plain lines and in --json', async () => {
    const ref = `${server.host}/big/app:1`;
    server.behaviour.manifestFailures = [{ status: 503 }, { status: 503 }];
    const plain = await pullWith(await tempDir(), ref);
    expect(plain.code).toBe(0);
    const retries = plain.stderr.split('\n').filter((line) => line.startsWith('retry '));
    expect(retries).toEqual(
      [1, 2].map((n) =>
        expect.stringMatching(
          new RegExp(`^retry  ${ref} in [\\d.]+ s \\(attempt ${n}\\): manifest 1: registry answered 503`),
        ),
      ),
    );
    await expectVerified(plain.cache, plain.output, big);

    server.behaviour.manifestFailures = [{ status: 503 }, { status: 503 }];
    const json = await pullWith(await tempDir(), '--json', ref);
    expect(json.code).toBe(0);
    const events = parseEvents(json.stdout).filter((e) => e.type === 'request-retry');
    expect(events).toEqual(
      [1, 2].map((attempt) => ({
        type: 'request-retry',
        image: ref,
        attempt,
        delayMs: expect.any(Number),
        reason: expect.stringMatching(/^manifest 1: registry answered 503/),
      })),
    );
    expect(server.requests.filter((r) => r.path.includes('/manifests/') && r.status === 503)).toHaveLength(4);
  });

  test('inspect and lock report the retries of their manifest requests too', async () => {
    const ref = `${server.host}/big/app:1`;
    const retryLines = (stderr: string) => stderr.split('\n').filter((line) => line.startsWith('retry '));
    const expected = [1, 2].map((n) =>
      expect.stringMatching(
        new RegExp(`^retry  ${ref} in [\\d.]+ s \\(attempt ${n}\\): manifest 1: registry answered 503`),
      ),
    );
    server.behaviour.manifestFailures = [{ status: 503 }, { status: 503 }];
    const inspected = await runCli(['inspect', ref]);
    expect(inspected.code).toBe(0);
    expect(inspected.stdout).toContain(`image ID  ${big.config.digest}`);
    expect(retryLines(inspected.stderr)).toEqual(expected);

    server.behaviour.manifestFailures = [{ status: 503 }, { status: 503 }];
    const lockFile = join(await tempDir(), 'frozen.lock.json');
    const locked = await runCli(['lock', '-o', lockFile, ref]);
    expect(locked.code).toBe(0);
    expect(JSON.parse(await readFile(lockFile, 'utf8')).images[0].manifestDigest).toBe(big.manifest.digest);
    expect(retryLines(locked.stderr)).toEqual(expected);
  });

  test('503 for longer than --retries allows: a clear error, no blob in the cache, no output', async () => {
    server.behaviour.failures = Array.from({ length: 20 }, () => ({ status: 503 }));
    const cache = await tempDir();
    const parent = await tempDir();
    const output = join(parent, 'out');
    const result = await runCli(['pull', '-o', output, '--retries', '2', `${server.host}/big/app:1`], {
      env: { FROZEN_CACHE: cache },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/frozen: error: .*big\/app:1: blob sha256:[0-9a-f]{64}: registry answered 503\n/);
    expect(await readdir(parent)).toEqual([]);
    const ls = await runCli(['cache', 'ls'], { env: { FROZEN_CACHE: cache } });
    for (const line of ls.stdout.trim().split('\n').filter(Boolean)) {
      const digest = line.split(' ')[0]!;
      expect(sha256(await readFile(join(cache, 'blobs', 'sha256', digest.slice(7))))).toBe(digest); // only verified blobs
    }
  });
});

describe('an image that fails', () => {
  test('stops its other downloads at once, keeping their bytes; a blob another image of the run wants is still fetched, from those bytes', async () => {
    server.behaviour.throttleBytesPer10ms = 16 * 1024; // ~1.6 MB/s: the 4 MiB layer would take over 2.5 s
    const missing = await layer([{ type: 'file', name: 'etc/gone', content: 'not on the registry\n' }]);
    const broken = image({ layers: [big.layers[0]!, heavyLayer(), missing] });
    server.serveRaw('broken/app', '1', broken.manifest, [broken.config, ...big.layers]);
    const brokenRef = `${server.host}/broken/app:1`;
    const cache = await tempDir();
    const partial = join(cache, 'blobs', 'sha256', `${heavyLayer().digest.slice(7)}.partial`);

    const alone = await pullWith(cache, '-q', brokenRef);
    expect(alone.stderr).toMatch(new RegExp(`^frozen: error: ${brokenRef}: blob ${missing.digest}: .*not found.*\\n$`));
    expect(alone.code).toBe(1);
    // The 404 stopped the big layer's download: the process ended long before it could have finished.
    const served = bytesServed(heavyLayer().digest);
    expect(served).toBeLessThan(heavyLayer().size / 2);
    expect(await sizeOf(partial)).toBeLessThanOrEqual(served);

    server.requests.length = 0;
    const both = await pullWith(cache, '--json', brokenRef, `${server.host}/big/app:1`);
    expect(both.code).toBe(1);
    const events = parseEvents(both.stdout);
    expect(events.filter((e) => e.type === 'error').map((e) => e.image)).toEqual([brokenRef]);
    expect(events.filter((e) => e.type === 'image-done')).toEqual([]); // nothing is written when an image fails
    // The failure is told when it happens, not after the other image's downloads.
    const heavyDone = events.findIndex(
      (e) => e.type === 'blob-done' && e.image === `${server.host}/big/app:1` && e.digest === heavyLayer().digest,
    );
    expect(heavyDone).toBeGreaterThan(events.findIndex((e) => e.type === 'error'));
    // Each download went on from the bytes of the one before it (the broken image may have started it here too).
    expect(served + bytesServed(heavyLayer().digest)).toBeLessThanOrEqual(1.1 * heavyLayer().size);
    expect(sha256(await readFile(join(cache, 'blobs', 'sha256', heavyLayer().digest.slice(7))))).toBe(
      heavyLayer().digest,
    );
  });
});

describe('a hostile manifest', () => {
  test('a config declared larger than 16 MiB is refused before any download, by pull and inspect, in one line', async () => {
    const huge = {
      mediaType: 'application/vnd.docker.container.image.v1+json',
      digest: sha256('never served'),
      size: 16 * MiB + 1,
    };
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: huge,
      layers: [descriptor(heavyLayer())],
    };
    server.serveRaw('hostile/app', '1', blob(Buffer.from(JSON.stringify(manifest)), manifest.mediaType), []);
    const reference = `${server.host}/hostile/app:1`;
    const line = `frozen: error: ${reference}: image config ${huge.digest} is ${huge.size} bytes, more than the 16 MiB an image config may be\n`;
    for (const command of [['pull', '-q', '-o', join(await tempDir(), 'out')], ['inspect']]) {
      const result = await runCli([...command, reference]);
      expect([result.code, result.stderr]).toEqual([1, line]);
    }
    expect(server.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
  });
});

describe('interruption', () => {
  test('kill -9 half way through a large layer; the re-run resumes and writes what an uninterrupted pull writes', async () => {
    const reference = `${server.host}/big/app:1`;
    const clean = await pullWith(await tempDir(), reference);
    expect(clean.code).toBe(0);
    server.requests.length = 0;

    server.behaviour.throttleBytesPer10ms = 32 * 1024; // ~3 MB/s: the 4 MiB layer takes over a second
    const cache = await tempDir();
    const output = await tempDir();
    const child = spawn(process.execPath, [FROZEN_BIN, 'pull', '-o', output, reference], {
      stdio: 'ignore',
      env: { ...process.env, FROZEN_CACHE: cache },
    });
    const exited = new Promise((resolve) => child.on('close', resolve));
    const partial = join(cache, 'blobs', 'sha256', `${heavyLayer().digest.slice(7)}.partial`);
    for (let i = 0; i < 400 && (await sizeOf(partial)) < 1.5 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    const kept = await sizeOf(partial);
    expect(kept).toBeGreaterThanOrEqual(1.5 * MiB);
    expect(kept).toBeLessThan(heavyLayer().size);

    server.behaviour.throttleBytesPer10ms = 0;
    const again = await runCli(['pull', '-o', output, reference], { env: { FROZEN_CACHE: cache } });
    expect(again.code).toBe(0);
    const gets = server.blobRequests(heavyLayer().digest);
    expect(gets.at(-1)!.range).toMatch(/^bytes=(\d+)-$/);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets.at(-1)!.range!)![1]);
    expect(resumedAt).toBeGreaterThanOrEqual(kept);
    expect(again.stderr).toContain(
      `resume ${heavyLayer().digest.slice(7, 19)} at ${(resumedAt / 1e6).toFixed(1)} MB of 4.2 MB\n`,
    );
    expect(bytesServed(heavyLayer().digest)).toBeLessThanOrEqual(1.1 * heavyLayer().size);
    expect(await snapshot(output)).toEqual(await snapshot(clean.output));
    await expectVerified(cache, output, big);
  });
});

describe.runIf(mountsWanted)('a full disk (a 2 MiB tmpfs)', () => {
  test('the cache fills mid-layer, then cannot take a lock: one line naming the file each time, nothing in the output, no lock or mark left; with room again the pull resumes from the partial', async () => {
    const disk = await mountTmpfs(2 * MiB);
    try {
      const cache = join(disk.root, 'cache');
      const parent = await tempDir();
      const output = join(parent, 'out');
      const pull = (reference: string) =>
        runCli(['pull', '-q', '-o', output, reference], { env: { FROZEN_CACHE: cache } });
      const leftovers = async () => [
        ...(await readdir(join(cache, 'blobs', 'sha256'))).filter((name) => name.endsWith('.lock')),
        ...(await readdir(join(cache, 'in-use'))),
      ];
      const partial = join(cache, 'blobs', 'sha256', `${heavyLayer().digest.slice(7)}.partial`);

      const filled = await pull(`${server.host}/big/app:1`);
      // The big layer fills the disk; which blob's write fails first depends on timing.
      const blobs = `${cache}/blobs/sha256`;
      expect(filled.stderr).toMatch(
        new RegExp(
          `^frozen: error: ${server.host}/big/app:1: blob sha256:([0-9a-f]{64}): cannot write ${blobs}/\\1\\.partial: ENOSPC: no space left on device, write\n$`,
        ),
      );
      expect(filled.code).toBe(1);
      const kept = await sizeOf(partial);
      expect(kept).toBeGreaterThan(MiB);
      expect(await readdir(parent)).toEqual([]);
      expect(await leftovers()).toEqual([]);

      // Nothing left for a lock's few bytes: the third image's own blobs cannot be locked.
      const locked = await pull(`${server.host}/third/app:1`);
      expect(locked.stderr).toMatch(
        new RegExp(
          `^frozen: error: ${server.host}/third/app:1: cannot create the lock file ${blobs}/[0-9a-f]{64}\\.lock: ENOSPC: no space left on device, write\n$`,
        ),
      );
      expect(locked.code).toBe(1);
      expect(await readdir(parent)).toEqual([]);
      expect(await leftovers()).toEqual([]);

      await disk.remount(`size=${16 * MiB}`);
      server.requests.length = 0;
      const again = await pull(`${server.host}/big/app:1`);
      expect([again.code, again.stderr]).toEqual([0, '']);
      const gets = server.blobRequests(heavyLayer().digest);
      expect(gets.map((r) => r.range)).toEqual([`bytes=${kept}-`]);
      expect(bytesServed(heavyLayer().digest)).toBe(heavyLayer().size - kept);
      await expectVerified(cache, output, big);
    } finally {
      await disk.stop();
    }
  });

  test('an output on a full disk, the cache elsewhere: the copies fail in one line, and the directory is as it was (one the run made is gone)', async () => {
    const disk = await mountTmpfs(2 * MiB);
    try {
      const env = { env: { FROZEN_CACHE: await tempDir() } };
      const made = join(disk.root, 'made');
      const failed = await runCli(['pull', '-q', '-o', made, `${server.host}/big/app:1`], env);
      // Which write meets the full disk first (the layer's copy, or a json written beside it) is the disk's race.
      expect(failed.stderr).toMatch(
        new RegExp(
          `^frozen: error: cannot write to ${made}: ENOSPC: no space left on device, (copyfile '[^']+' -> '[^']+'|write|open '[^']+')\\n$`,
        ),
      );
      expect(failed.code).toBe(1);
      expect(await readdir(disk.root)).toEqual([]);

      const kept = join(disk.root, 'kept');
      server.serve('base/app', '1', image({ layers: [big.layers[0]!] }));
      expect((await runCli(['pull', '-q', '-o', kept, `${server.host}/base/app:1`], env)).code).toBe(0);
      const before = await snapshot(kept);
      // Both images in one run: the first is staged whole, then the second's big layer does not fit.
      const both = await runCli(
        ['pull', '-q', '-o', kept, `${server.host}/base/app:1`, `${server.host}/big/app:1`],
        env,
      );
      expect(both.stderr).toMatch(/^frozen: error: cannot write to .*ENOSPC/);
      expect(both.code).toBe(1);
      expect(await snapshot(kept)).toEqual(before);
      expect((await readdir(kept)).filter((name) => name.startsWith('.'))).toEqual([]);
    } finally {
      await disk.stop();
    }
  });
});

describe('the shared cache', () => {
  test('four processes pulling overlapping images into one cache all succeed, and each blob is fetched once', async () => {
    server.behaviour.throttleBytesPer10ms = 256 * 1024;
    const cache = await tempDir();
    const refs = [
      [`${server.host}/big/app:1`],
      [`${server.host}/sib/app:1`],
      [`${server.host}/big/app:1`, `${server.host}/sib/app:1`],
      [`${server.host}/sib/app:1`],
    ];
    const runs = await Promise.all(refs.map((r) => pullWith(cache, ...r)));
    for (const run of runs) {
      expect(run.stderr).not.toContain('error');
      expect(run.code).toBe(0);
    }
    const digests = new Set([big, sibling].flatMap((img) => [img.config, ...img.layers].map((b) => b.digest)));
    for (const digest of digests) expect(server.blobRequests(digest)).toHaveLength(1);
    expect((await loadWithSkopeo(runs[2]!.output, 1)).imageId).toBe(sibling.config.digest);
    // Every output links the one cached copy: ten directories of one base image cost its bytes once.
    const cached = await stat(join(cache, 'blobs', 'sha256', heavyLayer().digest.slice(7)));
    expect(cached.nlink).toBe(1 + runs.length);
  });

  test('a process that waits on the download of another reports its progress, then takes the blob from the cache', async () => {
    // ~1.6 MB/s: the 4 MiB layer takes over 2 s, time for the second process to start and find it locked.
    server.behaviour.throttleBytesPer10ms = 16 * 1024;
    const cache = await tempDir();
    const first = pullWith(cache, '-q', `${server.host}/big/app:1`);
    const partial = join(cache, 'blobs', 'sha256', `${heavyLayer().digest.slice(7)}.partial`);
    for (let i = 0; i < 400 && (await sizeOf(partial)) === 0; i++) await new Promise((r) => setTimeout(r, 10));
    const second = await pullWith(cache, '--json', `${server.host}/big/app:1`);
    expect((await first).code).toBe(0);
    expect(second.code).toBe(0);
    const heavy = parseEvents(second.stdout).filter(
      (event) => 'digest' in event && event.digest === heavyLayer().digest,
    );
    expect(heavy.map((event) => event.type)).toContain('blob-wait');
    const waited = heavy.filter((e): e is Extract<PullEvent, { type: 'blob-progress' }> => e.type === 'blob-progress');
    expect(waited.some((e) => e.bytes > 0 && e.bytes < heavyLayer().size)).toBe(true);
    expect(heavy.at(-1)).toMatchObject({ type: 'blob-done', source: 'cache', bytes: 0 });
    expect(server.blobRequests(heavyLayer().digest)).toHaveLength(1);
  });

  test('kill -9 of the process downloading a blob another one waits on: the waiter takes the lock over and resumes', async () => {
    server.behaviour.throttleBytesPer10ms = 16 * 1024; // ~1.6 MB/s: the 4 MiB layer takes over 2 s
    const cache = await tempDir();
    const reference = `${server.host}/big/app:1`;
    const env = { ...process.env, FROZEN_CACHE: cache };
    const downloader = spawn(process.execPath, [FROZEN_BIN, 'pull', '-q', '-o', await tempDir(), reference], {
      stdio: 'ignore',
      env,
    });
    const killed = new Promise((resolve) => downloader.on('close', resolve));
    const partial = join(cache, 'blobs', 'sha256', `${heavyLayer().digest.slice(7)}.partial`);
    for (let i = 0; i < 400 && (await sizeOf(partial)) === 0; i++) await new Promise((r) => setTimeout(r, 10));

    const output = await tempDir();
    const waiter = spawn(process.execPath, [FROZEN_BIN, 'pull', '--json', '-o', output, reference], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    let stdout = '';
    const waiting = new Promise<void>((resolve) =>
      waiter.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (parseEvents(stdout).some((e) => e.type === 'blob-wait' && e.digest === heavyLayer().digest)) resolve();
      }),
    );
    const exited = new Promise<number | null>((resolve) => waiter.on('close', resolve));
    await waiting;
    for (let i = 0; i < 400 && (await sizeOf(partial)) < 1.5 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
    downloader.kill('SIGKILL');
    await killed;

    expect(await exited).toBe(0);
    expect(parseEvents(stdout)).toContainEqual(
      expect.objectContaining({ type: 'blob-done', digest: heavyLayer().digest, source: 'registry' }),
    );
    // The waiter's own request asked only for what the killed process had not written, and said so.
    const gets = server.blobRequests(heavyLayer().digest);
    expect(gets).toHaveLength(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(gets[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThanOrEqual(1.5 * MiB);
    expect(parseEvents(stdout)).toContainEqual({
      type: 'blob-resume',
      image: reference,
      kind: 'layer',
      digest: heavyLayer().digest,
      size: heavyLayer().size,
      offset: resumedAt,
    });
    expect(bytesServed(heavyLayer().digest)).toBeLessThanOrEqual(1.1 * heavyLayer().size);
    await expectVerified(cache, output, big);
  });

  test('inspect and lock read manifests (and inspect the config) from the cache: by digest no request, by tag one HEAD', async () => {
    const cache = await tempDir();
    expect((await pullWith(cache, `${server.host}/big/app:1`)).code).toBe(0);
    const env = { env: { FROZEN_CACHE: cache } };
    const asked = () => server.requests.splice(0).map((r) => `${r.method} ${r.path}`);
    server.requests.length = 0;

    const pinned = await runCli(['inspect', `${server.host}/big/app:1@${big.manifest.digest}`], env);
    expect([pinned.code, pinned.stderr]).toEqual([0, '']);
    expect(pinned.stdout).toContain(`image ID  ${big.config.digest}`);
    expect(asked()).toEqual([]);
    const byTag = await runCli(['inspect', `${server.host}/big/app:1`], env);
    expect(byTag.stdout).toContain(`image ID  ${big.config.digest}`);
    expect(asked()).toEqual(['HEAD /v2/big/app/manifests/1']);
    const lockFile = join(await tempDir(), 'frozen.lock.json');
    expect((await runCli(['lock', '-o', lockFile, `${server.host}/big/app:1`], env)).code).toBe(0);
    expect(JSON.parse(await readFile(lockFile, 'utf8')).images[0].manifestDigest).toBe(big.manifest.digest);
    expect(asked()).toEqual(['HEAD /v2/big/app/manifests/1']);

    // Without the cache the registry is asked for all of it; an empty default cache is not made or used.
    const config = `GET /v2/big/app/blobs/${big.config.digest}`;
    expect((await runCli(['inspect', '--no-cache', `${server.host}/big/app:1`], env)).code).toBe(0);
    expect(asked()).toEqual(['GET /v2/big/app/manifests/1', config]);
    const empty = await tempDir();
    expect((await runCli(['inspect', `${server.host}/big/app:1`], { env: { FROZEN_CACHE: empty } })).code).toBe(0);
    expect(asked()).toEqual(['GET /v2/big/app/manifests/1', config]);
    expect(await readdir(empty)).toEqual([]);
    // A cache named with --cache is used from its first run: the manifest is kept for the next.
    const named = join(await tempDir(), 'named');
    expect((await runCli(['inspect', '--cache', named, `${server.host}/big/app:1`])).code).toBe(0);
    expect(existsSync(join(named, 'blobs', 'sha256', big.manifest.digest.slice(7)))).toBe(true);
  });

  test('--copy writes independent files; --no-cache leaves the cache untouched', async () => {
    const cache = await tempDir();
    const copied = await pullWith(cache, '--copy', `${server.host}/big/app:1`);
    expect(copied.code).toBe(0);
    const heavyId = layerIds(big.layers.map((l) => l.digest))[1]!;
    expect((await stat(join(copied.output, heavyId, 'layer.tar'))).nlink).toBe(1);
    expect((await stat(join(cache, 'blobs', 'sha256', heavyLayer().digest.slice(7)))).nlink).toBe(1);

    const untouched = await tempDir();
    const uncached = await pullWith(untouched, '--no-cache', `${server.host}/big/app:1`);
    expect(uncached.code).toBe(0);
    expect(await readdir(untouched)).toEqual([]);
    expect(await readdir(uncached.output)).not.toContainEqual(expect.stringMatching(/^\.frozen/));
    expect((await loadWithSkopeo(uncached.output)).imageId).toBe(big.config.digest);
  });

  test('an output on another file system than the cache gets copies, loads, and feeds an empty cache on a re-pull: no blob is asked for', async () => {
    const cache = await tempDir();
    // /dev/shm is a tmpfs on Linux: another file system than the temporary folder the cache is in.
    const output = await mkdtemp('/dev/shm/frozen-other-fs-');
    try {
      expect((await stat(output)).dev).not.toBe((await stat(cache)).dev);
      const result = await runCli(['pull', '-o', output, `${server.host}/big/app:1`], { env: { FROZEN_CACHE: cache } });
      expect([result.code, result.stderr]).toEqual([0, expect.not.stringContaining('error')]);
      await expectVerified(cache, output, big);
      const heavyId = layerIds(big.layers.map((l) => l.digest))[1]!;
      expect((await stat(join(output, heavyId, 'layer.tar'))).nlink).toBe(1);
      expect((await loadWithSkopeo(output)).imageId).toBe(big.config.digest);
      // A re-pull with an empty cache takes the config and layers the output holds (copied into the cache, not
      // linked), asking the registry for none of them.
      const fresh = await tempDir();
      server.requests.length = 0;
      const again = await runCli(['pull', '--json', '-o', output, `${server.host}/big/app:1`], {
        env: { FROZEN_CACHE: fresh },
      });
      expect([again.code, again.stderr]).toEqual([0, '']);
      const done = parseEvents(again.stdout).flatMap((e) => (e.type === 'blob-done' ? [`${e.kind} ${e.source}`] : []));
      expect(done.sort()).toEqual(['config output', ...big.layers.map(() => 'layer output')]);
      expect(server.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
      await expectVerified(fresh, output, big);
    } finally {
      await rm(output, { recursive: true, force: true });
    }
  });

  test('a warm re-pull downloads no blob', async () => {
    const cache = await tempDir();
    await pullWith(cache, `${server.host}/big/app:1`);
    server.requests.length = 0;
    const warm = await pullWith(cache, `${server.host}/big/app:1`);
    expect(warm.code).toBe(0);
    expect(server.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    expect(warm.stdout).toContain('(0 B downloaded)');
    expect(warm.stderr).toMatch(/done {3}[0-9a-f]{12} layer 4\.\d MB from cache/);
  });

  test('with a cache, a tag seen before is resolved by HEAD: a warm re-pull of a multi-platform tag GETs no manifest', async () => {
    const platforms = await Promise.all(
      (['amd64', 'arm64'] as const).map(async (architecture) =>
        image({
          layers: [await layer([{ type: 'file', name: 'etc/arch', content: `${architecture}\n` }], 'oci-gzip')],
          format: 'oci',
          architecture,
        }),
      ),
    );
    platforms.forEach((img, i) => server.serve('multi/cached', `p${i}`, img));
    server.serveRaw('multi/cached', '1', index(platforms), []);
    const cache = await tempDir();
    const ref = `${server.host}/multi/cached:1`;
    const manifestRequests = () =>
      server.requests.filter((r) => r.path.includes('/manifests/')).map((r) => `${r.method} ${r.path}`);
    // A tag the cache has not seen cannot have its manifest there: it is fetched at once, with no HEAD first.
    const cold = [
      'GET /v2/multi/cached/manifests/1',
      `GET /v2/multi/cached/manifests/${platforms[1]!.manifest.digest}`,
    ];
    expect((await pullWith(cache, '--platform', 'linux/arm64', ref)).code).toBe(0);
    expect(manifestRequests()).toEqual(cold);
    server.requests.length = 0;
    const warm = await pullWith(cache, '--platform', 'linux/arm64', ref);
    expect(warm.code).toBe(0);
    expect(manifestRequests()).toEqual(['HEAD /v2/multi/cached/manifests/1']);
    expect((await loadWithSkopeo(warm.output)).imageId).toBe(platforms[1]!.config.digest);

    // A prune by age keeps the record of a tag seen lately, and forgets one not seen for longer: that tag is
    // fetched at once again (its platform's manifest is still kept by digest). Pruning everything forgets them all.
    const prune = (...args: string[]) => runCli(['cache', 'prune', '--cache', cache, ...args]);
    const pullAgain = async () => {
      server.requests.length = 0;
      expect((await pullWith(cache, '--platform', 'linux/arm64', ref)).code).toBe(0);
      return manifestRequests();
    };
    expect((await prune('--older-than', '1h')).code).toBe(0);
    expect(await pullAgain()).toEqual(['HEAD /v2/multi/cached/manifests/1']);
    const [record] = await readdir(join(cache, 'tags'));
    const longAgo = new Date(Date.now() - 2 * 3_600_000);
    await utimes(join(cache, 'tags', record!), longAgo, longAgo);
    expect((await prune('--older-than', '1h')).code).toBe(0);
    expect(await readdir(join(cache, 'tags'))).toEqual([]);
    expect(await pullAgain()).toEqual(['GET /v2/multi/cached/manifests/1']);
    expect((await prune()).code).toBe(0);
    expect(await readdir(join(cache, 'tags'))).toEqual([]);
    expect(await pullAgain()).toEqual(cold);

    // Without a cache there is nothing to look up: the tag is fetched at once.
    server.requests.length = 0;
    expect((await pullWith(cache, '--no-cache', '--platform', 'linux/arm64', ref)).code).toBe(0);
    expect(manifestRequests()[0]).toBe('GET /v2/multi/cached/manifests/1');
  });

  test('a blob corrupted on disk is found by cache verify, removed, and fetched again by the next pull', async () => {
    const cache = await tempDir();
    await pullWith(cache, `${server.host}/big/app:1`);
    const blobFile = join(cache, 'blobs', 'sha256', heavyLayer().digest.slice(7));
    const handle = await open(blobFile, 'r+');
    await handle.write(Buffer.from('rot'), 0, 3, 1000);
    await handle.close();

    const verify = await runCli(['cache', 'verify'], { env: { FROZEN_CACHE: cache } });
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(`removed ${heavyLayer().digest}: its bytes do not match its digest`);
    expect(verify.stdout).toMatch(/verified 4 blobs, removed 1\n$/); // config, two layers, and the manifest

    server.requests.length = 0;
    const again = await pullWith(cache, `${server.host}/big/app:1`);
    expect(again.code).toBe(0);
    expect(server.blobRequests(heavyLayer().digest)).toHaveLength(1);
    await expectVerified(cache, again.output, big);
  });

  test('cache ls, du and prune', async () => {
    const cache = await tempDir();
    await pullWith(cache, `${server.host}/big/app:1`);
    const env = { env: { FROZEN_CACHE: cache } };
    const blobsOf = [big.manifest, big.config, ...big.layers];
    const ls = await runCli(['cache', 'ls'], env);
    expect(
      ls.stdout
        .trim()
        .split('\n')
        .map((line) => line.split(/\s+/)[0])
        .sort(),
    ).toEqual(blobsOf.map((b) => b.digest).sort());
    const total = blobsOf.reduce((sum, b) => sum + b.size, 0);
    expect((await runCli(['cache', 'du'], env)).stdout).toContain(`4 blobs, `);
    expect((await runCli(['cache', 'du'], env)).stdout).toContain(`(${total} bytes)`);

    // Partial downloads: two last written long ago (a blob's and a v1 layer's), one of them with a live lock (this
    // process's), and one written just now.
    const longAgo = new Date(Date.now() - 40 * 86400e3);
    const partial = async (path: string, size: number, time = new Date()) => {
      await mkdir(join(path, '..'), { recursive: true });
      await writeFile(path, Buffer.alloc(size));
      await utimes(path, time, time);
      return path;
    };
    const blobPartial = (hex: string) => join(cache, 'blobs', 'sha256', `${hex}.partial`);
    await partial(blobPartial('1'.repeat(64)), 1000, longAgo);
    await partial(join(cache, 'v1', 'registry.test', `${'2'.repeat(64)}.partial`), 500, longAgo);
    const held = await partial(blobPartial('3'.repeat(64)), 1000, longAgo);
    await writeFile(
      held.replace(/partial$/, 'lock'),
      JSON.stringify({ pid: process.pid, host: hostname(), token: 'test' }),
    );
    const fresh = await partial(blobPartial('4'.repeat(64)), 2000);
    expect((await runCli(['cache', 'du'], env)).stdout).toMatch(/ bytes\) in .*; 4 partial downloads, 4\.5 KB\n$/);

    const at = (blob: { digest: string }, time: Date) =>
      utimes(join(cache, 'blobs', 'sha256', blob.digest.slice(7)), time, time);
    await at(big.config, longAgo);
    await at(heavyLayer(), new Date(Date.now() + 3600e3)); // the most recently used
    expect((await runCli(['cache', 'prune', '--older-than', '30d'], env)).stdout).toMatch(
      /^removed 1 blob and 2 partial downloads, freed /,
    );
    // Least recently used first, until the cache fits: the manifest, the base layer and the fresh partial go, the
    // heavy layer stays, and the held partial stays whatever its age.
    const fits = heavyLayer().size + 1000;
    expect((await runCli(['cache', 'prune', '--max-size', `${fits}`], env)).stdout).toMatch(
      /^removed 2 blobs and 1 partial download, freed /,
    );
    expect(existsSync(fresh)).toBe(false);
    const left = await runCli(['cache', 'ls'], env);
    expect(left.stdout.trim().split(/\s+/)[0]).toBe(heavyLayer().digest);
    expect((await runCli(['cache', 'prune'], env)).stdout).toMatch(/^removed 1 blob, freed /);
    expect(existsSync(held)).toBe(true);
    // Prune took each partial's lock while removing it, and let go: the one lock left is the live process's own.
    const locks = (await readdir(join(cache, 'blobs', 'sha256'))).filter((name) => name.includes('.lock'));
    expect(locks).toEqual([`${'3'.repeat(64)}.lock`]);
    expect(JSON.parse(await readFile(held.replace(/partial$/, 'lock'), 'utf8')).token).toBe('test');
    expect((await runCli(['cache', 'du'], env)).stdout).toMatch(
      /^0 blobs, 0 B \(0 bytes\) in .*; 1 partial download, 1\.0 KB\n$/,
    );
    expect((await runCli(['cache', 'prune', '--max-size', 'lots'], env)).code).toBe(2);
  });

  test('a disk that fills up mid-download: one output error, no retry, nothing written', async () => {
    const cache = await tempDir();
    const blobs = join(cache, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    // The partial file of the big layer is /dev/full: every write to it fails with ENOSPC.
    await symlink('/dev/full', join(blobs, `${heavyLayer().digest.slice(7)}.partial`));
    const output = join(await tempDir(), 'out');
    const result = await runCli(['pull', '-q', '-o', output, `${server.host}/big/app:1`], {
      env: { FROZEN_CACHE: cache },
    });
    expect([result.code, result.stderr]).toEqual([
      1,
      `frozen: error: ${server.host}/big/app:1: blob ${heavyLayer().digest}: cannot write ${join(blobs, heavyLayer().digest.slice(7))}.partial: ENOSPC: no space left on device, write\n`,
    ]);
    expect(server.blobRequests(heavyLayer().digest)).toHaveLength(1);
    expect(existsSync(output)).toBe(false);
  });

  test('a warm cache where nothing can be written (as on a read-only mount) still serves a directory and a tar pull', async () => {
    const cache = await tempDir();
    expect((await pullWith(cache, `${server.host}/big/app:1`)).code).toBe(0);
    await rm(join(cache, 'in-use'), { recursive: true });
    await writeFile(join(cache, 'in-use'), 'a file where the folder would go');
    server.requests.length = 0;
    const again = await pullWith(cache, `${server.host}/big/app:1`);
    expect([again.code, again.stderr.includes('error')]).toEqual([0, false]);
    expect(server.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    await expectVerified(cache, again.output, big);
    // A tar pull's work folder goes elsewhere when the cache has no room for it.
    await writeFile(join(cache, 'tmp'), 'a file where the folder would go');
    const tar = join(await tempDir(), 'image.tar');
    const packed = await runCli(['pull', '-q', '--format', 'tar', '-o', tar, `${server.host}/big/app:1`], {
      env: { FROZEN_CACHE: cache },
    });
    expect([packed.code, packed.stderr]).toEqual([0, '']);
    expect((await runCli(['verify', tar])).stdout).toBe(`${tar}: ok, 1 image, 2 layers verified\n`);
    expect(server.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
  });

  test('a prune while a pull runs spares what that pull uses; the rest goes', async () => {
    const cache = await tempDir();
    expect((await pullWith(cache, `${server.host}/big/app:1`)).code).toBe(0);
    const blobs = join(cache, 'blobs', 'sha256');
    const longAgo = new Date(Date.now() - 2 * 86400e3);
    for (const name of await readdir(blobs)) await utimes(join(blobs, name), longAgo, longAgo);
    server.behaviour.throttleBytesPer10ms = 2048; // the third image's own layer takes over a second
    const output = await tempDir();
    const child = spawn(process.execPath, [FROZEN_BIN, 'pull', '--json', '-o', output, `${server.host}/third/app:1`], {
      env: { ...process.env, FROZEN_CACHE: cache },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Once its own layer is arriving, the pull has found the two shared layers in the cache.
    const arriving = () =>
      stdout
        .split('\n')
        .some(
          (line) =>
            line.includes('"blob-progress"') && line.includes(third.layers[2]!.digest) && !line.includes('"bytes":0'),
        );
    for (let i = 0; i < 400 && !arriving(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(arriving()).toBe(true);
    const prune = await runCli(['cache', 'prune'], { env: { FROZEN_CACHE: cache } });
    expect(prune.stdout).toMatch(/^removed 2 blobs/); // big's manifest and config: the running pull does not use them
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    await expectVerified(cache, output, third);
    expect(await readdir(join(cache, 'in-use'))).toEqual([]);
    const left = (await readdir(blobs)).sort();
    expect(left).toEqual([third.manifest, third.config, ...third.layers].map((b) => b.digest.slice(7)).sort());
  });
});

describe('a partial download changed underneath', () => {
  test('a partial removed while its blob downloads (by hand, or a prune racing the pull) is noticed: fetched again from 0, nothing corrupt kept', async () => {
    server.behaviour.throttleBytesPer10ms = 16 * 1024; // ~1.6 MB/s: the 4 MiB layer takes over 2 s
    const cache = await tempDir();
    const running = pullWith(cache, '--json', `${server.host}/big/app:1`);
    const partial = join(cache, 'blobs', 'sha256', `${heavyLayer().digest.slice(7)}.partial`);
    for (let i = 0; i < 400 && (await sizeOf(partial)) < 1 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await sizeOf(partial)).toBeGreaterThanOrEqual(1 * MiB);
    await rm(partial);
    server.behaviour.throttleBytesPer10ms = 0; // the fetch from 0 need not crawl
    const result = await running;
    expect([result.code, result.stderr]).toEqual([0, '']);
    await expectVerified(cache, result.output, big);
    const retries = parseEvents(result.stdout).filter((e) => e.type === 'blob-retry');
    expect(retries).toEqual([
      expect.objectContaining({ digest: heavyLayer().digest, reason: expect.stringContaining('changed on disk') }),
    ]);
    expect(server.blobRequests(heavyLayer().digest).map((r) => r.range)).toEqual([undefined, undefined]);
  });
});

describe.runIf(xfsWanted)('on a file system with reflinks (XFS)', () => {
  test('--copy makes independent files that share their blocks with the cache: a second output costs no layer bytes', async () => {
    const xfs = await mountXfs();
    try {
      const env = { FROZEN_CACHE: join(xfs.root, 'cache') };
      const pullCopy = (name: string) =>
        runCli(['pull', '-q', '--copy', '-o', join(xfs.root, name), `${server.host}/big/app:1`], { env });
      expect((await pullCopy('first')).code).toBe(0);
      const before = await xfs.used();
      const second = await pullCopy('second');
      expect([second.code, second.stderr]).toEqual([0, '']);
      // A plain copy would take the 4 MiB layer's bytes again; a reflink takes a few blocks of metadata.
      expect((await xfs.used()) - before).toBeLessThan(heavyLayer().size / 8);
      const heavyId = layerIds(big.layers.map((l) => l.digest))[1]!;
      const copy = join(xfs.root, 'second', heavyId, 'layer.tar');
      expect((await stat(copy)).nlink).toBe(1);
      expect(sha256(await readFile(copy))).toBe(heavyLayer().digest);
      expect((await loadWithSkopeo(join(xfs.root, 'second'))).imageId).toBe(big.config.digest);
    } finally {
      await xfs.stop();
    }
  });
});

describe('progress output', () => {
  test('--json: NDJSON events that add up to the bytes written', async () => {
    const cache = await tempDir();
    const result = await pullWith(cache, '--json', `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    const events = parseEvents(result.stdout);
    expect(events[0]).toMatchObject({ type: 'resolved', imageId: big.config.digest, layers: 2 });
    expect(events.at(-2)).toMatchObject({ type: 'image-done' });
    const done = events.filter((e): e is Extract<PullEvent, { type: 'blob-done' }> => e.type === 'blob-done');
    const written = [big.config, ...big.layers].reduce((sum, b) => sum + b.size, 0);
    // The last line is the run's summary, whose totals add up too.
    expect(events.at(-1)).toMatchObject({
      type: 'summary',
      images: 1,
      totals: { bytes: written, downloadedBytes: written },
    });
    expect(done.reduce((sum, e) => sum + e.bytes, 0)).toBe(written);
    expect(done.every((e) => e.source === 'registry')).toBe(true);
    const progress = events.filter(
      (e): e is Extract<PullEvent, { type: 'blob-progress' }> =>
        e.type === 'blob-progress' && e.digest === heavyLayer().digest,
    );
    expect(progress.at(-1)!.bytes).toBe(heavyLayer().size);
    expect(progress.every((e, i) => i === 0 || e.bytes >= progress[i - 1]!.bytes)).toBe(true);
    const files = await Promise.all(
      layerIds(big.layers.map((l) => l.digest)).map((id) => stat(join(result.output, id, 'layer.tar'))),
    );
    const config = await stat(join(result.output, `${big.config.digest.slice(7)}.json`));
    expect(files.reduce((sum, f) => sum + f.size, config.size)).toBe(written);
  });

  test('not a TTY: plain lines, a start and a finish per blob, no carriage-return redraws', async () => {
    server.behaviour.throttleBytesPer10ms = 256 * 1024;
    const result = await pullWith(await tempDir(), `${server.host}/big/app:1`);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toMatch(/\r|\x1b\[/);
    for (const blob of [big.config, ...big.layers]) {
      const short = blob.digest.slice(7, 19);
      expect(result.stderr).toMatch(new RegExp(`^start  ${short} `, 'm'));
      expect(result.stderr).toMatch(new RegExp(`^done   ${short} .* from registry$`, 'm'));
    }
  });

  test('a terminal: live lines with bars and a total, redrawn in place, a line per finished blob, the summary', async () => {
    server.behaviour.throttleBytesPer10ms = 256 * 1024;
    const output = await tempDir();
    const { code, screen } = await runCliInTerminal(['pull', '-o', output, `${server.host}/big/app:1`], {
      FROZEN_CACHE: await tempDir(),
    });
    expect(code).toBe(0);
    expect(screen).toMatch(/\x1b\[\d+F\x1b\[J/); // moved up over the live region and cleared it
    const lines = screen.replace(/\x1b\[\d+F\x1b\[J/g, '\n').split(/\r?\n/);
    const heavy = heavyLayer().digest.slice(7, 19);
    // Drawn the whole width of the bar, though script's terminal does not say how wide it is.
    expect(lines).toContainEqual(
      expect.stringMatching(new RegExp(`^layer  ${heavy} \\[=*\\s*\\] [\\d.]+ [kM]?B/[\\d.]+ MB$`)),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^total  [\d.]+ [kM]?B\/[\d.]+ MB  [\d.]+ [kM]?B\/s/));
    for (const blob of [big.config, ...big.layers]) {
      expect(lines).toContainEqual(
        expect.stringMatching(new RegExp(`^(config|layer) +${blob.digest.slice(7, 19)} done, .* from registry$`)),
      );
    }
    expect(lines).toContain(`  image ID  ${big.config.digest}`);
    expect((await loadWithSkopeo(output)).imageId).toBe(big.config.digest);
  });
});

describe('many blobs at once', () => {
  test('40 layers download concurrently, and with -q stderr stays empty (no listener-leak warning)', async () => {
    const many = image({
      layers: await Promise.all(
        Array.from({ length: 40 }, (_, i) => layer([{ type: 'file', name: `l${i}`, content: `layer ${i}\n` }])),
      ),
    });
    server.serve('many/app', '1', many);
    const result = await pullWith(await tempDir(), '-q', `${server.host}/many/app:1`);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect((await loadWithSkopeo(result.output)).imageId).toBe(many.config.digest);
  });
});

async function sizeOf(path: string): Promise<number> {
  return stat(path).then(
    (s) => s.size,
    () => 0,
  );
}
