/**
 * The content-addressed cache: `blobs/<algorithm>/<hex>` holds only verified blobs (they enter by rename), with
 * `<hex>.partial` (a resumable download) and `<hex>.lock` (the process downloading it) beside them.
 */
import { readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { digestOf, parseDigest, sha256Hex, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import { makeDirectory } from '../util/make-directory.js';
import { markInUse, oldestUse } from './in-use.js';
import { tryLock } from '../util/file-lock.js';
import { readV1Record } from './v1-record.js';
import { fileMatches } from './verify-file.js';
import { exists, placeFile, writeFileAtomic } from '../util/files.js';

/** A verified blob in the cache. */
export interface CachedBlob {
  readonly digest: Digest;
  readonly size: number;
  /** Last time a pull used it (the file's mtime, refreshed on use). */
  readonly lastUsed: Date;
  readonly path: string;
}

/**
 * A download not finished: `blobs/<algorithm>/<hex>.partial`, or `v1/<registry>/<image ID>.partial` for a v1 layer,
 * beside the `.lock` of the process working on it, if any. The next pull resumes it.
 */
export interface PartialDownload {
  readonly path: string;
  readonly size: number;
  /** Its last write. */
  readonly lastUsed: Date;
}

/**
 * The blob cache at one root: where each file of it lives, and the verified ways blobs enter, are used and leave.
 */
export class BlobCache {
  /** Algorithm folders known to exist, so each is created once per process. */
  private readonly prepared = new Set<string>();

  constructor(readonly root: string) {}

  /** The cache at `path`, else the default one (`defaultRoot`), with an absolute root. */
  static at(path?: string): BlobCache {
    return new BlobCache(resolve(path ?? BlobCache.defaultRoot()));
  }

  /** `$FROZEN_CACHE`, else `$XDG_CACHE_HOME/frozen`, else `~/.cache/frozen`. */
  static defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
    if (env.FROZEN_CACHE) return env.FROZEN_CACHE;
    return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'frozen');
  }

  /** Where verified blobs live: `blobs/<algorithm>/<hex>`. */
  get blobsFolder(): string {
    return join(this.root, 'blobs');
  }

  /** A folder for a run's temporary files, beside the blobs so that files move between the two by link. */
  scratchFolder(): Promise<string> {
    return this.createFolder('tmp');
  }

  /**
   * The files of a v1 layer, which has no digest before it arrives: its partial download, lock and record
   * (`v1/<registry>/<image ID>.{partial,lock,json}`). The record maps the image ID to the blob's digest.
   */
  v1LayerFiles(registry: string, imageId: string): { partial: string; lock: string; record: string } {
    // The registry host was validated by the reference grammar; ':' and brackets are not wanted in a file name.
    const base = join(this.root, 'v1', registry.replace(/[^A-Za-z0-9.-]/g, '_'), imageId);
    return { partial: `${base}.partial`, lock: `${base}.lock`, record: `${base}.json` };
  }

  blobPath(digest: Digest): string {
    return join(this.blobsFolder, digest.algorithm, digest.hex);
  }

  partialPath(digest: Digest): string {
    return `${this.blobPath(digest)}.partial`;
  }

  lockPath(digest: Digest): string {
    return `${this.blobPath(digest)}.lock`;
  }

  /** Makes a folder of the cache (`blobs` unless told), or says plainly why the cache cannot be used. */
  async createFolder(folder = 'blobs'): Promise<string> {
    const path = join(this.root, folder);
    try {
      await makeDirectory(path);
    } catch (error) {
      const hint = 'choose another cache (the cache option, or $FROZEN_CACHE) or none (cache: false)';
      throw new FrozenError('output', `cannot use the cache at ${this.root}: ${(error as Error).message}; ${hint}`, {
        cause: error,
      });
    }
    return path;
  }

  async prepare(digest: Digest): Promise<void> {
    if (this.prepared.has(digest.algorithm)) return;
    await makeDirectory(join(this.blobsFolder, digest.algorithm));
    this.prepared.add(digest.algorithm);
  }

  /** A cached blob (of the right size, when known). Its bytes were verified when it entered the cache; `verify` re-checks. */
  async has(digest: Digest, size?: number): Promise<boolean> {
    const info = await stat(this.blobPath(digest)).catch(() => undefined);
    return info !== undefined && info.isFile() && (size === undefined || info.size === size);
  }

  /**
   * Whether the blob is here (of `size`, when given), for a pull about to use it: it is marked used first, so a
   * `prune` running meanwhile (it spares what was used since the oldest running pull began) either sees the mark
   * or has already removed the blob, which this then reports missing.
   */
  async use(digest: Digest, size?: number): Promise<boolean> {
    await this.touch(digest);
    return this.has(digest, size);
  }

  /** Moves a verified partial into the cache. */
  async commitPartial(digest: Digest): Promise<void> {
    await rename(this.partialPath(digest), this.blobPath(digest));
  }

  /** Keeps small verified bytes (a manifest) under their digest, unless already there intact. */
  async putBytes(digest: Digest, bytes: Uint8Array): Promise<void> {
    if (await this.readSmall(digest, bytes.length)) return; // intact, and now marked used
    await this.prepare(digest);
    await writeFileAtomic(this.blobPath(digest), bytes);
  }

  /**
   * Small bytes kept under their digest (a manifest), re-hashed as they are read, since nothing else checks them
   * before use. Absent, larger than `limit` (a layer named where a manifest was expected) or no longer matching:
   * undefined. A hit counts as a use, for prune.
   */
  async readSmall(digest: Digest, limit: number): Promise<Buffer | undefined> {
    const path = this.blobPath(digest);
    const info = await stat(path).catch(() => undefined);
    if (!info?.isFile() || info.size > limit) return undefined;
    const bytes = await readFile(path).catch(() => undefined);
    if (!bytes || digestOf(bytes, digest.algorithm).value !== digest.value) return undefined;
    await this.touch(digest);
    return bytes;
  }

  /**
   * Takes a file already verified elsewhere (a layer in an output directory) into the cache: by link, or by copy
   * when the output is on another file system.
   */
  async adopt(file: string, digest: Digest): Promise<void> {
    await this.prepare(digest);
    await placeFile(file, this.blobPath(digest), false);
  }

  /** Whether a tag (`registry/repository:tag`) was resolved through this cache before (see `rememberTag`). */
  knowsTag(name: string): Promise<boolean> {
    return exists(this.tagPath(name));
  }

  /**
   * Notes that a tag was resolved through this cache, which may keep its manifest now: the next resolution asks for
   * the tag's digest first (a HEAD), where a tag never seen here is fetched at once. A record holds the tag's name,
   * under a hash of it.
   */
  async rememberTag(name: string): Promise<void> {
    const [path, record] = [this.tagPath(name), `${name}\n`];
    await writeFile(path, record).catch(async (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
      await makeDirectory(join(this.root, TAGS));
      await writeFile(path, record);
    });
  }

  private tagPath(name: string): string {
    return join(this.root, TAGS, sha256Hex(name));
  }

  /** Marks the cache in use by this process (see in-use.ts) until the returned function is called. */
  markInUse(): Promise<() => Promise<void>> {
    return markInUse(this.inUseFolder);
  }

  private get inUseFolder(): string {
    return join(this.root, 'in-use');
  }

  /** Marks a blob as used now, for `prune --older-than` and size-bounded pruning (least recently used first). */
  async touch(digest: Digest): Promise<void> {
    const now = new Date();
    await utimes(this.blobPath(digest), now, now).catch(() => undefined);
  }

  async list(): Promise<CachedBlob[]> {
    const blobs: CachedBlob[] = [];
    for await (const { folder: algorithm, name, path } of this.files('blobs')) {
      const digest = tryDigest(`${algorithm}:${name}`);
      if (!digest) continue; // partials, locks, temporaries
      const file = await fileFacts(path);
      if (file) blobs.push({ digest, ...file });
    }
    return blobs.sort((a, b) => a.digest.value.localeCompare(b.digest.value));
  }

  /** Partial downloads, whether or not a process is working on them. */
  async partials(): Promise<PartialDownload[]> {
    const partials: PartialDownload[] = [];
    for (const area of ['blobs', 'v1']) {
      for await (const { name, path } of this.files(area)) {
        if (!name.endsWith('.partial')) continue;
        const file = await fileFacts(path, { allocated: true });
        if (file) partials.push(file);
      }
    }
    return partials;
  }

  /** The names in each folder of an area of the cache (`blobs/<algorithm>/`, `v1/<registry>/`); none if it is missing. */
  private async *files(area: string): AsyncGenerator<{ folder: string; name: string; path: string }> {
    for (const folder of await readdir(join(this.root, area)).catch(() => [])) {
      for (const name of await readdir(join(this.root, area, folder)).catch(() => []))
        yield { folder, name, path: join(this.root, area, folder, name) };
    }
  }

  /** Re-hashes every blob; removes and returns those whose bytes no longer match their name. */
  async verify(onBlob?: (blob: CachedBlob, ok: boolean) => void): Promise<CachedBlob[]> {
    const corrupt: CachedBlob[] = [];
    for (const blob of await this.list()) {
      const ok = await fileMatches(blob.path, blob.digest, blob.size);
      if (!ok) {
        await rm(blob.path, { force: true });
        corrupt.push(blob);
      }
      onBlob?.(blob, ok);
    }
    return corrupt;
  }

  /**
   * Removes blobs and partial downloads unused for longer than `olderThanMs` (a partial's use is its last write),
   * then the least recently used until the total is at most `maxBytes`. With neither, removes everything. Spared:
   * blobs running pulls may use, and partials a live process holds the lock of. v1 layer records whose blob is
   * gone go too.
   */
  async prune(
    options: { olderThanMs?: number; maxBytes?: number; now?: number } = {},
  ): Promise<{ blobs: CachedBlob[]; partials: PartialDownload[] }> {
    const started = Date.now();
    const now = options.now ?? started;
    // Blobs used since the oldest running pull began, or since this prune began, may be about to be placed. A
    // pull's window opens a little before it began: a touch right after may read back earlier, as file systems
    // round times down (to the second, on some).
    const oldestPull = await oldestUse(this.inUseFolder);
    const inUseSince = Math.min(oldestPull === undefined ? started : oldestPull - MTIME_ROUNDING_MS, started);
    type Entry = { blob: CachedBlob } | { partial: PartialDownload };
    const inUse = async (blob: CachedBlob) => {
      const info = await stat(blob.path).catch(() => undefined);
      // A time in the future is no pull's touch (another host's clock, a restored file): it does not protect.
      return info !== undefined && info.mtimeMs >= inUseSince && info.mtimeMs <= Date.now() + CLOCK_SLACK_MS;
    };
    const remove = async (entry: Entry): Promise<boolean> => {
      if ('partial' in entry) return removeUnlessDownloading(entry.partial.path);
      if (await inUse(entry.blob)) return false;
      await rm(entry.blob.path, { force: true });
      return true;
    };
    const details = (entry: Entry) => ('blob' in entry ? entry.blob : entry.partial);
    const entries: Entry[] = [
      ...(await this.list()).map((blob) => ({ blob })),
      ...(await this.partials()).map((partial) => ({ partial })),
    ];
    const byAge = entries.sort((a, b) => details(a).lastUsed.getTime() - details(b).lastUsed.getTime());
    const everything = options.olderThanMs === undefined && options.maxBytes === undefined;
    let total = byAge.reduce((sum, entry) => sum + details(entry).size, 0);
    const removed = { blobs: [] as CachedBlob[], partials: [] as PartialDownload[] };
    for (const entry of byAge) {
      const { size, lastUsed } = details(entry);
      const tooOld = options.olderThanMs !== undefined && now - lastUsed.getTime() > options.olderThanMs;
      const tooBig = options.maxBytes !== undefined && total > options.maxBytes;
      if ((!everything && !tooOld && !tooBig) || !(await remove(entry))) continue;
      total -= size;
      if ('blob' in entry) removed.blobs.push(entry.blob);
      else removed.partials.push(entry.partial);
    }
    await this.removeOrphanedRecords();
    await this.pruneTagRecords(everything ? 0 : options.olderThanMs, now);
    return removed;
  }

  /** Tag records not written for `olderThanMs` (all of them for 0): a pull of such a tag then fetches it at once. */
  private async pruneTagRecords(olderThanMs: number | undefined, now: number): Promise<void> {
    if (olderThanMs === undefined) return;
    for (const name of await readdir(join(this.root, TAGS)).catch(() => [] as string[])) {
      const record = await fileFacts(join(this.root, TAGS, name));
      if (record && now - record.lastUsed.getTime() >= olderThanMs) await rm(record.path, { force: true });
    }
  }

  /** v1 layer records (`v1/<folder>/<id>.json`) whose blob is gone. */
  private async removeOrphanedRecords(): Promise<void> {
    for await (const { name, path } of this.files('v1')) {
      if (name.endsWith('.json') && !(await this.recordedBlobExists(path))) await rm(path, { force: true });
    }
  }

  private async recordedBlobExists(path: string): Promise<boolean> {
    const record = await readV1Record(path);
    return record !== undefined && this.has(parseDigest(record.digest));
  }
}

/** The folder of tag records (`rememberTag`). */
const TAGS = 'tags';

/** How far ahead of this clock a file's mtime may be and still count as just used (file-system time rounding). */
const CLOCK_SLACK_MS = 1000;
/** How much earlier than it was set a file's mtime may read back: FAT keeps times to 2 s. */
const MTIME_ROUNDING_MS = 2000;

function tryDigest(value: string): Digest | undefined {
  try {
    return parseDigest(value);
  } catch {
    return undefined;
  }
}

/** Size and last write of a regular file at `path`; undefined for anything else, or nothing. */
/**
 * A file's size and last write. With `allocated`, the size is what the disk holds of it where that is less: a
 * partial written in ranges has holes where ranges have not arrived yet, and its length is its highest byte.
 */
async function fileFacts(
  path: string,
  { allocated = false } = {},
): Promise<{ path: string; size: number; lastUsed: Date } | undefined> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  // `blocks` counts 512-byte units on every POSIX system; it is not known everywhere (Windows).
  const held = allocated && Number.isFinite(info.blocks) ? Math.min(info.size, info.blocks * 512) : info.size;
  return { path, size: held, lastUsed: info.mtime };
}

/**
 * Removes a partial download unless a live process holds its lock, holding that lock while it does: a pull that
 * took the lock in between would otherwise resume from bytes that are then removed under it.
 */
async function removeUnlessDownloading(partial: string): Promise<boolean> {
  const release = await tryLock(partial.replace(/\.partial$/, '.lock'));
  if (!release) return false;
  try {
    await rm(partial, { force: true });
    await rm(`${partial}.ranges`, { force: true }); // what a download in ranges recorded of it
  } finally {
    await release();
  }
  return true;
}
