/** `mkdir -p` that also works where Node's recursive mkdir loops forever. */
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p`. Node's own `mkdir(path, { recursive: true })` never returns where a file system answers ENOENT for a
 * folder whose parent exists (`/proc`, sysfs): it makes the parent, finds it there, and tries again, forever.
 * Here the folder is tried once more after its parent is made (another call may be making the same parent), and
 * an ENOENT then is the error.
 */
export async function makeDirectory(path: string): Promise<void> {
  const first = await tryMakeDirectory(path);
  if (!first) return;
  const parent = dirname(path);
  if (parent === path) throw first;
  await makeDirectory(parent);
  const second = await tryMakeDirectory(path);
  if (second) throw second;
}

/** Makes the folder: undefined when it is made or already a folder, the ENOENT error when it cannot be made here. */
async function tryMakeDirectory(path: string): Promise<NodeJS.ErrnoException | undefined> {
  try {
    await mkdir(path);
    return undefined;
  } catch (error) {
    const failure = error as NodeJS.ErrnoException;
    if (
      failure.code === 'EEXIST' &&
      (await stat(path).then(
        (info) => info.isDirectory(),
        () => false,
      ))
    )
      return undefined;
    if (failure.code === 'ENOENT') return failure;
    throw failure;
  }
}
