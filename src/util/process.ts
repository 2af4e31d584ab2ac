/** Processes on this host: whether one is alive, and clearing what dead ones left behind. */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** Whether a process with this pid exists on this host (EPERM: it exists but is not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the folders in `root` named `<prefix><pid>-…` whose process is gone (killed, or crashed): the scratch
 * and staging folders of runs that could not clean up after themselves.
 */
export async function removeOrphans(root: string, prefix: string): Promise<void> {
  for (const name of await readdir(root)) {
    const match = /^(\d+)-/.exec(name.startsWith(prefix) ? name.slice(prefix.length) : '');
    if (match && !processAlive(Number(match[1]))) await rm(join(root, name), { recursive: true, force: true });
  }
}
