import { join } from 'node:path';
import { digestOf, parseDigest, type Digest } from './digest.js';
import { FrozenError } from './errors.js';
import {
  decodeManifest,
  MANIFEST_ACCEPT,
  schema1Payload,
  type ImageIndex,
  type ImageManifest,
  type Manifest,
  type Schema1Manifest,
} from './manifest/index.js';
import { formatPlatform, normalizePlatform, selectPlatform, type Platform } from './platform/index.js';
import type { ImageReference } from './reference/index.js';
import type { RegistryClient } from './registry/client.js';
import type { Remote, RequestNotices } from './registry/remote.js';
import type { RegistrySession } from './registry/session.js';
import { header } from './registry/transport.js';
import { BlobStore } from './store/blob-store.js';
import { exists } from './util/files.js';
import { readLimited } from './util/read-limited.js';

/** What a reference resolves to: the image manifest to pull and the digests that identify it. */
export interface ResolvedImage {
  /** Digest of the manifest the reference names (an index when the tag is multi-platform). */
  readonly digest: Digest;
  /** Digest of the image manifest actually pulled (equal to `digest` for single-platform images). */
  readonly manifestDigest: Digest;
  /** The image manifest; a schema1 one is converted by the puller. */
  readonly manifest: ImageManifest | Schema1Manifest;
  /** The platform chosen from an index, when there was one. */
  readonly platform?: string;
  /** The endpoint (mirror URL or registry host) that served the image manifest. */
  readonly endpoint: string;
  /** Media type of what the reference names (an index or an image manifest). */
  readonly mediaType: string;
  /** The image manifest's bytes as served and verified (absent when resolved from a lock file offline). */
  readonly manifestBytes?: Buffer;
  /** What the reference's index offers, when it is one. */
  readonly offered?: readonly {
    readonly platform: string;
    readonly digest: string;
    readonly size: number;
    readonly mediaType: string;
  }[];
}

export const MANIFEST_SIZE_LIMIT = 4 * 1024 * 1024;

/**
 * Manifests already verified, by digest. A digest names the same bytes forever, so a manifest asked for by digest
 * that is kept here needs no request: a pull by digest with everything cached sends none.
 */
export interface ManifestCache {
  /** The bytes kept under this digest, when they still hash to it. */
  get(digest: Digest): Promise<Buffer | undefined>;
  put(digest: Digest, bytes: Buffer): Promise<void>;
  /** Never ask the registry: a manifest that is not kept is an error. */
  readonly offline: boolean;
  /** Kept across runs: worth a HEAD to learn a tag's digest before fetching it, once the tag was seen here. */
  readonly shared: boolean;
  /** Whether this tag (`registry/repository:tag`) was resolved through the cache before. */
  knowsTag(name: string): Promise<boolean>;
  rememberTag(name: string): Promise<void>;
}

/** The manifests a blob store keeps, added to as they are verified (where the store can be written). */
export function storedManifests(
  store: BlobStore,
  options: { readonly offline: boolean; readonly shared: boolean },
): ManifestCache {
  return {
    get: (digest) => store.readSmall(digest, MANIFEST_SIZE_LIMIT),
    put: (digest, bytes) => store.putBytes(digest, bytes).catch(() => undefined),
    offline: options.offline,
    shared: options.shared,
    knowsTag: (name) => store.knowsTag(name),
    rememberTag: (name) => store.rememberTag(name).catch(() => undefined),
  };
}

/**
 * The cache that commands describing images (`inspect`, `lock`) read manifests from and keep them in: the one
 * named, else the default one if it exists. They make no default cache; without one they ask the registry.
 */
export async function describingCache(
  cache: string | false | undefined,
): Promise<{ store: BlobStore; manifests: ManifestCache } | undefined> {
  if (cache === false) return undefined;
  const store = BlobStore.at(cache);
  if (cache === undefined && !(await exists(join(store.root, 'blobs')))) return undefined;
  return { store, manifests: storedManifests(store, { offline: false, shared: true }) };
}

function describeEntry(entry: ImageIndex['manifests'][number]) {
  const platform =
    entry.platform?.os && entry.platform.architecture
      ? formatPlatform(normalizePlatform(entry.platform as Platform))
      : 'unknown';
  return {
    platform,
    digest: entry.descriptor.digest.value,
    size: entry.descriptor.size,
    mediaType: entry.descriptor.mediaType,
  };
}
const MAX_INDEX_DEPTH = 4;

/** What `resolveModernImage` goes by besides the reference: an abort signal, who hears of retries, a manifest cache. */
export interface ResolveOptions {
  readonly signal?: AbortSignal | undefined;
  readonly notices?: RequestNotices | undefined;
  readonly cache?: ManifestCache | undefined;
}

/**
 * `resolveImage` for commands that describe images: a schema1 image has no config to describe, and a v1 registry
 * has no manifests (only `pull` reads it).
 */
export async function resolveModernImage(
  ref: ImageReference,
  session: RegistrySession,
  platform: Platform,
  { signal, notices, cache }: ResolveOptions = {},
) {
  const resolved = await resolveImage(ref, session.remote(ref, notices), platform, signal, cache).catch(
    async (error: unknown) => {
      if (
        error instanceof FrozenError &&
        error.kind === 'not-found' &&
        (await session.speaksOnlyV1(ref.registry, signal).catch(() => false))
      ) {
        throw new FrozenError(
          'unsupported',
          `${ref.registry} is a v1 registry: it has no manifests to describe or lock (frozen pull reads it)`,
        );
      }
      throw error;
    },
  );
  if (resolved.manifest.kind === 'schema1')
    throw new FrozenError(
      'unsupported',
      'a schema1 image: frozen pulls (and converts) it, but cannot describe or lock it',
    );
  return { ...resolved, manifest: resolved.manifest };
}

export async function resolveImage(
  ref: ImageReference,
  remote: Remote,
  platform: Platform,
  signal?: AbortSignal,
  cache?: ManifestCache,
): Promise<ResolvedImage> {
  // A tag seen here before may have its manifest kept: a HEAD learns its digest, and a kept manifest needs no GET.
  // A tag never seen cannot, so it is fetched at once, saving the HEAD's round trip.
  const tag = ref.digest === undefined && cache?.shared ? `${ref.registry}/${ref.repository}:${ref.tag}` : undefined;
  const tagSeen = tag !== undefined && (await cache?.knowsTag(tag)) === true;
  const fromCache = async (digest: Digest) => {
    const kept = await cache?.get(digest);
    const manifest = kept && decodeKept(kept);
    return kept && manifest ? { digest, manifest, bytes: kept } : undefined;
  };
  const fetchManifest = async (reference: string, expected: Digest | undefined) => {
    const kept = expected && (await fromCache(expected));
    if (kept) return { ...kept, endpoint: 'cache' };
    if (cache?.offline)
      throw new FrozenError('not-found', `offline: manifest ${expected?.value ?? reference} is not in the cache`);
    const { value, endpoint } = await remote.manifest(
      reference,
      expected,
      {
        fetch: (client, ref, digest) => fetchVerifiedManifest(client, ref, digest, signal),
        head: (client, tag) => client.headManifest(tag, MANIFEST_ACCEPT, signal),
        ...(cache?.shared && { cached: fromCache, tagKept: tagSeen }),
      },
      signal,
    );
    // A signed schema1 manifest's digest is its payload's, not the bytes': it is not kept.
    if (endpoint !== 'cache' && value.manifest.kind !== 'schema1') await cache?.put(value.digest, value.bytes);
    return { ...value, endpoint };
  };
  const top = await fetchManifest(ref.digest?.value ?? ref.tag!, ref.digest);
  let current = top;
  let chosen: string | undefined;
  for (let depth = 0; current.manifest.kind === 'index'; depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw new FrozenError('protocol', 'image indexes nested too deeply');
    const entry = selectPlatform(current.manifest.manifests, platform);
    chosen = formatPlatform(platform);
    current = await fetchManifest(entry.descriptor.digest.value, entry.descriptor.digest);
  }
  if (tag !== undefined) await cache?.rememberTag(tag);
  return {
    digest: top.digest,
    manifestDigest: current.digest,
    manifest: current.manifest as ImageManifest | Schema1Manifest,
    endpoint: current.endpoint,
    mediaType: top.manifest.mediaType,
    manifestBytes: current.bytes,
    ...(top.manifest.kind === 'index' && { offered: top.manifest.manifests.map(describeEntry) }),
    ...(chosen && { platform: chosen }),
  };
}

/** Cached bytes that are no manifest (a reference naming a config's digest) are no hit: the registry says what they are. */
function decodeKept(bytes: Buffer): Manifest | undefined {
  try {
    return decodeManifest(bytes, undefined);
  } catch {
    return undefined;
  }
}

/**
 * Fetches one manifest, refusing more than 4 MiB, and hashes the exact bytes: they must match the digest asked for
 * and the registry's `Docker-Content-Digest`. Only then is the body decoded.
 */
async function fetchVerifiedManifest(
  client: RegistryClient,
  reference: string,
  expected: Digest | undefined,
  signal?: AbortSignal,
) {
  const response = await client.getManifest(reference, MANIFEST_ACCEPT, signal);
  const declared = Number(header(response.headers, 'content-length') ?? 0);
  if (declared > MANIFEST_SIZE_LIMIT) {
    await response.body.dump();
    throw new FrozenError('protocol', `manifest ${reference} is larger than 4 MiB`);
  }
  const served = await readLimited(response.body, MANIFEST_SIZE_LIMIT, `manifest ${reference}`);
  // A signed schema1 manifest's digest covers its JWS payload, not the bytes with the signatures.
  const bytes = served.includes('"signatures"') ? schema1Payload(served) : served;
  const claimed = header(response.headers, 'docker-content-digest');
  const servedDigest = claimed === undefined ? undefined : parseDigest(claimed.trim());
  for (const claim of [expected, servedDigest]) {
    if (claim && digestOf(bytes, claim.algorithm).value !== claim.value) {
      throw new FrozenError(
        'integrity',
        `manifest ${reference}: digest mismatch (content does not hash to ${claim.value})`,
      );
    }
  }
  const digest = expected ?? servedDigest ?? digestOf(bytes);
  const manifest: Manifest = decodeManifest(served, header(response.headers, 'content-type'));
  return { digest, manifest, bytes: served };
}
