/**
 * `inspect()`: what a reference names (digests, platforms, layers, sizes, the config's platform and date), verified,
 * downloading no layer.
 */
import { asFrozenError, ImagePullError } from './errors.js';
import type { Descriptor } from './manifest/index.js';
import { configPlatform, formatPlatform, platformMatches, wantedPlatform, type Platform } from './platform/index.js';
import { canonicalReference, parseReference } from './reference/index.js';
import { requestEvents } from './pull/events.js';
import type { RequestEvent } from './api/events.js';
import type { Remote } from './registry/remote.js';
import { RegistrySession, type RegistryOptions } from './registry/session.js';
import { describingCache } from './cache/manifests.js';
import { resolveModernImage } from './registry/resolve.js';
import type { BlobCache } from './cache/blob-cache.js';
import { parseJson } from './util/json-file.js';

/** What `inspect()` is given. */
export interface InspectOptions extends RegistryOptions {
  readonly image: string;
  /** Which image of a multi-platform index to describe (default: as `pull` picks). */
  readonly platform?: string | Platform | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Retries of its requests, and moves to the next endpoint (as `pull` reports them). */
  readonly onEvent?: ((event: RequestEvent) => void) | undefined;
  /**
   * The blob cache to read manifests and the config from, and keep manifests in (default: `pull`'s default cache,
   * if it exists); `false` for none.
   */
  readonly cache?: string | false | undefined;
}

/** What a reference names, verified, without downloading any blob. */
export interface InspectResult {
  readonly reference: string;
  readonly canonical: string;
  /** Digest and media type of what the reference names (an index or an image manifest). */
  readonly digest: string;
  readonly mediaType: string;
  /** The images an index offers. */
  readonly platforms?: readonly {
    readonly platform: string;
    readonly digest: string;
    readonly size: number;
    readonly mediaType: string;
  }[];
  /** Set, to the platform asked for, when the index has no entry for it and `platform` is one it also runs. */
  readonly platformFallback?: string;
  /** The platform chosen from the index. */
  readonly platform?: string;
  /** The platform the image's config names (os/architecture[/variant]), when it names one. */
  readonly configPlatform?: string;
  /** Set when the image is not multi-platform and its config names another platform than the one asked for (that one). */
  readonly platformMismatch?: string;
  /** The config's `created` time, when it has one. */
  readonly created?: string;
  readonly manifestDigest: string;
  readonly imageId: string;
  readonly layers: readonly { readonly digest: string; readonly size: number; readonly mediaType: string }[];
  /** Config plus layers, as stored. */
  readonly size: number;
  /** The endpoint (mirror URL or registry host) that served the image manifest. */
  readonly endpoint: string;
}

/**
 * Describes what a reference names, verified, downloading no layer (only the config, unless the cache has it).
 *
 * @throws {ImagePullError} naming the image, with the kind of what failed (`not-found`, `auth`, `platform`, …).
 */
export async function inspect(options: InspectOptions): Promise<InspectResult> {
  const ref = parseReference(options.image);
  const platform = wantedPlatform(options.platform);
  const session = await RegistrySession.open(options);
  try {
    const notices = options.onEvent && requestEvents(options.onEvent, ref.original);
    const cached = await describingCache(options.cache);
    const resolved = await resolveModernImage(ref, session, platform, {
      signal: options.signal,
      notices,
      cache: cached?.manifests,
    });
    const { config, layers } = resolved.manifest;
    const described = await describeConfig(session.remote(ref, { notices }), cached?.cache, config, options.signal);
    const mismatch = !resolved.platform && described.platform && !platformMatches(described.platform, platform);
    return {
      reference: ref.original,
      canonical: canonicalReference(ref),
      digest: resolved.digest.value,
      mediaType: resolved.mediaType,
      ...(resolved.offered && { platforms: resolved.offered }),
      ...(resolved.platform && { platform: resolved.platform }),
      ...(resolved.platformFallback && { platformFallback: resolved.platformFallback }),
      ...(described.platform && { configPlatform: formatPlatform(described.platform) }),
      ...(mismatch && { platformMismatch: formatPlatform(platform) }),
      ...(described.created && { created: described.created }),
      manifestDigest: resolved.manifestDigest.value,
      imageId: config.digest.value,
      layers: layers.map((layer) => ({ digest: layer.digest.value, size: layer.size, mediaType: layer.mediaType })),
      size: [config, ...layers].reduce((sum, blob) => sum + blob.size, 0),
      endpoint: resolved.endpoint,
    };
  } catch (error) {
    throw new ImagePullError(ref.original, asFrozenError(error));
  } finally {
    await session.close();
  }
}

/**
 * What the image's config says of where it runs and when it was made: the one blob inspect downloads (verified),
 * unless the cache holds it.
 */
async function describeConfig(
  remote: Remote,
  store: BlobCache | undefined,
  config: Descriptor,
  signal?: AbortSignal,
): Promise<{ platform?: Platform; created?: string }> {
  const bytes = (await store?.readSmall(config.digest, config.size)) ?? (await remote.configBlob(config, signal));
  const parsed = parseJson(bytes, `config ${config.digest.value}`);
  const platform = configPlatform(parsed);
  const { created } = parsed as { created?: unknown };
  return { ...(platform && { platform }), ...(typeof created === 'string' && created && { created }) };
}
