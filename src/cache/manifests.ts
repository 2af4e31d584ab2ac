/**
 * The blob cache seen as a cache of manifests (manifest/cache.ts), and the cache that the commands describing
 * images (`inspect`, `lock`) use.
 */
import { MANIFEST_SIZE_LIMIT, type ManifestCache } from '../manifest/cache.js';
import { exists } from '../util/files.js';
import { BlobCache } from './blob-cache.js';

/** The manifests a blob cache keeps, added to as they are verified (where the cache can be written). */
export function storedManifests(
  cache: BlobCache,
  options: { readonly offline: boolean; readonly shared: boolean },
): ManifestCache {
  return {
    get: (digest) => cache.readSmall(digest, MANIFEST_SIZE_LIMIT),
    put: (digest, bytes) => cache.putBytes(digest, bytes).catch(() => undefined),
    offline: options.offline,
    shared: options.shared,
    knowsTag: (name) => cache.knowsTag(name),
    rememberTag: (name) => cache.rememberTag(name).catch(() => undefined),
  };
}

/**
 * The cache that commands describing images (`inspect`, `lock`) read manifests from and keep them in: the one
 * named, else the default one if it exists. They make no default cache; without one they ask the registry.
 */
export async function describingCache(
  path: string | false | undefined,
): Promise<{ cache: BlobCache; manifests: ManifestCache } | undefined> {
  if (path === false) return undefined;
  const cache = BlobCache.at(path);
  if (path === undefined && !(await exists(cache.blobsFolder))) return undefined;
  return { cache, manifests: storedManifests(cache, { offline: false, shared: true }) };
}
