/**
 * One image through the v2 API (or, with `protocol: 'v1'`, or `auto` on a host that speaks only v1, the v1 one):
 * resolved (from the registry, or from a lock file), its blobs fetched and verified, and staged for the writer.
 */
import { storedManifests } from '../cache/manifests.js';
import { parseDigest, type Digest } from '../digest.js';
import { asFrozenError, FrozenError } from '../errors.js';
import { lockedManifest, type LockedImage } from '../lockfile/index.js';
import { assertConfigSize, type ImageManifest } from '../manifest/index.js';
import { configPlatform, formatPlatform, platformMatches } from '../platform/index.js';
import { canonicalReference, familiarTag, type ImageReference } from '../reference/index.js';
import type { Remote } from '../registry/remote.js';
import { resolveImage, resolveImages, type ResolvedImage } from '../registry/resolve.js';
import { allOrStop } from '../util/settle.js';
import { fetchBlob } from './blobs.js';
import type { PullContext, PullJob, StagedPull } from './context.js';
import { countEndpoints, requestEvents } from './events.js';
import { convertSchema1 } from './schema1.js';
import { stageImage, type KeptManifest } from './stage.js';
import { verifyImage, type Verification } from './signatures.js';
import { pullV1Image } from './v1-image.js';
import { keepReferrers } from './referrers.js';
import { platformsIndex } from './platforms.js';

/**
 * A v2 image (for several platforms, one per platform), or with `protocol: 'v1'` a v1 one; `auto` turns to v1 when
 * v2 does not know the image and the host speaks only v1.
 */
export async function pullOne(job: PullJob, context: PullContext): Promise<StagedPull[]> {
  const { ref, locked } = job;
  const notices = requestEvents(context.emit, ref.original);
  if (context.protocol === 'v1') return [await pullV1Image(ref, context.session.v1(ref, notices), context)];
  // The cache's manifests. One that cannot be kept (a read-only cache) only costs a request next time.
  const cache = storedManifests(context.cache, { offline: context.offline, shared: context.cacheShared });
  try {
    return await pullV2Images(job, context, context.session.remote(ref, { notices, cache }));
  } catch (error) {
    const v1 =
      context.protocol === 'auto' &&
      !locked &&
      !context.offline &&
      asFrozenError(error).kind === 'not-found' &&
      (await context.session.speaksOnlyV1(ref.registry, context.signal).catch(() => false));
    if (v1) return [await pullV1Image(ref, context.session.v1(ref, notices), context)];
    throw error;
  }
}

/**
 * The image of each platform wanted (or locked), pulled together. Several images of one reference go under its
 * index into an OCI layout; the other formats hold one image per tag, so they are refused before any blob.
 */
async function pullV2Images(job: PullJob, context: PullContext, remote: Remote): Promise<StagedPull[]> {
  const { ref, locked } = job;
  const resolved: ResolvedImage[] = [];
  // The tag is checked once, with the first platform: every entry of a reference locked the same tag.
  if (locked)
    for (const [i, entry] of locked.entries()) resolved.push(await resolveLocked(ref, entry, remote, context, i === 0));
  else resolved.push(...(await resolveImages(ref, remote, context.platforms, context.signal)));
  if (resolved.length === 1) return [await pullV2Image(ref, context, remote, resolved[0]!, locked?.[0])];
  const indexFor = await platformsIndex(ref, resolved, locked, remote, context);
  return Promise.all(
    resolved.map(async (image, i) => {
      const pulled = await pullV2Image(ref, context, remote, image, locked?.[i]);
      return { ...pulled, staged: { ...pulled.staged, index: indexFor(i) } };
    }),
  );
}

async function pullV2Image(
  ref: ImageReference,
  context: PullContext,
  remote: Remote,
  resolved: ResolvedImage,
  locked?: LockedImage,
): Promise<StagedPull> {
  const converted =
    resolved.manifest.kind === 'schema1' ? await convertSchema1(resolved.manifest, ref, remote, context) : undefined;
  const image = converted?.image ?? (resolved.manifest as ImageManifest);
  assertImageId(ref, resolved, image);
  const { config, layers } = image;
  assertConfigSize(config);
  const identity = {
    digest: resolved.digest.value,
    manifestDigest: resolved.manifestDigest.value,
    imageId: config.digest.value,
    ...(resolved.platform && { platform: resolved.platform }),
    layers: layers.length,
    bytes: [config, ...layers].reduce((sum, blob) => sum + blob.size, 0),
    endpoint: resolved.endpoint,
  };
  const verified = await verifyLocked(ref, resolved, remote, context, locked);
  context.emit({ type: 'resolved', image: ref.original, ...identity });
  if (resolved.platformFallback) {
    const wanted = resolved.platformFallback;
    context.emit({ type: 'platform-fallback', image: ref.original, platform: resolved.platform!, wanted });
  }
  const fetched = await fetchImageBlobs(image, ref, remote, context);
  const manifest = converted?.manifest ?? (await keepManifest(resolved, context));
  const referrers = context.includeReferrers
    ? await keepReferrers(ref, subjects(resolved), remote, context)
    : undefined;
  const staged = {
    ...(await stageImage(ref, context, { config, layers, ...(manifest && { manifest }) })),
    ...(referrers && { referrers }),
  };
  if (!resolved.platform) warnOnPlatformMismatch(ref, staged.config.text, context);
  const repoTag = familiarTag(ref);
  const pulled = {
    reference: ref.original,
    canonical: canonicalReference(ref),
    ...(repoTag && { repoTag }),
    ...identity,
    protocol: 'v2' as const,
    configBytes: config.size,
    downloadedBytes: fetched.reduce((sum, f) => sum + f.bytes, 0),
    blobEndpoints: countEndpoints(fetched),
    ...(verified && { signedBy: verified.key }),
  };
  const blobs = [config, ...layers].map((blob) => ({ digest: blob.digest.value, size: blob.size }));
  return { staged, pulled, blobs };
}

/** What referrers refer to: the image manifest, and the index it was picked from. */
function subjects(resolved: ResolvedImage): Digest[] {
  const { digest, manifestDigest } = resolved;
  return digest.value === manifestDigest.value ? [manifestDigest] : [manifestDigest, digest];
}

/** The config and every layer, at once; what the output already holds is re-verified and reused. */
function fetchImageBlobs(image: ImageManifest, ref: ImageReference, remote: Remote, context: PullContext) {
  const { config, layers } = image;
  const existing = context.writer.existing(
    config.digest,
    layers.map((layer) => layer.digest),
  );
  context.writer.prepare?.(layers.map((layer) => layer.digest));
  const blobs = [
    { descriptor: config, kind: 'config' as const, present: existing.config },
    ...layers.map((layer, i) => ({ descriptor: layer, kind: 'layer' as const, present: existing.layers[i] })),
  ];
  return allOrStop(context.signal, (signal) =>
    blobs.map((b) =>
      fetchBlob(b.descriptor, b.kind, b.present, { image: ref.original, remote, context: { ...context, signal } }),
    ),
  );
}

/**
 * The signature check, before any blob is fetched. A lock file that recorded a verification names the signature
 * manifest (looked up by digest, in the cache when offline), and wants a key that applies to check it with.
 */
async function verifyLocked(
  ref: ImageReference,
  resolved: ResolvedImage,
  remote: Remote,
  context: PullContext,
  locked?: LockedImage,
): Promise<Verification | undefined> {
  const recorded = locked?.signedBy;
  const verified = await verifyImage(ref, resolved, remote, context, recorded?.signature);
  if (recorded && !verified) {
    throw new FrozenError(
      'signature',
      `the lock file records a signature by ${recorded.key}: give that key (verifyKeys) to verify it again`,
    );
  }
  return verified;
}

/**
 * A single-platform image is pulled whatever the wanted platform (there is nothing to choose from, as in moby's
 * script and skopeo), but one that will not run there is worth a warning: containerd would refuse it.
 */
function warnOnPlatformMismatch(ref: ImageReference, configText: string, context: PullContext): void {
  const actual = configPlatform(JSON.parse(configText));
  if (!actual || platformMatches(actual, context.platform)) return;
  context.emit({
    type: 'platform-mismatch',
    image: ref.original,
    platform: formatPlatform(actual),
    wanted: formatPlatform(context.platform),
  });
}

/** Keeps the image manifest's verified bytes in the cache (OCI layouts need them, offline too). */
async function keepManifest(resolved: ResolvedImage, { cache }: PullContext): Promise<KeptManifest | undefined> {
  if (resolved.manifestBytes) await cache.putBytes(resolved.manifestDigest, resolved.manifestBytes);
  if (!(await cache.has(resolved.manifestDigest))) return undefined;
  return {
    digest: resolved.manifestDigest,
    mediaType: resolved.manifest.mediaType,
    path: cache.blobPath(resolved.manifestDigest),
  };
}

/**
 * A locked image: offline, straight from the lock file; online, its manifest fetched by digest (and verified), and
 * its tag checked: a tag that moved since the lock is reported, not followed.
 */
async function resolveLocked(
  ref: ImageReference,
  locked: LockedImage,
  remote: Remote,
  context: PullContext,
  checkTag = true,
): Promise<ResolvedImage> {
  const fromLock = {
    digest: parseDigest(locked.digest),
    mediaType: locked.manifestMediaType,
    ...(locked.platform && { platform: locked.platform }),
  };
  if (context.offline) {
    return {
      ...fromLock,
      manifestDigest: parseDigest(locked.manifestDigest),
      manifest: lockedManifest(locked),
      endpoint: 'lock file',
    };
  }
  const byDigest = { ...ref, digest: parseDigest(locked.manifestDigest) };
  const resolved = await resolveImage(byDigest, remote, context.platform, context.signal);
  if (checkTag && ref.tag !== undefined && ref.digest === undefined) {
    const current = await remote.currentDigest(ref.tag, context.signal).catch(() => undefined);
    if (current && current.value !== locked.digest)
      context.emit({ type: 'tag-moved', image: ref.original, locked: locked.digest, current: current.value });
  }
  return { ...resolved, ...fromLock };
}

/** The seed's `name:tag@<64 hex>` pins an image ID: the config digest, or a manifest digest, must have that hex. */
function assertImageId(ref: ImageReference, resolved: ResolvedImage, image: ImageManifest): void {
  if (!ref.imageId) return;
  const candidates: Digest[] = [image.config.digest, resolved.manifestDigest, resolved.digest];
  if (!candidates.some((digest) => digest.hex === ref.imageId)) {
    throw new FrozenError(
      'integrity',
      `image ID mismatch: wanted ${ref.imageId}, the tag resolves to image ${image.config.digest.value} (manifest ${resolved.manifestDigest.value})`,
    );
  }
}
