import { mkdtemp, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { acquireLock, tryLock } from '../../src/util/file-lock.js';

/** util/file-lock.ts: the cross-process lock per blob, and the try-lock prune takes before removing a partial. */

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
