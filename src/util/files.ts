/** File helpers: atomic writes, exclusive creation, links or copies (reflinks where possible), containment checks. */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  copyFile,
  link,
  lstat,
  open,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { join, sep } from 'node:path';
import { FrozenError } from '../errors.js';

/** A name beside `path` for a file on its way there: unique to this write, whoever else writes beside it. */
function temporaryName(path: string): string {
  return `${path}.frozen-${randomBytes(6).toString('hex')}`;
}

/** Writes a file under a temporary name and renames it into place: readers see the old file or the whole new one. */
export function writeFileAtomic(path: string, content: string | Uint8Array): Promise<void> {
  return viaTemporary(path, (temp) => writeFile(temp, content));
}

/** Whether the absolute path `inner` is `outer` or inside it (both normalized, or both real paths). */
export function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(sep) ? outer : `${outer}${sep}`);
}

/** A file's identity on this machine, `dev:ino`: two names with one key are hard links to one file. */
export function inodeKey(info: { readonly dev: number; readonly ino: number }): string {
  return `${info.dev}:${info.ino}`;
}

/** Of `names` (relative to `root`), the regular files that have more than one name, grouped by inode, in order. */
export async function hardLinkedByInode(root: string, names: readonly string[]): Promise<Map<string, string[]>> {
  const stats = await Promise.all(names.map((name) => lstat(join(root, name)).catch(() => undefined)));
  const byInode = new Map<string, string[]>();
  for (const [index, info] of stats.entries()) {
    if (!info?.isFile() || info.nlink < 2) continue;
    byInode.set(inodeKey(info), [...(byInode.get(inodeKey(info)) ?? []), names[index]!]);
  }
  return byInode;
}

/**
 * Creates `path` holding `content`, or answers false when it exists. A write that fails (a full disk) removes the
 * file it created, so nobody finds an empty one and waits to learn whose it is.
 */
export async function createExclusive(path: string, content: string): Promise<boolean> {
  let file: FileHandle;
  try {
    file = await open(path, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await file.writeFile(content);
  } catch (error) {
    await file.close().catch(() => undefined);
    await unlink(path).catch(() => undefined);
    throw error;
  }
  await file.close();
  return true;
}

/**
 * Fails, naming `target` and the reason (EROFS, EACCES), when files cannot be made in `folder`: checked before a
 * download whose result goes there, rather than after it. A folder that does not exist yet passes.
 */
export async function assertWritableFolder(folder: string, target: string): Promise<void> {
  await access(folder, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return;
    throw new FrozenError('output', `cannot write ${target}: ${folder} is not writable (${error.code})`, {
      cause: error,
    });
  });
}

/** Whether anything is at `path`. */
export function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * A copy of `from` that shares its blocks where the file system can (a reflink on btrfs or XFS: independent files,
 * bytes stored once, made in constant time), and a plain copy elsewhere.
 */
function cloneOrCopy(from: string, to: string): Promise<void> {
  return copyFile(from, to, constants.COPYFILE_FICLONE);
}

/**
 * A hard link to `from` (its bytes stored once), or a copy when asked or across file systems (btrfs subvolumes
 * refuse hard links between them but share blocks with a reflink).
 */
export async function linkOrCopy(from: string, to: string, copy: boolean): Promise<void> {
  if (copy) await cloneOrCopy(from, to);
  else await link(from, to).catch(() => cloneOrCopy(from, to));
}

/** Puts `from` at `to` atomically (linked or copied under a temporary name, then renamed); `to` may exist. */
export function placeFile(from: string, to: string, copy: boolean): Promise<void> {
  return viaTemporary(to, (temp) => linkOrCopy(from, temp, copy));
}

/** `fill` makes the file under a temporary name beside `path`, which is then renamed into place (or removed). */
async function viaTemporary(path: string, fill: (temp: string) => Promise<void>): Promise<void> {
  const temp = temporaryName(path);
  try {
    await fill(temp);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
