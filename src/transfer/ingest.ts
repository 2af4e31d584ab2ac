import { open, stat, truncate } from 'node:fs/promises';
import { createDigester } from '../digest.js';
import { asFrozenError, FrozenError } from '../errors.js';
import type { Descriptor } from '../manifest/index.js';
import { header, networkError, type HttpResponse } from '../registry/transport.js';
import type { BlobStore } from '../store/blob-store.js';
import { acquireLock } from '../store/lock.js';
import { hashFile } from '../store/verify-file.js';
import type { BlobEndpoint } from '../registry/remote.js';
import { withRetries } from './retry.js';

/**
 * Downloads a blob into the cache so that no byte of work is lost: bytes go to `<hex>.partial` as they arrive and
 * survive any failure (`kill -9` included); the next attempt, in this process or a later one, re-hashes them and asks
 * for the rest with `Range`. Only a blob whose full size and digest check out enters the cache.
 */
export interface IngestOptions {
  readonly signal?: AbortSignal;
  /** Bytes of the blob received so far, counting those a previous attempt left, as they grow. */
  readonly onProgress?: (bytes: number) => void;
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Another process is downloading this blob; we wait for it. */
  readonly onWait?: () => void;
  /** An endpoint failed (why) and the next one will be tried. */
  readonly onFallback?: (endpoint: string, error: unknown) => void;
}

/** Received bytes are written in batches of about this size: large writes for big blobs, and at most this much
 * lost to a `kill -9` (bytes received before any other failure are always written out). */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** Opens the blob from `offset` (the registry client's `getBlob`). */
export type OpenBlob = (offset: number) => Promise<HttpResponse>;

export interface IngestResult {
  /** `cache` when the blob was already there (perhaps fetched by another process meanwhile). */
  readonly source: 'registry' | 'cache';
  /** Bytes received from the network in this call. */
  readonly received: number;
  /** The endpoint that served it, when downloaded. */
  readonly endpoint?: { readonly name: string; readonly mirror: boolean };
}

/**
 * Gets a verified blob into the store from the first endpoint that can serve it: each is tried with its retry
 * policy, and any failure but an abort moves on to the next (bytes from a bad mirror never survive: a mismatch
 * empties the partial).
 */
export async function ingest(store: BlobStore, descriptor: Descriptor, endpoints: readonly BlobEndpoint[], options: IngestOptions): Promise<IngestResult> {
  const { digest, size } = descriptor;
  if (await store.has(digest, size)) return { source: 'cache', received: 0 };
  await store.prepare(digest);
  const release = await acquireLock(store.lockPath(digest), {
    ...(options.signal && { signal: options.signal }),
    ...(options.onWait && { onWait: options.onWait }),
  });
  try {
    if (await store.has(digest, size)) return { source: 'cache', received: 0 };
    const state: AttemptState = { received: 0, useRange: true };
    let failure: unknown = new FrozenError('network', `blob ${digest.value}: no endpoint to fetch it from`);
    for (const endpoint of endpoints) {
      try {
        await withRetries(endpoint.retry, () => attempt(store, descriptor, endpoint.open, options, state), {
          ...(options.signal && { signal: options.signal }),
          ...(options.onRetry && { onRetry: options.onRetry }),
        });
        return { source: 'registry', received: state.received, endpoint: { name: endpoint.name, mirror: endpoint.mirror } };
      } catch (error) {
        failure = namingBlob(error, digest.value);
        if ((failure as FrozenError).kind === 'aborted') throw failure;
        endpoint.failed();
        if (endpoint !== endpoints.at(-1)) options.onFallback?.(endpoint.name, failure);
        state.useRange = true; // the next endpoint gets its own chance to honour Range
      }
    }
    throw failure;
  } finally {
    await release();
  }
}

interface AttemptState {
  /** Network bytes over all attempts. */
  received: number;
  /** Cleared when a server mishandles Range: later attempts start from 0. */
  useRange: boolean;
}

async function attempt(store: BlobStore, descriptor: Descriptor, openBlob: OpenBlob, options: IngestOptions, state: AttemptState) {
  const { digest, size } = descriptor;
  const partial = store.partialPath(digest);
  let { offset, hash } = await resumePoint(partial, descriptor);
  if (!state.useRange && offset > 0) ({ offset, hash } = await restart(partial, descriptor));
  if (offset === size) return finish(store, descriptor, hash.digest('hex'), offset > 0);

  const response = await openBlob(offset);
  if (offset > 0 && response.statusCode === 200) {
    ({ offset, hash } = await restart(partial, descriptor)); // the server ignored Range: take the whole body
  } else if (offset > 0 && !validPartialResponse(response, offset, size)) {
    await response.body.dump();
    await truncate(partial, 0);
    state.useRange = false;
    throw new FrozenError('network', `blob ${digest.value}: the server answered Range: bytes=${offset}- with ${describeRange(response)}; starting over`);
  }
  const resumedFrom = offset;
  options.onProgress?.(offset);
  offset = await appendBody(
    response,
    partial,
    descriptor,
    offset,
    hash,
    (bytes, total) => {
      state.received += bytes;
      options.onProgress?.(total);
    },
    options.signal,
  );
  if (offset !== size) {
    throw new FrozenError('network', `blob ${digest.value}: the body ended after ${offset} of ${size} bytes`);
  }
  return finish(store, descriptor, hash.digest('hex'), resumedFrom > 0);
}

/**
 * Appends the body to the partial file, hashing as it goes, in batched writes. When the body fails (a reset, a
 * timeout), every byte already received is written before the error goes on: the next attempt resumes after it.
 * A body longer than the blob's remaining size is refused and the partial emptied. Returns the bytes on disk.
 */
async function appendBody(
  response: HttpResponse,
  partial: string,
  descriptor: Descriptor,
  offset: number,
  hash: ReturnType<typeof createDigester>,
  onBytes: (bytes: number, total: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  const file = await open(partial, 'a');
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let onDisk = offset;
  let accepted = offset;
  // One write in flight while the next batch is read: disk and network overlap.
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    await writing;
    if (pending.length === 0) return;
    const batch = pending.splice(0);
    const bytes = pendingBytes;
    pendingBytes = 0;
    writing = file.writev(batch).then(() => {
      onDisk += bytes;
    });
  };
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      accepted += chunk.length;
      if (accepted > descriptor.size) {
        await writing;
        await file.truncate(0);
        throw new FrozenError('integrity', `blob ${descriptor.digest.value}: digest or size mismatch (more than the declared ${descriptor.size} bytes)`);
      }
      hash.update(chunk);
      pending.push(chunk);
      pendingBytes += chunk.length;
      onBytes(chunk.length, accepted);
      if (pendingBytes >= WRITE_BATCH_BYTES) await flush();
    }
    await flush();
    await writing;
    return onDisk;
  } catch (error) {
    if (error instanceof FrozenError) throw error;
    await flush();
    await writing;
    if (signal?.aborted) throw new FrozenError('aborted', 'aborted', { cause: error });
    throw networkError(error, response.url);
  } finally {
    await file.close();
  }
}

/** Errors from the connection (resets, timeouts) do not say which blob they hit; this one does. */
function namingBlob(error: unknown, digest: string): FrozenError {
  const frozen = asFrozenError(error);
  if (frozen.kind === 'aborted' || frozen.message.startsWith('blob ')) return frozen;
  return new FrozenError(frozen.kind, `blob ${digest}: ${frozen.message}`, { cause: frozen });
}

/** Re-hashes what a previous attempt left. A partial longer than the blob is garbage and starts over. */
async function resumePoint(partial: string, descriptor: Descriptor) {
  const size = await stat(partial).then((s) => s.size, () => 0);
  if (size === 0) return { offset: 0, hash: createDigester(descriptor.digest.algorithm) };
  const hashed = await hashFile(partial, descriptor.digest);
  if (!hashed || hashed.size > descriptor.size) return restart(partial, descriptor);
  return { offset: hashed.size, hash: hashed.hash };
}

async function restart(partial: string, descriptor: Descriptor) {
  await truncate(partial, 0).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return { offset: 0, hash: createDigester(descriptor.digest.algorithm) };
}

/** The complete partial must hash to the digest; after a resume a mismatch means start over, else it is final. */
async function finish(store: BlobStore, descriptor: Descriptor, hex: string, resumed: boolean): Promise<void> {
  if (hex === descriptor.digest.hex) {
    await store.commitPartial(descriptor.digest);
    return;
  }
  await truncate(store.partialPath(descriptor.digest), 0);
  const message = `blob ${descriptor.digest.value}: digest or size mismatch (content hashes to ${descriptor.digest.algorithm}:${hex})`;
  if (resumed) throw new FrozenError('network', `${message} after resuming; starting over`);
  throw new FrozenError('integrity', message);
}

/** Only a 206 whose Content-Range starts where our bytes end, for a blob of the size we expect, is a resume. */
function validPartialResponse(response: HttpResponse, offset: number, size: number): boolean {
  if (response.statusCode !== 206) return false;
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response.headers, 'content-range')?.trim() ?? '');
  if (!match) return false;
  const [, start, end, total] = match;
  return Number(start) === offset && Number(end) === size - 1 && (total === '*' || Number(total) === size);
}

function describeRange(response: HttpResponse): string {
  const range = header(response.headers, 'content-range');
  return `${response.statusCode}${range ? ` (Content-Range: ${range})` : ''}`;
}
