/**
 * Several platforms of one reference, pulled together into an OCI layout: the formats that hold one image per tag
 * refuse them; the index they come from is kept (with, for `all`, its attestation manifests and their blobs), and
 * one of the images is chosen to carry the tag in manifest.json.
 */
import { parseDigest, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { StagedImage } from '../layout/writer.js';
import type { LockedImage } from '../lockfile/index.js';
import type { Descriptor } from '../manifest/index.js';
import { parsePlatform, platformMatches } from '../platform/index.js';
import type { ImageReference } from '../reference/index.js';
import type { Remote } from '../registry/remote.js';
import type { ResolvedImage } from '../registry/resolve.js';
import type { PullContext } from './context.js';
import { keepArtifact } from './referrers.js';
import type { KeptManifest } from './stage.js';

/**
 * For the images of several platforms of `ref` (resolved, or from its lock-file entries): the index each is
 * written under, by position.
 *
 * @throws {FrozenError} `usage` when the output holds one image per tag.
 */
export async function platformsIndex(
  ref: ImageReference,
  resolved: readonly ResolvedImage[],
  locked: readonly LockedImage[] | undefined,
  remote: Remote,
  context: PullContext,
): Promise<(position: number) => NonNullable<StagedImage['index']>> {
  if (context.writer.format !== 'oci') {
    const platforms = resolved.map((image) => image.platform ?? '?').join(', ');
    throw new FrozenError(
      'usage',
      `${resolved.length} platforms (${platforms}) of one image: the ${context.writer.format} format holds one image per tag; write format: 'oci', or give each platform its own tag`,
    );
  }
  const index = await keepIndex(ref, resolved, locked, remote, context);
  const others = await keepIndexArtifacts(ref, resolved[0]!.index?.others ?? [], remote, context);
  const primary = primaryPlatform(resolved, context);
  return (position) => ({ ...index, primary: position === primary, others });
}

/**
 * The index several platforms were pulled from, kept in the cache for the OCI layout: as resolved, or for a lock
 * file's entries fetched by the digest they share (from the cache when offline).
 */
async function keepIndex(
  ref: ImageReference,
  resolved: readonly ResolvedImage[],
  locked: readonly LockedImage[] | undefined,
  remote: Remote,
  { cache, signal }: PullContext,
): Promise<KeptManifest> {
  let index = resolved[0]!.index;
  if (!index) {
    const digests = new Set(locked?.map((entry) => entry.digest));
    if (digests.size !== 1)
      throw new FrozenError('usage', `the lock file gives ${ref.original} several platforms of different images`);
    const digest = parseDigest([...digests][0]!);
    const served = await remote.manifest(digest.value, digest, signal);
    index = { digest, mediaType: served.manifest.mediaType, bytes: served.bytes };
  }
  await cache.putBytes(index.digest, index.bytes);
  return { digest: index.digest, mediaType: index.mediaType, path: cache.blobPath(index.digest) };
}

/**
 * The index's entries that are no platform image (attestation manifests), for `all`: each manifest verified by
 * digest and kept, and the blobs it names fetched and verified as any blob, so that the layout is whole
 * (`ctr import --all-platforms` wants every child of the index).
 */
async function keepIndexArtifacts(
  ref: ImageReference,
  others: readonly Descriptor[],
  remote: Remote,
  context: PullContext,
): Promise<{ digest: Digest; path: string }[]> {
  const files: Digest[] = [];
  for (const descriptor of others) {
    const { served, blobs } = await keepArtifact(ref, descriptor.digest, remote, context);
    files.push(served.digest, ...blobs);
  }
  return files.map((digest) => ({ digest, path: context.cache.blobPath(digest) }));
}

/** The image of several that gets the tag where only one can (manifest.json): the wanted platform's, else the first. */
function primaryPlatform(resolved: readonly ResolvedImage[], context: PullContext): number {
  const wanted = resolved.findIndex(
    (image) => image.platform !== undefined && platformMatches(parsePlatform(image.platform), context.platform),
  );
  return Math.max(wanted, 0);
}
