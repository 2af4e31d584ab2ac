import { mkdtemp, open, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { BlobCache } from '../../src/cache/blob-cache.js';
import { markInUse, oldestUse } from '../../src/cache/in-use.js';
import { readV1Record, writeV1Record } from '../../src/cache/v1-record.js';
import { digestOf } from '../../src/digest.js';

/** cache/: what enters the blob cache and what prune takes from it, and the in-use marks of running pulls. */

describe('in-use marks (what prune spares)', () => {
  const deadPid = 2 ** 22 + 1; // above Linux's pid_max: never a live process

  test('a running pull counts from its start; its mark goes when released', async () => {
    const dir = join(await mkdtemp(join(tmpdir(), 'frozen-in-use-')), 'in-use');
    expect(await oldestUse(dir)).toBeUndefined();
    const before = Date.now();
    const release = await markInUse(dir);
    const since = await oldestUse(dir);
    expect(since).toBeGreaterThanOrEqual(before);
    expect(since).toBeLessThanOrEqual(Date.now());
    await release();
    expect(await readdir(dir)).toEqual([]);
  });

  test('a blob a running pull has found is spared by prune, even one last used long ago', async () => {
    const store = new BlobCache(await mkdtemp(join(tmpdir(), 'frozen-in-use-')));
    await store.createFolder();
    const bytes = Buffer.from('a layer used long ago');
    const digest = digestOf(bytes);
    await store.putBytes(digest, bytes);
    const longAgo = new Date(Date.now() - 30 * 86_400_000);
    await utimes(store.blobPath(digest), longAgo, longAgo);
    const release = await store.markInUse();
    // Found, and so marked used in the same step: a prune from now on cannot take it from under the pull.
    expect(await store.use(digest, bytes.length)).toBe(true);
    expect((await store.prune()).blobs).toEqual([]);
    await release();
    expect((await store.prune()).blobs.map((blob) => blob.digest.value)).toEqual([digest.value]);
    expect(await store.use(digest)).toBe(false);
  });

  test('marks of dead processes, and stale or unreadable ones from elsewhere, are void and removed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'frozen-in-use-'));
    const longAgo = new Date(Date.now() - 120_000);
    await writeFile(join(dir, 'dead.json'), JSON.stringify({ pid: deadPid, host: hostname(), started: 1 }));
    await writeFile(join(dir, 'stale.json'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 2 }));
    await writeFile(join(dir, 'torn.json'), '{"pid":');
    await utimes(join(dir, 'stale.json'), longAgo, longAgo);
    await utimes(join(dir, 'torn.json'), longAgo, longAgo);
    await writeFile(join(dir, 'fresh.json'), JSON.stringify({ pid: 1, host: 'elsewhere', started: 3 }));
    expect(await oldestUse(dir)).toBe(3);
    expect(await readdir(dir)).toEqual(['fresh.json']);
  });
});

describe('BlobCache', () => {
  async function cacheWith(
    blobs: Record<string, number>,
  ): Promise<{ cache: BlobCache; digests: Record<string, string> }> {
    const cache = new BlobCache(await mkdtemp(join(tmpdir(), 'frozen-cache-')));
    const digests: Record<string, string> = {};
    for (const [name, daysAgo] of Object.entries(blobs)) {
      const bytes = Buffer.from(`blob ${name}`.padEnd(100, '.'));
      const digest = digestOf(bytes);
      await cache.putBytes(digest, bytes);
      const then = new Date(Date.now() - daysAgo * 86_400_000);
      await utimes(cache.blobPath(digest), then, then);
      digests[name] = digest.value;
    }
    return { cache, digests };
  }
  const listed = async (cache: BlobCache) => (await cache.list()).map((blob) => blob.digest.value).sort();

  test('prune --older-than removes what was not used for that long, and keeps the rest', async () => {
    const { cache, digests } = await cacheWith({ old: 40, recent: 1 });
    const removed = await cache.prune({ olderThanMs: 30 * 86_400_000 });
    expect(removed.blobs.map((blob) => blob.digest.value)).toEqual([digests.old]);
    expect(await listed(cache)).toEqual([digests.recent]);
  });

  test('prune --max-size removes the least recently used first, until the cache fits', async () => {
    const { cache, digests } = await cacheWith({ oldest: 30, middle: 20, newest: 10 });
    await cache.prune({ maxBytes: 150 }); // each blob is 100 bytes
    expect(await listed(cache)).toEqual([digests.newest]);
  });

  test('prune with no option removes every blob, partial and tag record; a partial a live process downloads stays', async () => {
    const { cache } = await cacheWith({ a: 1, b: 2 });
    const busy = digestOf(Buffer.from('busy'));
    const idle = digestOf(Buffer.from('idle'));
    await writeFile(cache.partialPath(busy), 'half');
    await writeFile(cache.partialPath(idle), 'half');
    await writeFile(cache.lockPath(busy), JSON.stringify({ pid: process.pid, host: hostname(), token: 'x' }));
    await cache.rememberTag('registry.test/team/app:1');
    const removed = await cache.prune();
    expect(removed.blobs).toHaveLength(2);
    expect(removed.partials.map((partial) => partial.path)).toEqual([cache.partialPath(idle)]);
    expect((await cache.partials()).map((partial) => partial.path)).toEqual([cache.partialPath(busy)]);
    expect(await cache.knowsTag('registry.test/team/app:1')).toBe(false);
  });

  test('a partial written in ranges counts what the disk holds of it, not its length (its holes are not there yet)', async () => {
    const { cache } = await cacheWith({ a: 1 });
    const ranged = digestOf(Buffer.from('ranged'));
    const file = await open(cache.partialPath(ranged), 'w');
    await file.write(Buffer.alloc(4096, 1), 0, 4096, 0); // the first range's start
    await file.write(Buffer.alloc(4096, 1), 0, 4096, 64 * 1024 * 1024 - 4096); // and the last's end: 64 MiB long
    await file.close();
    const [partial] = await cache.partials();
    expect((await stat(partial!.path)).size).toBe(64 * 1024 * 1024);
    expect(partial!.size).toBeGreaterThanOrEqual(8192);
    expect(partial!.size).toBeLessThan(1024 * 1024);
  });

  test("a v1 layer's record goes with its blob", async () => {
    const { cache, digests } = await cacheWith({ layer: 40 });
    const files = cache.v1LayerFiles('registry.test:5000', 'a'.repeat(64));
    const record = { digest: digests.layer!, size: 100, diffId: digests.layer!, compressed: false };
    await writeV1Record(files.record, record);
    expect(files.record).toBe(join(cache.root, 'v1', 'registry.test_5000', `${'a'.repeat(64)}.json`));
    await cache.prune({ olderThanMs: 30 * 86_400_000 });
    expect(await readV1Record(files.record)).toBeUndefined();
  });

  test('small bytes are read back only while they still hash to their digest', async () => {
    const { cache, digests } = await cacheWith({ manifest: 1 });
    const digest = (await cache.list())[0]!.digest;
    expect((await cache.readSmall(digest, 1000))?.toString()).toMatch(/^blob manifest/);
    expect(await cache.readSmall(digest, 10)).toBeUndefined(); // larger than the limit
    await writeFile(cache.blobPath(digest), 'tampered');
    expect(await cache.readSmall(digest, 1000)).toBeUndefined();
    expect(digests.manifest).toBe(digest.value);
  });
});
