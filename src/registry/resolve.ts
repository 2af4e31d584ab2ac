/**
 * From a reference to the image manifest to pull: the manifest it names, and down an index (nested ones too) to
 * the entry for the wanted platform. Every manifest comes verified from `Remote.manifest`.
 */
import type { Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { ManifestCache } from '../manifest/cache.js';
import { checkContainerImage, type ImageIndex, type ImageManifest, type Schema1Manifest } from '../manifest/index.js';
import {
  declaredPlatform,
  formatPlatform,
  normalizePlatform,
  selectPlatform,
  type Platform,
} from '../platform/index.js';
import type { ImageReference } from '../reference/index.js';
import type { Remote, RequestNotices } from './remote.js';
import type { RegistrySession } from './session.js';

/** What a reference resolves to: the image manifest to pull and the digests that identify it. */
export interface ResolvedImage {
  /** Digest of the manifest the reference names (an index when the tag is multi-platform). */
  readonly digest: Digest;
  /** Digest of the image manifest actually pulled (equal to `digest` for single-platform images). */
  readonly manifestDigest: Digest;
  /** The image manifest; a schema1 one is converted by the puller. */
  readonly manifest: ImageManifest | Schema1Manifest;
  /** The platform of the entry chosen from an index, when there was one. */
  readonly platform?: string;
  /** Set, to the platform asked for, when the index had no entry for it and one it also runs was chosen. */
  readonly platformFallback?: string;
  /** The endpoint (mirror URL or registry host) that served the image manifest. */
  readonly endpoint: string;
  /** Media type of what the reference names (an index or an image manifest). */
  readonly mediaType: string;
  /** The image manifest's bytes as served and verified (absent when resolved from a lock file offline). */
  readonly manifestBytes?: Buffer;
  /** What the reference's index offers, when it is one. */
  readonly offered?: readonly OfferedImage[];
}

/** One entry of an index, as `inspect` lists it. */
export interface OfferedImage {
  readonly platform: string;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
}

const MAX_INDEX_DEPTH = 4;

/**
 * Resolves `ref` through `remote`: the manifest it names, then down any index to the entry for `platform`. A tag
 * resolved through a cache kept across runs is noted there (`Remote.rememberTag`), so the next resolution asks for
 * its digest with a HEAD before fetching it.
 */
export async function resolveImage(
  ref: ImageReference,
  remote: Remote,
  platform: Platform,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const top = await remote.manifest(ref.digest?.value ?? ref.tag!, ref.digest, signal);
  let current = top;
  let chosen: { platform: string; fallback: boolean } | undefined;
  for (let depth = 0; current.manifest.kind === 'index'; depth++) {
    if (depth >= MAX_INDEX_DEPTH) throw new FrozenError('protocol', 'image indexes nested too deeply');
    const picked = selectPlatform(current.manifest.manifests, platform);
    chosen = { platform: picked.platform, fallback: picked.fallback || chosen?.fallback === true };
    const { descriptor } = picked.entry;
    current = await remote.manifest(descriptor.digest.value, descriptor.digest, signal);
  }
  if (current.manifest.kind === 'manifest') checkContainerImage(current.manifest);
  if (ref.digest === undefined) await remote.rememberTag(ref.tag!);
  return {
    digest: top.digest,
    manifestDigest: current.digest,
    manifest: current.manifest,
    endpoint: current.endpoint,
    mediaType: top.manifest.mediaType,
    manifestBytes: current.bytes,
    ...(top.manifest.kind === 'index' && { offered: top.manifest.manifests.map(describeEntry) }),
    ...(chosen && { platform: chosen.platform }),
    ...(chosen?.fallback && { platformFallback: formatPlatform(platform) }),
  };
}

function describeEntry(entry: ImageIndex['manifests'][number]): OfferedImage {
  const declared = declaredPlatform(entry.platform);
  const platform = declared ? formatPlatform(normalizePlatform(declared)) : 'unknown';
  const { digest, size, mediaType } = entry.descriptor;
  return { platform, digest: digest.value, size, mediaType };
}

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
): Promise<ResolvedImage & { readonly manifest: ImageManifest }> {
  const remote = session.remote(ref, { notices, cache });
  const resolved = await resolveImage(ref, remote, platform, signal).catch(async (error: unknown) => {
    const v1 =
      error instanceof FrozenError &&
      error.kind === 'not-found' &&
      (await session.speaksOnlyV1(ref.registry, signal).catch(() => false));
    if (!v1) throw error;
    throw new FrozenError(
      'unsupported',
      `${ref.registry} is a v1 registry: it has no manifests to describe or lock (frozen pull reads it)`,
    );
  });
  if (resolved.manifest.kind === 'schema1') {
    throw new FrozenError(
      'unsupported',
      'a schema1 image: frozen pulls (and converts) it, but cannot describe or lock it',
    );
  }
  return { ...resolved, manifest: resolved.manifest };
}
