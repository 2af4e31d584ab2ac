/**
 * `lock()`: resolves references to exact images (manifests verified, no blob downloaded) and returns the lock file
 * that pins them. The format itself is lockfile/.
 */
import pLimit from 'p-limit';
import type { PlatformFallbackEvent, RequestEvent } from './api/events.js';
import { FrozenError } from './errors.js';
import type { LockedBlob, LockedImage, LockFile } from './lockfile/index.js';
import type { Descriptor } from './manifest/index.js';
import { wantedPlatforms, type Platform, type PlatformChoice } from './platform/index.js';
import { requestEvents } from './pull/events.js';
import {
  assertImageList,
  canonicalReference,
  distinctReferences,
  parseReference,
  type ImageReference,
} from './reference/index.js';
import { RegistrySession, type RegistryOptions } from './registry/session.js';
import { describingCache } from './cache/manifests.js';
import { resolveModernImages, type ResolvedImage, type ResolveOptions } from './registry/resolve.js';
import { loadSignaturePolicy } from './signature/policy.js';
import { verifyImage } from './pull/signatures.js';
import { forEveryImage } from './util/settle.js';

/** The events `lock()` reports. */
export type LockEvent = RequestEvent | PlatformFallbackEvent;

/** What `lock()` is given. */
export interface LockOptions extends RegistryOptions {
  readonly images: readonly string[];
  /** The platform to lock (default: as `pull` picks); several, or `all`, lock an entry per platform of an index. */
  readonly platform?: string | Platform | readonly (string | Platform)[] | undefined;
  readonly signal?: AbortSignal | undefined;
  /**
   * Retries of its requests and moves to the next endpoint, and each image locked for another platform than the
   * one asked for (an index without it), as `pull` reports them.
   */
  readonly onEvent?: ((event: LockEvent) => void) | undefined;
  /** The blob cache to read manifests from and keep them in (default: `pull`'s default cache, if it exists); `false` for none. */
  readonly cache?: string | false | undefined;
  /** Keys one of which must have signed every image (as `pull`'s); the lock file records which did. */
  readonly verifyKeys?: readonly string[] | undefined;
}

/** Images resolved at once by `lock`: each is a few small requests, so a long list goes faster far from the registry. */
const IMAGES_LOCKED_AT_ONCE = 8;

/**
 * Resolves references to exact images (manifests verified, no blob downloaded). Every image is tried: when one fails
 * it rejects with that image's error, when several do with `PullFailures`.
 *
 * @throws {FrozenError} `reference` or `usage` for what was given wrong (before any request); an ImagePullError
 * naming the image when one failed; PullFailures when several did; `aborted` when the signal fired.
 */
export async function lock(options: LockOptions): Promise<LockFile> {
  assertImageList(options.images);
  const refs = distinctReferences(
    options.images.map((image) => parseReference(image)),
    (ref) => ref,
  );
  if (refs.length === 0) throw new FrozenError('usage', 'no image given');
  const platforms = wantedPlatforms(options.platform);
  const described = await describingCache(options.cache);
  const signatures = await loadSignaturePolicy(options);
  const session = await RegistrySession.open(options);
  try {
    // Every image is resolved, a few at a time, so that each one that fails says so (as a pull does).
    const limit = pLimit(IMAGES_LOCKED_AT_ONCE);
    const lockEach = (ref: ImageReference) => {
      const notices = options.onEvent && requestEvents(options.onEvent, ref.original);
      const how = { signal: options.signal, notices, cache: described?.manifests };
      return limit(async () => {
        const remote = session.remote(ref, how);
        const images: LockedImage[] = [];
        for (const locked of await lockOne(ref, session, platforms, how)) {
          if (locked.fallback)
            options.onEvent?.({ type: 'platform-fallback', image: ref.original, ...locked.fallback });
          const verified = await verifyImage(ref, locked.resolved, remote, {
            ...how,
            signatures,
            cache: described?.cache,
          });
          images.push(verified ? { ...locked.image, signedBy: verified } : locked.image);
        }
        return images;
      });
    };
    return {
      version: 1,
      images: (await forEveryImage(refs, (ref) => ref.original, lockEach, { signal: options.signal })).flat(),
    };
  } finally {
    await session.close();
  }
}

/** Each image `ref` resolves to for `platforms` (one per platform of a multi-platform one), as lock-file entries. */
async function lockOne(
  ref: ImageReference,
  session: RegistrySession,
  platforms: PlatformChoice,
  how: ResolveOptions,
): Promise<{ image: LockedImage; resolved: ResolvedImage; fallback?: { platform: string; wanted: string } }[]> {
  const blob = (d: Descriptor): LockedBlob => ({
    digest: d.digest.value,
    size: d.size,
    mediaType: d.mediaType,
    ...(d.urls && { urls: d.urls.map((url) => url.href) }),
  });
  return (await resolveModernImages(ref, session, platforms, how)).map((resolved) => {
    const image = {
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
    const wanted = resolved.platformFallback;
    return { image, resolved, ...(wanted && { fallback: { platform: resolved.platform!, wanted } }) };
  });
}
