/**
 * `includeReferrers`: what refers to an image (cosign signatures, attestations and SBOMs; OCI 1.1 referrers) kept
 * for its OCI layout. Each referrer's manifest is fetched by digest and verified, and the blobs it names are
 * fetched as any blob (verified while streaming, shared with the run, kept in the cache).
 */
import type { Digest } from '../digest.js';
import type { KeptReferrer } from '../layout/writer.js';
import type { ImageReference } from '../reference/index.js';
import { listReferrers } from '../registry/referrers.js';
import type { Remote, ServedManifest } from '../registry/remote.js';
import { allOrStop } from '../util/settle.js';
import { fetchBlob } from './blobs.js';
import type { PullContext } from './context.js';

/** The referrers of each of `subjects` (an image manifest, and the index it was picked from), each once. */
export async function keepReferrers(
  ref: ImageReference,
  subjects: readonly Digest[],
  remote: Remote,
  context: PullContext,
): Promise<KeptReferrer[]> {
  const kept = new Map<string, KeptReferrer>();
  for (const subject of subjects) {
    for (const listed of await listReferrers(remote, subject, context.signal)) {
      const { digest } = listed.descriptor;
      if (kept.has(digest.value)) continue;
      const { served, blobs } = await keepArtifact(ref, digest, remote, context);
      kept.set(digest.value, {
        digest,
        mediaType: served.manifest.mediaType,
        size: served.bytes.length,
        path: context.cache.blobPath(digest),
        blobs: blobs.map((blob) => ({ digest: blob, path: context.cache.blobPath(blob) })),
        ...(listed.tag && { tag: listed.tag }),
        ...(listed.artifactType && { artifactType: listed.artifactType }),
        ...(listed.annotations && { annotations: listed.annotations }),
      });
    }
  }
  return [...kept.values()];
}

/**
 * A manifest that is no image to stage (a referrer, an attestation), kept whole: the manifest fetched by digest,
 * verified and kept in the cache; the config and layers it names fetched as any blob. An index keeps only itself.
 */
export async function keepArtifact(
  ref: ImageReference,
  digest: Digest,
  remote: Remote,
  context: PullContext,
): Promise<{ served: ServedManifest; blobs: Digest[] }> {
  const served = await remote.manifest(digest.value, digest, context.signal);
  await context.cache.putBytes(served.digest, served.bytes);
  const named = served.manifest.kind === 'manifest' ? [served.manifest.config, ...served.manifest.layers] : [];
  const owner = { image: ref.original, remote };
  await allOrStop(context.signal, (signal) =>
    named.map((blob, i) =>
      fetchBlob(blob, i === 0 ? 'config' : 'layer', undefined, { ...owner, context: { ...context, signal } }),
    ),
  );
  return { served, blobs: named.map((blob) => blob.digest) };
}
