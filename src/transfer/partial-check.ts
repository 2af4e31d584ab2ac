/**
 * The check a download makes before its partial file becomes a blob: the file at the partial's path must still be
 * the one this download wrote, and hold what it wrote. One removed or replaced meanwhile (by hand; `cache prune`
 * takes the lock first) would otherwise put other bytes under a digest the received bytes matched.
 */
import { stat, truncate, type FileHandle } from 'node:fs/promises';
import { FrozenError } from '../errors.js';

/** The partial changed on disk while it was written: it has been emptied, and the blob is to be fetched again. */
export class PartialChanged extends FrozenError {
  constructor(name: string) {
    super('network', `${name}: the partial download changed on disk while it was written; starting over`);
  }
}

/** Throws PartialChanged (after emptying whatever is at `partial`) unless `file` is still there, `bytes` long. */
export async function expectStillThere(partial: string, name: string, file: FileHandle, bytes: number): Promise<void> {
  const written = await file.stat();
  const atPath = await stat(partial).catch(() => undefined);
  // The inode number alone: no other file can have it while this one is open, and old overlayfs kernels (a Docker
  // build's RUN step) report the device differently through a path and through an open file.
  if (atPath && atPath.ino === written.ino && atPath.size === bytes && written.size === bytes) return;
  if (atPath) await truncate(partial, 0);
  throw new PartialChanged(name);
}
