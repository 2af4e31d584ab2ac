/**
 * A cross-process lock file per blob, so several `frozen` processes sharing one cache download each blob once.
 * The holder refreshes the file's mtime; a lock is stale when its process is gone (same host: instant, so a re-run
 * right after `kill -9` does not wait) or when it has not been refreshed for `staleMs`.
 */
import { randomBytes } from 'node:crypto';
import { link, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrozenError, throwIfAborted } from '../errors.js';
import { createExclusive } from './files.js';
import { processAlive } from './process.js';

/** How `acquireLock` waits: its signal, when a lock is stale, how often to look, and who hears that it waits. */
export interface LockOptions {
  readonly signal?: AbortSignal;
  readonly staleMs?: number;
  readonly pollMs?: number;
  /** Called while waiting on another process, once. */
  readonly onWait?: () => void;
  /** Called at every poll while waiting on another process. */
  readonly onPoll?: () => void;
}

interface LockOwner {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
}

/** How long a file from another host may go without a heartbeat before it counts as abandoned. */
export const DEFAULT_STALE_MS = 30_000;
const DEFAULT_POLL_MS = 50;

/** Takes the lock at `path`, waiting while a live holder has it; resolves to the function that releases it. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const me = newOwner();
  let waited = false;
  for (;;) {
    throwIfAborted(options.signal);
    if (await tryCreate(path, me)) return holdLock(path, me, staleMs);
    const owner = await readOwner(path);
    if (owner === 'gone') continue;
    if (await isStale(path, owner, staleMs)) {
      await breakLock(path, owner);
      continue;
    }
    if (!waited) options.onWait?.();
    waited = true;
    options.onPoll?.();
    await sleep(options.pollMs ?? DEFAULT_POLL_MS, undefined, options.signal ? { signal: options.signal } : {});
  }
}

/**
 * The lock if nobody holds it (a stale one is broken first), else undefined at once: for work that must not
 * overlap a download but need not wait for one, such as `cache prune` removing a partial.
 */
export async function tryLock(path: string, staleMs = DEFAULT_STALE_MS): Promise<(() => Promise<void>) | undefined> {
  const me = newOwner();
  // A few rounds: a lock may vanish or be broken by someone else between two looks. Giving up means "held".
  for (let round = 0; round < 3; round++) {
    if (await tryCreate(path, me)) return holdLock(path, me, staleMs);
    const owner = await readOwner(path);
    if (owner === 'gone') continue;
    if (!(await isStale(path, owner, staleMs))) return undefined;
    await breakLock(path, owner);
  }
  return undefined;
}

function newOwner(): LockOwner {
  return { pid: process.pid, host: hostname(), token: randomBytes(8).toString('hex') };
}

async function tryCreate(path: string, me: LockOwner): Promise<boolean> {
  try {
    return await createExclusive(path, JSON.stringify(me));
  } catch (error) {
    throw new FrozenError('output', `cannot create the lock file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function holdLock(path: string, me: LockOwner, staleMs: number): () => Promise<void> {
  const stopHeartbeat = heartbeat(path, staleMs);
  return async () => {
    stopHeartbeat();
    const owner = await readOwner(path);
    if (owner !== 'gone' && owner?.token === me.token) await unlink(path).catch(() => undefined);
  };
}

/**
 * Refreshes the file's mtime three times per `staleMs` until the returned function is called, so other hosts can
 * tell a held file from an abandoned one. It does not keep the process alive.
 */
export function heartbeat(path: string, staleMs: number): () => void {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, staleMs / 3);
  timer.unref();
  return () => clearInterval(timer);
}

/** The lock's owner, undefined if unreadable (being written), 'gone' if the file vanished. */
async function readOwner(path: string): Promise<LockOwner | undefined | 'gone'> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as LockOwner;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : undefined;
  }
}

/**
 * Whether a lock-like file is abandoned: its owner's process is gone (same host), or it has not been refreshed
 * for `staleMs` (any host; also a file never finished, whose owner is unknown).
 */
export async function isStale(
  path: string,
  owner: { readonly pid: number; readonly host: string } | undefined,
  staleMs: number,
): Promise<boolean> {
  if (owner && owner.host === hostname() && !processAlive(owner.pid)) return true;
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > staleMs;
}

/**
 * Removes a stale lock without removing a fresh one another process has just taken: move it aside, and if what
 * was moved is not the stale lock we judged, put it back (link fails rather than overwrite a newer one).
 */
async function breakLock(path: string, stale: LockOwner | undefined): Promise<void> {
  const aside = `${path}.stale-${randomBytes(6).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch {
    return; // someone else broke it first
  }
  const moved = await readOwner(aside);
  if (stale && moved !== 'gone' && moved?.token !== stale.token) await link(aside, path).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}
