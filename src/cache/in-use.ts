/**
 * Marks of the pulls running on a cache, so that `prune` never takes a blob from under one. A pull marks every blob
 * it uses by its mtime (a download is new, a cached blob is touched), and prune spares whatever was used since the
 * oldest running pull began. A mark is a file naming its process and start; the holder refreshes its mtime, and a
 * mark whose process is gone (same host), or that has not been refreshed for a while (another host), is void.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createExclusive } from '../util/files.js';
import { makeDirectory } from '../util/make-directory.js';
import { DEFAULT_STALE_MS, heartbeat, isStale } from '../util/file-lock.js';

/** A running pull's mark: its process, its host and when it began. */
interface Mark {
  readonly pid: number;
  readonly host: string;
  readonly started: number;
}

/** Marks the cache in use from now until the returned function is called. */
export async function markInUse(dir: string): Promise<() => Promise<void>> {
  await makeDirectory(dir);
  const path = join(dir, `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  const mark: Mark = { pid: process.pid, host: hostname(), started: Date.now() };
  await createExclusive(path, JSON.stringify(mark));
  const stopHeartbeat = heartbeat(path, DEFAULT_STALE_MS);
  return async () => {
    stopHeartbeat();
    await unlink(path).catch(() => undefined);
  };
}

/** When the oldest running pull began (epoch ms), or undefined when none runs. Void marks are removed. */
export async function oldestUse(dir: string): Promise<number | undefined> {
  let oldest: number | undefined;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const path = join(dir, name);
    const mark = await readMark(path);
    if (await isStale(path, mark, DEFAULT_STALE_MS)) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (mark) oldest = Math.min(oldest ?? mark.started, mark.started);
  }
  return oldest;
}

async function readMark(path: string): Promise<Mark | undefined> {
  try {
    const mark = JSON.parse(await readFile(path, 'utf8')) as Mark;
    return Number.isSafeInteger(mark.pid) && typeof mark.host === 'string' && Number.isFinite(mark.started)
      ? mark
      : undefined;
  } catch {
    return undefined; // gone meanwhile, or being written
  }
}
