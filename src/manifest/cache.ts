/**
 * What the registry code needs of a cache of manifests: the interface only. The blob cache implements it
 * (cache/manifests.ts); registry/remote.ts consults it before asking any endpoint.
 */
import type { Digest } from '../digest.js';

/** The largest manifest frozen reads: manifests are read into memory whole. */
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
