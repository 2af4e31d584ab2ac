/** The events `pull()` reports (and `inspect`/`lock` report some of): the public vocabulary, on its own. */
import type { PulledImage } from './results.js';

/** What a blob is to its image. */
export type BlobKind = 'config' | 'layer';
/** Where a blob came from: the registry, one of its mirrors, the cache, or the output directory (re-verified). */
export type BlobSource = 'registry' | 'mirror' | 'cache' | 'output';

/** An index had no entry for the platform asked for, and one that platform also runs was picked. */
export type PlatformFallbackEvent = Extract<PullEvent, { type: 'platform-fallback' }>;

/** The events of requests that are not blob downloads, which `inspect` and `lock` report too. */
export type RequestEvent = Extract<PullEvent, { type: 'request-retry' | 'request-fallback' }>;

/** Everything a pull reports as it goes, in order; docs/api.md describes each. */
export type PullEvent =
  | {
      type: 'resolved';
      image: string;
      digest: string;
      manifestDigest: string;
      imageId: string;
      platform?: string;
      layers: number;
      bytes: number;
      endpoint: string;
    }
  | { type: 'blob-start'; image: string; kind: BlobKind; digest: string; size: number }
  | { type: 'blob-progress'; image: string; kind: BlobKind; digest: string; size: number; bytes: number }
  | { type: 'blob-resume'; image: string; kind: BlobKind; digest: string; size: number; offset: number }
  | {
      type: 'blob-retry';
      image: string;
      kind: BlobKind;
      digest: string;
      attempt: number;
      delayMs: number;
      reason: string;
    }
  | { type: 'blob-wait'; image: string; kind: BlobKind; digest: string }
  | { type: 'blob-fallback'; image: string; kind: BlobKind; digest: string; endpoint: string; reason: string }
  | { type: 'request-retry'; image: string; attempt: number; delayMs: number; reason: string }
  | { type: 'request-fallback'; image: string; endpoint: string; reason: string }
  | {
      type: 'blob-done';
      image: string;
      kind: BlobKind;
      digest: string;
      size: number;
      source: BlobSource;
      bytes: number;
      endpoint?: string;
    }
  | { type: 'tag-moved'; image: string; locked: string; current: string }
  | { type: 'platform-mismatch'; image: string; platform: string; wanted: string }
  | { type: 'platform-fallback'; image: string; platform: string; wanted: string }
  | { type: 'cache-unusable'; path: string; reason: string }
  | { type: 'cache-in-output'; path: string; output: string }
  | { type: 'converted'; image: string; from: 'schema1' }
  | { type: 'image-done'; image: PulledImage }
  | { type: 'error'; image: string; kind: string; message: string };
