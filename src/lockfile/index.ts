/**
 * The lock-file format, frozen.lock.json: its types, reading it (every field checked before it can name anything),
 * writing it, and the image manifest a locked entry stands for. `lock()` (../lock.ts) makes one; `pull` reads one.
 */
import { readFile } from 'node:fs/promises';
import { parseDigest } from '../digest.js';
import { FrozenError } from '../errors.js';
import { fetchableUrls, type Descriptor, type ImageManifest } from '../manifest/index.js';
import { parseReference } from '../reference/index.js';
import { writeFileAtomic } from '../util/files.js';

/** A config or layer as a lock file pins it. */
export interface LockedBlob {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** A foreign layer's http(s) `urls`, which an offline pull writes to `LayerSources`. */
  readonly urls?: readonly string[];
}

/** One reference resolved, for one platform, to the exact image to pull. */
export interface LockedImage {
  /** The reference as written (its tag names the image in the output). */
  readonly reference: string;
  readonly canonical: string;
  /** What the reference's tag resolved to (an index for multi-platform tags). */
  readonly digest: string;
  /** The image manifest to pull. */
  readonly manifestDigest: string;
  readonly manifestMediaType: string;
  readonly platform?: string;
  readonly imageId: string;
  readonly config: LockedBlob;
  readonly layers: readonly LockedBlob[];
  /** The key that verified the image when it was locked, and the signature manifest it verified (by digest). */
  readonly signedBy?: { readonly key: string; readonly signature: string };
}

/**
 * frozen.lock.json: each reference resolved, for one platform, to the exact image to pull, with everything a pull
 * needs to run offline from the cache (the config and layer descriptors).
 */
export interface LockFile {
  readonly version: 1;
  readonly images: readonly LockedImage[];
}

/**
 * Writes a lock file (atomically: a reader sees the old file or the new one).
 *
 * @throws {FrozenError} `output` when the file cannot be written.
 */
export async function writeLockFile(path: string, file: LockFile): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  } catch (error) {
    throw new FrozenError('output', `cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads and validates a lock file: every digest is checked before it can name anything.
 *
 * @throws {FrozenError} `usage` for a file that cannot be read, is not JSON, or is not a version 1 lock file.
 */
export async function readLockFile(path: string): Promise<LockFile> {
  let parsed: LockFile;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8')) as LockFile;
  } catch (error) {
    throw new FrozenError('usage', `cannot read lock file ${path}: ${(error as Error).message}`);
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.images))
    throw new FrozenError('usage', `${path} is not a frozen lock file (version 1)`);
  for (const [index, image] of (parsed.images as unknown[]).entries()) {
    try {
      checkLockedImage(image);
    } catch (error) {
      throw new FrozenError('usage', `${path}: image ${index + 1}: ${(error as Error).message}`);
    }
  }
  return parsed;
}

/** Every field a pull reads from a locked image, checked (digests parsed) before any of it is used. */
function checkLockedImage(image: unknown): void {
  const entry = (typeof image === 'object' && image !== null ? image : {}) as Record<string, unknown>;
  for (const field of ['reference', 'digest', 'manifestDigest', 'manifestMediaType'] as const) {
    if (typeof entry[field] !== 'string') throw new Error(`"${field}" is missing or not a string`);
  }
  parseReference(entry.reference as string);
  parseDigest(entry.digest as string);
  parseDigest(entry.manifestDigest as string);
  if (entry.platform !== undefined && typeof entry.platform !== 'string') throw new Error('"platform" is not a string');
  if (!Array.isArray(entry.layers)) throw new Error('"layers" is missing or not a list');
  if (entry.signedBy !== undefined) checkSignedBy(entry.signedBy);
  for (const blob of [entry.config, ...(entry.layers as unknown[])]) checkLockedBlob(blob);
}

function checkSignedBy(signedBy: unknown): void {
  const { key, signature } = (typeof signedBy === 'object' && signedBy !== null ? signedBy : {}) as Record<
    string,
    unknown
  >;
  if (typeof key !== 'string' || typeof signature !== 'string')
    throw new Error('"signedBy" needs a "key" and a "signature"');
  parseDigest(key);
  parseDigest(signature);
}

function checkLockedBlob(blob: unknown): void {
  const { digest, size, mediaType, urls } = (typeof blob === 'object' && blob !== null ? blob : {}) as Record<
    string,
    unknown
  >;
  if (typeof digest !== 'string' || typeof mediaType !== 'string')
    throw new Error('the config or a layer lacks its digest or media type');
  parseDigest(digest);
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw new Error(`${digest}: the size is not a whole number`);
  const urlList = urls === undefined || (Array.isArray(urls) && urls.every((url) => typeof url === 'string'));
  if (!urlList) throw new Error(`${digest}: "urls" is not a list of strings`);
}

/** The image manifest a locked entry stands for, rebuilt from the lock (for offline pulls). */
export function lockedManifest(image: LockedImage): ImageManifest {
  const descriptor = (b: LockedBlob): Descriptor => {
    const urls = fetchableUrls(b.urls);
    return { digest: parseDigest(b.digest), size: b.size, mediaType: b.mediaType, ...(urls.length > 0 && { urls }) };
  };
  return {
    kind: 'manifest',
    mediaType: image.manifestMediaType,
    config: descriptor(image.config),
    layers: image.layers.map(descriptor),
  };
}
