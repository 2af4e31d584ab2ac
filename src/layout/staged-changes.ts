/** Changes to a directory staged beside it and applied by renames at the end, undone if any fails. */
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { exists, inodeKey, linkOrCopy } from '../util/files.js';

/** A folder made ahead in staging, and the files in it. */
export interface PreparedFolder {
  readonly path: string;
  readonly files: readonly string[];
}

/** One rename that `apply` makes: a staged file or folder onto its place, and how to undo it. */
interface Move {
  readonly staged: string;
  readonly target: string;
  /** The file that was at `target`, kept (hard-linked) to put back; absent when `target` is new. */
  readonly backup?: string;
  /** Whether `target` was there before: a new one is removed again on rollback. */
  readonly replaces: boolean;
}

/**
 * Changes to a directory, written into a staging folder inside it (so on the same file system) and applied by
 * renames at the end: whatever fails while bytes are written, a full disk above all, leaves the directory as it was,
 * and a rename that fails undoes the ones before it. A new folder is built whole in staging and renamed in once.
 * Paths are relative to the directory; the caller holds whatever lock keeps others from changing it meanwhile.
 */
export class StagedChanges {
  /** Targets in the order they were first staged, which is the order `apply` renames them in. */
  private readonly moves = new Map<string, Move>();
  private readonly newFolders = new Set<string>();
  /** Files written into new folders: any other path in one is known to be absent, with no need to look. */
  private readonly writtenInNewFolders = new Set<string>();
  private counter = 0;

  constructor(
    private readonly root: string,
    private readonly staging: string,
  ) {}

  /**
   * Makes sure `folder` will exist: one that is not there yet is built in staging, or is `prepared`, a folder made
   * ahead in staging holding `files`, taken as it is (its files count as written). Says whether it was taken.
   */
  async folder(folder: string, prepared?: PreparedFolder): Promise<boolean> {
    if (this.newFolders.has(folder) || (await exists(join(this.root, folder)))) return false;
    const staged = prepared?.path ?? this.stagedName();
    if (!prepared) await mkdir(staged);
    this.newFolders.add(folder);
    this.moves.set(folder, { staged, target: join(this.root, folder), replaces: false });
    for (const file of prepared?.files ?? []) this.writtenInNewFolders.add(join(folder, file));
    return prepared !== undefined;
  }

  /** Whether the file at `path`, as the changes so far leave it, has any bytes. */
  async hasContent(path: string): Promise<boolean> {
    if (this.absent(path)) return false;
    return stat(this.current(path)).then(
      (s) => s.size > 0,
      () => false,
    );
  }

  /** Writes `content` at `path` (a small file), unless the file there holds exactly that already. */
  async write(path: string, content: string | Uint8Array): Promise<void> {
    if (this.absent(path)) return this.writeNew(path, () => writeFile(this.inNewFolder(path)!, content));
    const existing = await readFile(this.current(path)).catch(() => undefined);
    if (existing?.equals(typeof content === 'string' ? Buffer.from(content) : content)) return;
    await writeFile(await this.stagedFor(path, true), content);
  }

  /** Puts the verified `blob` at `path`, hard-linked (or copied), unless that file is there already as a link. */
  async place(path: string, blob: string, copy: boolean): Promise<void> {
    if (this.absent(path)) return this.writeNew(path, () => linkOrCopy(blob, this.inNewFolder(path)!, copy));
    if (!copy && (await sameFile(blob, this.current(path)))) return;
    await linkOrCopy(blob, await this.stagedFor(path, false), copy);
  }

  /** Renames everything into place, in order; if one rename fails, the ones before it are undone. */
  async apply(): Promise<void> {
    const applied: Move[] = [];
    try {
      for (const move of this.moves.values()) {
        await rename(move.staged, move.target);
        applied.push(move);
      }
    } catch (error) {
      for (const move of applied.reverse()) await undo(move).catch(() => undefined);
      throw error;
    }
  }

  /** Where `path` is now: inside a new folder's staging, a staged replacement, or the directory's own file. */
  private current(path: string): string {
    const staged = this.moves.get(path)?.staged ?? this.inNewFolder(path);
    return staged ?? join(this.root, path);
  }

  /** A path in a new folder that nothing has been written to yet: the fast way for a folder's first files. */
  private absent(path: string): boolean {
    return this.newFolders.has(dirname(path)) && !this.writtenInNewFolders.has(path);
  }

  private async writeNew(path: string, make: () => Promise<void>): Promise<void> {
    this.writtenInNewFolders.add(path);
    await make();
  }

  private inNewFolder(path: string): string | undefined {
    const folder = dirname(path);
    return this.newFolders.has(folder)
      ? join(this.moves.get(folder)!.staged, path.slice(folder.length + 1))
      : undefined;
  }

  /**
   * A staging path to write `path`'s new bytes to: inside its new folder, or a fresh name (a file staged before is
   * dropped). A file it replaces is kept for rollback: hard-linked, or for small files copied where links fail.
   */
  private async stagedFor(path: string, small: boolean): Promise<string> {
    const inFolder = this.inNewFolder(path);
    if (inFolder) {
      await rm(inFolder, { force: true });
      return inFolder;
    }
    const target = join(this.root, path);
    const earlier = this.moves.get(path);
    if (earlier) {
      await rm(earlier.staged, { force: true });
      return earlier.staged;
    }
    const replaces = await exists(target);
    const backup = replaces ? await this.keep(target, small) : undefined;
    const staged = this.stagedName();
    this.moves.set(path, { staged, target, replaces, ...(backup && { backup }) });
    return staged;
  }

  private async keep(target: string, small: boolean): Promise<string | undefined> {
    const backup = this.stagedName();
    return link(target, backup).then(
      () => backup,
      () => (small ? copyFile(target, backup).then(() => backup) : undefined),
    );
  }

  private stagedName(): string {
    return join(this.staging, `change-${this.counter++}`);
  }
}

async function undo(move: Move): Promise<void> {
  if (move.backup) await rename(move.backup, move.target);
  else if (!move.replaces) await rm(move.target, { recursive: true, force: true });
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return x !== undefined && y !== undefined && inodeKey(x) === inodeKey(y);
}
