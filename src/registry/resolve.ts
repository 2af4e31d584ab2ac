/**
 * From a reference to the image manifest to pull: the manifest it names, and down an index (nested ones too) to
 * the entry for the wanted platform. Every manifest comes verified from `Remote.manifest`.
 */
import type { Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { ManifestCache } from '../manifest/cache.js';
import {
  checkContainerImage,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Schema1Manifest,
} from '../manifest/index.js';
import {
  declaredPlatform,
  defaultPlatform,
  formatPlatform,
  normalizePlatform,
  selectPlatform,
  type Platform,
  type PlatformChoice,
} from '../platform/index.js';
import type { ImageReference } from '../reference/index.js';
import type { Remote, RequestNotices, ServedManifest } from './remote.js';
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
  /**
   * The index, as served and verified, when several platforms of it are pulled (`resolveImages`); with `all`, its
   * entries that are no platform image (attestation manifests) as `others`.
   */
  readonly index?: {
    readonly digest: Digest;
    readonly mediaType: string;
    readonly bytes: Buffer;
    readonly others?: readonly Descriptor[];
  };
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
  const resolved = await descend(top, remote, platform, signal);
  if (ref.digest === undefined) await remote.rememberTag(ref.tag!);
  return resolved;
}

/**
 * `resolveImage` for several platforms: the image for each platform of `choice` that the index offers (each
 * picked as `resolveImage` picks it; every platform the index lists, for `all`), in the index's order. Each carries
 * the index (`index`), which an OCI layout keeps. A reference that names an image manifest gives that image.
 */
export async function resolveImages(
  ref: ImageReference,
  remote: Remote,
  choice: PlatformChoice,
  signal?: AbortSignal,
): Promise<ResolvedImage[]> {
  if (choice !== 'all' && choice.length === 1) return [await resolveImage(ref, remote, choice[0], signal)];
  const top = await remote.manifest(ref.digest?.value ?? ref.tag!, ref.digest, signal);
  if (top.manifest.kind !== 'index') {
    // One image, whatever the choice: resolved from the manifest already fetched (no second request for it).
    const image = await descend(top, remote, choice === 'all' ? defaultPlatform() : choice[0], signal);
    if (ref.digest === undefined) await remote.rememberTag(ref.tag!);
    return [image];
  }
  const entries = top.manifest.manifests;
  const picked =
    choice === 'all'
      ? entries.flatMap((entry) => {
          const declared = offeredPlatform(entry);
          return declared ? [{ entry, platform: declared }] : [];
        })
      : choice.map((platform) => ({ entry: selectPlatform(entries, platform).entry, platform }));
  const distinct = picked.filter((p, i) => picked.findIndex((q) => q.entry === p.entry) === i);
  const ordered = [...distinct].sort((a, b) => entries.indexOf(a.entry) - entries.indexOf(b.entry));
  // With `all`, the entries that are no platform (attestations) go into the layout too, so that it is whole.
  const others =
    choice === 'all' ? entries.filter((e) => !picked.some((p) => p.entry === e)).map((e) => e.descriptor) : [];
  const index = { digest: top.digest, mediaType: top.manifest.mediaType, bytes: top.bytes, others };
  const images = [];
  for (const { platform } of ordered) images.push({ ...(await descend(top, remote, platform, signal)), index });
  if (ref.digest === undefined) await remote.rememberTag(ref.tag!);
  return images;
}

/** An entry's platform, for `all`: what `selectPlatform` may pick (no attestation, no `unknown/unknown`). */
function offeredPlatform(entry: ImageIndex['manifests'][number]): Platform | undefined {
  try {
    const declared = declaredPlatform(entry.platform);
    return declared && selectPlatform([entry], declared).entry === entry ? declared : undefined;
  } catch {
    return undefined;
  }
}

/** From the manifest a reference names, down any index to the image manifest for `platform`. */
async function descend(
  top: ServedManifest,
  remote: Remote,
  platform: Platform,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
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
  how: ResolveOptions = {},
): Promise<ResolvedImage & { readonly manifest: ImageManifest }> {
  return (await resolveModernImages(ref, session, [platform], how))[0]!;
}

/** `resolveModernImage` for several platforms, as `resolveImages` resolves them. */
export async function resolveModernImages(
  ref: ImageReference,
  session: RegistrySession,
  choice: PlatformChoice,
  { signal, notices, cache }: ResolveOptions = {},
): Promise<(ResolvedImage & { readonly manifest: ImageManifest })[]> {
  const remote = session.remote(ref, { notices, cache });
  const resolved = await resolveImages(ref, remote, choice, signal).catch(async (error: unknown) => {
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
  return resolved.map((image) => {
    if (image.manifest.kind === 'schema1') {
      throw new FrozenError(
        'unsupported',
        'a schema1 image: frozen pulls (and converts) it, but cannot describe or lock it',
      );
    }
    return { ...image, manifest: image.manifest };
  });
}
