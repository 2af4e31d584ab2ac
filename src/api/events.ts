/**
 * The events `pull()` reports (and `inspect`/`lock` report some of): the public vocabulary, on its own. Each variant
 * is a named type; every per-image event carries `image`, the reference as given.
 */
import type { ErrorKind } from '../errors.js';
import type { PulledImage } from './results.js';

/** What a blob is to its image. */
export type BlobKind = 'config' | 'layer';

/**
 * Where a blob came from: the registry, one of its mirrors, the cache, the output directory (re-verified), or, for
 * an image that wanted a blob another image of the run was already downloading, that shared download (`shared`:
 * its bytes are counted once, with the image that started it).
 */
export type BlobSource = 'registry' | 'mirror' | 'cache' | 'output' | 'shared';

/** The blob an event is about: `digest` is `v1:<image ID>` for a v1 layer, which has no digest until it is here. */
interface BlobEventBase {
  readonly image: string;
  readonly kind: BlobKind;
  readonly digest: string;
}

/**
 * The manifest is fetched, verified and chosen; `endpoint` served it (`cache` when the image manifest was cached).
 * For a v1 image, its ancestry and jsons are checked and the digests and `imageId` are `v1:<image ID>`.
 */
export interface ResolvedEvent {
  readonly type: 'resolved';
  readonly image: string;
  readonly digest: string;
  readonly manifestDigest: string;
  readonly imageId: string;
  /** The platform of the entry picked from an index, when there was one. */
  readonly platform?: string;
  readonly layers: number;
  /** Config plus layers, as known before the download (a v1 layer of unknown size counts 0). */
  readonly bytes: number;
  readonly endpoint: string;
}

/** A download begins: once per blob per run, for the image that started it. `size` is 0 when nobody said it. */
export interface BlobStartEvent extends BlobEventBase {
  readonly type: 'blob-start';
  readonly size: number;
}

/** Bytes of the blob on disk so far (resumed bytes, and another process's while this one waits, included). */
export interface BlobProgressEvent extends BlobEventBase {
  readonly type: 'blob-progress';
  readonly size: number;
  readonly bytes: number;
}

/** The server honoured a Range request: the download goes on after the `offset` bytes already on disk. */
export interface BlobResumeEvent extends BlobEventBase {
  readonly type: 'blob-resume';
  readonly size: number;
  readonly offset: number;
}

/** An attempt failed and will be retried after `delayMs`. */
export interface BlobRetryEvent extends BlobEventBase {
  readonly type: 'blob-retry';
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/** Another process holds the blob's lock; this one waits for it. */
export interface BlobWaitEvent extends BlobEventBase {
  readonly type: 'blob-wait';
}

/** An endpoint failed for this blob; the next one is tried. */
export interface BlobFallbackEvent extends BlobEventBase {
  readonly type: 'blob-fallback';
  readonly endpoint: string;
  readonly reason: string;
}

/**
 * The blob is verified in the cache, for this image. Each image gets one per blob it uses; `bytes` is what came
 * over the network for it in this run, counted once: an image that shared another's download gets `source:
 * 'shared'` and 0.
 */
export interface BlobDoneEvent extends BlobEventBase {
  readonly type: 'blob-done';
  readonly size: number;
  readonly source: BlobSource;
  readonly bytes: number;
  readonly endpoint?: string;
}

/** One of the image's other requests (a manifest, a tag's HEAD, a v1 API call) failed and will be retried. */
export interface RequestRetryEvent {
  readonly type: 'request-retry';
  readonly image: string;
  readonly attempt: number;
  readonly delayMs: number;
  readonly reason: string;
}

/** An endpoint failed for one of the image's other requests; the next one is tried. */
export interface RequestFallbackEvent {
  readonly type: 'request-fallback';
  readonly image: string;
  readonly endpoint: string;
  readonly reason: string;
}

/** A locked tag points elsewhere now; the locked image is pulled. */
export interface TagMovedEvent {
  readonly type: 'tag-moved';
  readonly image: string;
  readonly locked: string;
  readonly current: string;
}

/** The image is not multi-platform and its config names another platform than the one wanted; it is pulled. */
export interface PlatformMismatchEvent {
  readonly type: 'platform-mismatch';
  readonly image: string;
  readonly platform: string;
  readonly wanted: string;
}

/** An index had no entry for the platform asked for, and `platform`, one it also runs, was picked. */
export interface PlatformFallbackEvent {
  readonly type: 'platform-fallback';
  readonly image: string;
  readonly platform: string;
  readonly wanted: string;
}

/** The default cache cannot be made; the pull goes on with a temporary one. */
export interface CacheUnusableEvent {
  readonly type: 'cache-unusable';
  readonly path: string;
  readonly reason: string;
}

/** The cache is inside the output directory, which `tar -c` would then carry, as hard links. */
export interface CacheInOutputEvent {
  readonly type: 'cache-in-output';
  readonly path: string;
  readonly output: string;
}

/** A schema1 image is being converted (its image ID is the new config's digest). */
export interface ConvertedEvent {
  readonly type: 'converted';
  readonly image: string;
  readonly from: 'schema1';
}

/** The image is written (after the output was updated). */
export interface ImageDoneEvent {
  readonly type: 'image-done';
  readonly image: string;
  readonly result: PulledImage;
}

/** An image failed, told as soon as it did while the others go on. Not sent for an abort. */
export interface ErrorEvent {
  readonly type: 'error';
  readonly image: string;
  readonly kind: ErrorKind;
  readonly message: string;
  /** Whether another try may succeed (a network failure, not a missing image or a wrong digest). */
  readonly retryable: boolean;
}

/** Everything a pull reports as it goes, in order; docs/api.md describes each. */
export type PullEvent =
  | ResolvedEvent
  | BlobStartEvent
  | BlobProgressEvent
  | BlobResumeEvent
  | BlobRetryEvent
  | BlobWaitEvent
  | BlobFallbackEvent
  | RequestRetryEvent
  | RequestFallbackEvent
  | BlobDoneEvent
  | TagMovedEvent
  | PlatformMismatchEvent
  | PlatformFallbackEvent
  | CacheUnusableEvent
  | CacheInOutputEvent
  | ConvertedEvent
  | ImageDoneEvent
  | ErrorEvent;

/** The events of requests that are not blob downloads, which `inspect` and `lock` report too. */
export type RequestEvent = RequestRetryEvent | RequestFallbackEvent;
