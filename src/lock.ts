import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { parseDigest } from './digest.js';
import { FrozenError, forEveryImage } from './errors.js';
import { fetchableUrls, type Descriptor, type ImageManifest } from './manifest/index.js';
import { wantedPlatform, type Platform } from './platform/index.js';
import {
  assertImageList,
  canonicalReference,
  distinctReferences,
  parseReference,
  type ImageReference,
} from './reference/index.js';
import { requestEvents } from './pull-events.js';
import type { RequestEvent } from './pull.js';
import { RegistrySession, type RegistryOptions } from './registry/session.js';
import { describingCache, resolveModernImage, type ResolveOptions } from './resolve.js';
import { writeFileAtomic } from './util/files.js';

/**
 * frozen.lock.json: each reference resolved, for one platform, to the exact image to pull, with everything a pull
 * needs to run offline from the cache (the config and layer descriptors).
 */
export interface LockedBlob {
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** A foreign layer's http(s) `urls`, which an offline pull writes to `LayerSources`. */
  readonly urls?: readonly string[];
}

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
}

export interface LockFile {
  readonly version: 1;
  readonly images: readonly LockedImage[];
}

export interface LockOptions extends RegistryOptions {
  readonly images: readonly string[];
  readonly platform?: string | Platform;
  readonly signal?: AbortSignal;
  /** Retries of its requests, and moves to the next endpoint (as `pull` reports them). */
  readonly onEvent?: (event: RequestEvent) => void;
  /** The blob cache to read manifests from and keep them in (default: `pull`'s default cache, if it exists); `false` for none. */
  readonly cache?: string | false;
}

/** Images resolved at once by `lock`: each is a few small requests, so a long list goes faster far from the registry. */
const IMAGES_LOCKED_AT_ONCE = 8;

/**
 * Resolves references to exact images (manifests verified, no blob downloaded). Every image is tried: when one fails
 * it rejects with that image's error, when several do with `PullFailures`.
 */
export async function lock(options: LockOptions): Promise<LockFile> {
  assertImageList(options.images);
  const refs = distinctReferences(
    options.images.map((image) => parseReference(image)),
    (ref) => ref,
  );
  if (refs.length === 0) throw new FrozenError('reference', 'no image given');
  const platform = wantedPlatform(options.platform);
  const cache = (await describingCache(options.cache))?.manifests;
  const session = await RegistrySession.open(options);
  try {
    // Every image is resolved, a few at a time, so that each one that fails says so (as a pull does).
    const limit = pLimit(IMAGES_LOCKED_AT_ONCE);
    const lockEach = (ref: ImageReference) => {
      const notices = options.onEvent && requestEvents(options.onEvent, ref.original);
      return limit(() => lockOne(ref, session, platform, { signal: options.signal, notices, cache }));
    };
    return {
      version: 1,
      images: await forEveryImage(refs, (ref) => ref.original, lockEach, { signal: options.signal }),
    };
  } finally {
    await session.close();
  }
}

async function lockOne(
  ref: ImageReference,
  session: RegistrySession,
  platform: Platform,
  how: ResolveOptions,
): Promise<LockedImage> {
  const resolved = await resolveModernImage(ref, session, platform, how);
  const blob = (d: Descriptor): LockedBlob => ({
    digest: d.digest.value,
    size: d.size,
    mediaType: d.mediaType,
    ...(d.urls && { urls: d.urls.map((url) => url.href) }),
  });
  return {
    reference: ref.original,
    canonical: canonicalReference(ref),
    digest: resolved.digest.value,
    manifestDigest: resolved.manifestDigest.value,
    manifestMediaType: resolved.manifest.mediaType,
    ...(resolved.platform && { platform: resolved.platform }),
    imageId: resolved.manifest.config.digest.value,
    config: blob(resolved.manifest.config),
    layers: resolved.manifest.layers.map(blob),
  };
}

export async function writeLockFile(path: string, file: LockFile): Promise<void> {
  try {
    await writeFileAtomic(path, `${JSON.stringify(file, null, 2)}\n`);
  } catch (error) {
    throw new FrozenError('output', `cannot write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads and validates a lock file: every digest is checked before it can name anything. */
export async function readLockFile(path: string): Promise<LockFile> {
  let parsed: LockFile;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8')) as LockFile;
  } catch (error) {
    throw new FrozenError('reference', `cannot read lock file ${path}: ${(error as Error).message}`);
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.images))
    throw new FrozenError('reference', `${path} is not a frozen lock file (version 1)`);
  for (const [index, image] of (parsed.images as unknown[]).entries()) {
    try {
      checkLockedImage(image);
    } catch (error) {
      throw new FrozenError('reference', `${path}: image ${index + 1}: ${(error as Error).message}`);
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
  for (const blob of [entry.config, ...(entry.layers as unknown[])]) checkLockedBlob(blob);
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
