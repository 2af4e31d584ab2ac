/**
 * The vocabulary of a download, shared by the one-stream download (ingest.ts) and the segmented one
 * (segmented.ts): what it reports, what it fills, how it ended.
 */
import { asFrozenError, FrozenError } from '../errors.js';
import type { HttpResponse } from '../registry/transport.js';
import type { RetryListener } from '../registry/retry.js';

/**
 * What a download reports (progress, retries, resumes, waits on another process, fallbacks) and the signal that
 * stops it.
 */
export interface IngestOptions {
  readonly signal?: AbortSignal;
  /**
   * Bytes of the blob received so far, counting those a previous attempt left, as they grow; while another process
   * downloads it, the bytes that process has received.
   */
  readonly onProgress?: (bytes: number) => void;
  readonly onRetry?: RetryListener;
  /** The server honoured a Range request: the download continues after `offset` bytes already on disk. */
  readonly onResume?: (offset: number) => void;
  /** Another process is downloading this blob; we wait for it. */
  readonly onWait?: () => void;
  /** Big blobs in ranges at once (default DEFAULT_SEGMENT_PLAN); `count` 1 downloads every blob in one stream. */
  readonly segments?: { readonly count: number; readonly threshold: number; readonly always?: boolean };
  /** An endpoint failed (why) and the next one will be tried. */
  readonly onFallback?: (endpoint: string, error: unknown) => void;
}

/** Opens the blob from `offset` (the registry client's `getBlob`). */
export type OpenBlob = (offset: number) => Promise<HttpResponse>;

/** How a download ended. */
export interface IngestResult {
  /** `cache` when the blob was already there (perhaps fetched by another process meanwhile). */
  readonly source: 'registry' | 'cache';
  /** Bytes received from the network in this call. */
  readonly received: number;
  /** The endpoint that served it, when downloaded. */
  readonly endpoint?: { readonly name: string; readonly mirror: boolean };
}

/** Hashes the bytes of a download as they arrive; `update` may ask the caller to wait (backpressure). */
export interface StreamHash {
  update(chunk: Buffer): void | Promise<void>;
  /** The hex digest of every byte given. */
  finish(): Promise<string>;
}

/**
 * What a download fills: a partial file (resumed across attempts and processes), a lock file, the size expected,
 * a hash of the bytes, and what to do with the complete bytes. `complete` throws when they are wrong.
 */
export interface IngestTarget<H extends StreamHash = StreamHash> {
  /** How errors name it: `blob sha256:…`. */
  readonly name: string;
  readonly partial: string;
  readonly lock: string;
  /**
   * The size expected; undefined when nobody said (a v1 layer without `X-Docker-Size` whose HEAD told nothing):
   * then the server's Content-Range or Content-Length says, else the end of the body.
   */
  readonly size: number | undefined;
  newHash(): H;
  /** Makes the folder of the partial and lock files. */
  prepare(): Promise<void>;
  /** True when the finished file is already in place (here, or by another process). */
  done(): Promise<boolean>;
  /** Checks and moves the complete partial into place. A wrong digest after a resume is retried from 0. */
  complete(hash: H, resumed: boolean): Promise<void>;
}

/** Errors from the connection (resets, timeouts) do not say which blob they hit; this one does. */
export function naming(error: unknown, name: string): FrozenError {
  const frozen = asFrozenError(error);
  if (frozen.kind === 'aborted' || frozen.message.startsWith(`${name}:`)) return frozen;
  return new FrozenError(frozen.kind, `${name}: ${frozen.message}`, { cause: frozen });
}
