import { mkdtemp, readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { digestOf } from '../../src/digest.js';
import { BlobCache } from '../../src/cache/blob-cache.js';
import { markInUse, oldestUse } from '../../src/cache/in-use.js';
import { acquireLock, tryLock } from '../../src/util/file-lock.js';
import { Scheduler, SMALL_BLOB_BYTES } from '../../src/transfer/scheduler.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('Scheduler', () => {
  test('a small blob does not wait behind large ones that fill every slot', async () => {
    const scheduler = new Scheduler(2, 2);
    const gate = deferred();
    const large = [1, 2, 3].map(() => scheduler.run('registry', 100 * SMALL_BLOB_BYTES, () => gate.promise));
    let smallRan = false;
    await scheduler.run('registry', 1000, async () => {
      smallRan = true;
    });
    expect(smallRan).toBe(true);
    gate.resolve();
    await Promise.all(large);
  });

  test('large blobs respect the per-host cap and the global limit', async () => {
    const scheduler = new Scheduler(3, 2);
    const running = { a: 0, b: 0, max: { a: 0, b: 0, total: 0 } };
    const gate = deferred();
    const task = (host: 'a' | 'b') => async () => {
      running[host]++;
      running.max[host] = Math.max(running.max[host], running[host]);
      running.max.total = Math.max(running.max.total, running.a + running.b);
      await gate.promise;
      running[host]--;
    };
    const all = [...Array(4)].flatMap(() => [
      scheduler.run('a', 2 * SMALL_BLOB_BYTES, task('a')),
      scheduler.run('b', 2 * SMALL_BLOB_BYTES, task('b')),
    ]);
    await new Promise((r) => setTimeout(r, 20));
    gate.resolve();
    await Promise.all(all);
    expect(running.max.a).toBeLessThanOrEqual(2);
    expect(running.max.b).toBeLessThanOrEqual(2);
    expect(running.max.total).toBe(3);
  });
});

describe('acquireLock', () => {
  const lockFile = async () => join(await mkdtemp(join(tmpdir(), 'frozen-lock-')), 'x.lock');

  test('a second taker waits until the first releases', async () => {
    const path = await lockFile();
    const release = await acquireLock(path);
    let second = false;
    let waited = false;
    const pending = acquireLock(path, { pollMs: 5, onWait: () => (waited = true) }).then((r) => {
      second = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(second).toBe(false);
    expect(waited).toBe(true);
    await release();
    const releaseSecond = await pending;
    expect(second).toBe(true);
    await releaseSecond();
    await expect(stat(path)).rejects.toThrow();
  });

  test('a lock held by a process that no longer exists is broken at once', async () => {
    const path = await lockFile();
    await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), token: 'dead' }));
    const started = Date.now();
    const release = await acquireLock(path, { staleMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid);
    await release();
  });

  test('a lock from another host is stale once it stops being refreshed', async () => {
    const path = await lockFile();
    await writeFile(path, JSON.stringify({ pid: 1, host: 'elsewhere', token: 'far' }));
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    const release = await acquireLock(path, { staleMs: 60_000 });
    expect(JSON.parse(await readFile(path, 'utf8')).host).toBe(hostname());
    await release();
  });

  test('a fresh lock from another host is respected until the signal aborts', async () => {
    const path = await lockFile();
    await writeFile(path, JSON.stringify({ pid: 1, host: 'elsewhere', token: 'alive' }));
    await expect(acquireLock(path, { signal: AbortSignal.timeout(100), pollMs: 10 })).rejects.toThrow();
    expect(JSON.parse(await readFile(path, 'utf8')).token).toBe('alive');
  });
});

describe('tryLock (what cache prune takes before removing a partial)', () => {
  const lockFile = async () => join(await mkdtemp(join(tmpdir(), 'frozen-lock-')), 'x.lock');

  test('a free lock is taken, and a taker that waits for it gets it only once it is released', async () => {
    const path = await lockFile();
    const release = await tryLock(path);
    expect(release).toBeDefined();
    expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid);
    let taken = false;
    const waiting = acquireLock(path, { pollMs: 5 }).then((r) => ((taken = true), r));
    await new Promise((r) => setTimeout(r, 50));
    expect(taken).toBe(false);
    await release!();
    await (
      await waiting
    )();
  });

  test('a live holder is not waited for: undefined at once, and the lock stays its own', async () => {
    const path = await lockFile();
    const release = await acquireLock(path);
    const started = Date.now();
    expect(await tryLock(path)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1000);
    await writeFile(path, JSON.stringify({ pid: 1, host: 'elsewhere', token: 'alive' }));
    expect(await tryLock(path)).toBeUndefined();
    expect(JSON.parse(await readFile(path, 'utf8')).token).toBe('alive');
    await release();
  });

  test('a lock whose process is gone, or that another host stopped refreshing, is broken and taken', async () => {
    const path = await lockFile();
    await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), token: 'dead' }));
    const release = await tryLock(path);
    expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid);
    await release!();
    await writeFile(path, JSON.stringify({ pid: 1, host: 'elsewhere', token: 'far' }));
    const old = new Date(Date.now() - 120_000);
    await utimes(path, old, old);
    const again = await tryLock(path, 60_000);
    expect(JSON.parse(await readFile(path, 'utf8')).host).toBe(hostname());
    await again!();
    await expect(stat(path)).rejects.toThrow();
  });
});

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
