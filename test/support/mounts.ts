import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export const MKFS_XFS = '/sbin/mkfs.xfs';

/** File systems of the tests' own (a small tmpfs, XFS on a loop device) need root to mount; CI sets FROZEN_REQUIRE_MOUNTS=1. */
export const mountsWanted = process.getuid?.() === 0 || process.env.FROZEN_REQUIRE_MOUNTS === '1';

/** CI installs xfsprogs as well. */
export const xfsWanted = (existsSync(MKFS_XFS) && mountsWanted) || process.env.FROZEN_REQUIRE_MOUNTS === '1';

/** A tmpfs of a size the test chooses, to fill up. */
export interface ScratchTmpfs {
  readonly root: string;
  /** Mounts it again with other options: `size=…` to make room, `ro` to make it read-only. */
  remount(options: string): Promise<void>;
  stop(): Promise<void>;
}

export async function mountTmpfs(bytes: number): Promise<ScratchTmpfs> {
  const root = await mkdtemp('/tmp/frozen-tmpfs-');
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'frozen-test', root]);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }
  return {
    root,
    remount: async (options) => void (await exec('mount', ['-o', `remount,${options}`, root])),
    async stop() {
      await exec('umount', [root]);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** A small (mkfs.xfs makes none under 300 MB; the image file is sparse) XFS file system with reflinks, on a loop device of its own, for tests of copies that share blocks. */
export interface ScratchXfs {
  readonly root: string;
  /** Bytes in use, after the file system has written out what it holds back (XFS allocates blocks late). */
  used(): Promise<number>;
  stop(): Promise<void>;
}

export async function mountXfs(megabytes = 320): Promise<ScratchXfs> {
  const dir = await mkdtemp('/tmp/frozen-xfs-');
  const image = join(dir, 'fs.img');
  const root = join(dir, 'mnt');
  try {
    await mkdir(root);
    await exec('truncate', ['-s', `${megabytes}M`, image]);
    await exec(MKFS_XFS, ['-q', '-m', 'reflink=1', image]);
    await exec('mount', ['-o', 'loop', image, root]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    root,
    async used() {
      await exec('sync', ['-f', root]);
      const stats = await statfs(root);
      return (stats.blocks - stats.bfree) * stats.bsize;
    },
    async stop() {
      await exec('umount', [root]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
