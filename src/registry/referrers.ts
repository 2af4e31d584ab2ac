/**
 * What refers to a manifest, as the OCI distribution spec (1.1) finds it: the referrers API
 * (`GET /v2/<name>/referrers/<digest>`), else, on a registry without it (404), the referrers tag schema (an index
 * at the tag `<alg>-<hex>`, which clients push there instead); and cosign's own tag scheme (`<alg>-<hex>.sig`,
 * `.att`, `.sbom`), which predates both. Listings are not content-addressed: each referrer is fetched by digest
 * and verified afterwards (`Remote.manifest`).
 */
import type { Digest } from '../digest.js';
import { asFrozenError } from '../errors.js';
import { decodeManifest, type Descriptor } from '../manifest/index.js';
import type { Remote } from './remote.js';

/** One referrer as a listing names it. */
export interface ListedReferrer {
  readonly descriptor: Descriptor;
  /** A cosign tag-scheme artifact's tag (`sha256-<hex>.sig`); OCI referrers have none. */
  readonly tag?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** cosign's tag suffixes: signatures, attestations, SBOMs. */
const COSIGN_SUFFIXES = ['sig', 'att', 'sbom'] as const;

/** Every referrer of `subject`: its OCI referrers, then its cosign artifacts. */
export async function listReferrers(remote: Remote, subject: Digest, signal?: AbortSignal): Promise<ListedReferrer[]> {
  return [...(await ociReferrers(remote, subject, signal)), ...(await cosignArtifacts(remote, subject, signal))];
}

async function ociReferrers(remote: Remote, subject: Digest, signal?: AbortSignal): Promise<ListedReferrer[]> {
  const pages = await remote.referrersIndex(subject, signal);
  if (pages) return pages.flatMap((page) => entriesOf(decodeManifest(page, 'application/vnd.oci.image.index.v1+json')));
  const fallback = await manifestOrNothing(remote, `${subject.algorithm}-${subject.hex}`, signal);
  return fallback ? entriesOf(fallback.manifest) : [];
}

async function cosignArtifacts(remote: Remote, subject: Digest, signal?: AbortSignal): Promise<ListedReferrer[]> {
  const found: ListedReferrer[] = [];
  for (const suffix of COSIGN_SUFFIXES) {
    const tag = `${subject.algorithm}-${subject.hex}.${suffix}`;
    const served = await manifestOrNothing(remote, tag, signal);
    if (!served) continue;
    const descriptor = { mediaType: served.manifest.mediaType, digest: served.digest, size: served.bytes.length };
    found.push({ descriptor, tag });
  }
  return found;
}

function entriesOf(manifest: ReturnType<typeof decodeManifest>): ListedReferrer[] {
  if (manifest.kind !== 'index') return [];
  return manifest.manifests.map((entry) => {
    const { artifactType } = entry as { artifactType?: unknown };
    return {
      descriptor: entry.descriptor,
      ...(typeof artifactType === 'string' && { artifactType }),
      ...(entry.annotations && { annotations: entry.annotations }),
    };
  });
}

/** A manifest by tag, or undefined where there is none (404). */
async function manifestOrNothing(remote: Remote, tag: string, signal?: AbortSignal) {
  try {
    return await remote.manifest(tag, undefined, signal);
  } catch (error) {
    if (asFrozenError(error).kind === 'not-found') return undefined;
    throw error;
  }
}
