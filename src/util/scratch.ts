/** Scratch folders: one per run under a root, removed after it; those of processes that no longer exist go first. */
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { removeOrphans } from './process.js';

const SCRATCH_PREFIX = 'scratch-';

/** A new scratch folder under `root`, after removing the ones dead processes left there. */
export async function openScratch(root: string): Promise<string> {
  await removeOrphans(root, SCRATCH_PREFIX);
  return mkdtemp(join(root, `${SCRATCH_PREFIX}${process.pid}-`));
}
