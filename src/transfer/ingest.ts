/**
 * Downloads a blob into the cache so that no byte of work is lost: bytes go to `<hex>.partial` as they arrive and
 * survive any failure (`kill -9` included); the next attempt, in this process or a later one, re-hashes them and asks
 * for the rest with `Range`. Only a blob whose full size and digest check out enters the cache.
 */
import { createReadStream } from 'node:fs';
import { stat, truncate } from 'node:fs/promises';
import { createDigester } from '../digest.js';
import { abortedError, FrozenError } from '../errors.js';
import type { Descriptor } from '../manifest/index.js';
import { header, networkError, type HttpResponse } from '../registry/transport.js';
import type { BlobCache } from '../cache/blob-cache.js';
import { acquireLock } from '../util/file-lock.js';
import type { BlobEndpoint } from '../registry/remote.js';
import { withRetries } from '../registry/retry.js';
import { BatchedAppend } from './batched-append.js';
import { contentRange, describeRange } from './content-range.js';
import { expectStillThere, PartialChanged } from './partial-check.js';
import { bytesHeld, keepPrefixOnly } from './ranges.js';
import { DEFAULT_SEGMENT_PLAN, ingestSegmented, RangesRefused, segmentable } from './segmented.js';
import {
  naming,
  type IngestOptions,
  type IngestResult,
  type IngestTarget,
  type OpenBlob,
  type StreamHash,
} from './ingest-types.js';

export type { IngestOptions, IngestResult, IngestTarget, OpenBlob, StreamHash } from './ingest-types.js';

/**
 * Gets a verified blob into the store from the first endpoint that can serve it: each is tried with its retry
 * policy, and any failure but an abort moves on to the next (bytes from a bad mirror never survive: a mismatch
 * empties the partial).
 */
export async function ingest(
  store: BlobCache,
  descriptor: Descriptor,
  endpoints: readonly BlobEndpoint[],
  options: IngestOptions,
): Promise<IngestResult> {
  return ingestInto(blobTarget(store, descriptor), endpoints, options);
}

/**
 * `ingest` for any target: locked across processes, resumed, retried, falling back from endpoint to endpoint.
 * Callers look for the finished file first; here it is looked for again once the lock is held, in case another
 * process finished it meanwhile.
 */
export async function ingestInto<H extends StreamHash>(
  target: IngestTarget<H>,
  endpoints: readonly BlobEndpoint[],
  options: IngestOptions,
): Promise<IngestResult> {
  await target.prepare();
  const { onProgress } = options;
  const release = await acquireLock(target.lock, {
    ...(options.signal && { signal: options.signal }),
    ...(options.onWait && { onWait: options.onWait }),
    // While another process downloads the blob, what its partial file holds is this blob's progress.
    ...(onProgress && {
      onPoll: () => void bytesHeld(target.partial, target.size).then(onProgress, () => undefined),
    }),
  });
  try {
    if (await target.done()) return { source: 'cache', received: 0 };
    const plan = options.segments ?? DEFAULT_SEGMENT_PLAN;
    if (segmentable(target, endpoints, plan)) {
      try {
        return await ingestSegmented(target, endpoints, options, plan);
      } catch (error) {
        if (!oneStreamAfter(error, endpoints)) throw error;
        options.onFallback?.('ranges', error);
      }
    }
    const state: AttemptState = { received: 0, useRange: true, size: target.size };
    let failure: FrozenError = new FrozenError('network', `${target.name}: no endpoint to fetch it from`);
    for (const endpoint of endpoints) {
      try {
        await withRetries(endpoint.retry, () => attempt(target, endpoint.open, options, state), {
          signal: options.signal,
          onRetry: options.onRetry,
        });
        return {
          source: 'registry',
          received: state.received,
          endpoint: { name: endpoint.name, mirror: endpoint.mirror },
        };
      } catch (error) {
        failure = naming(error, target.name);
        if (failure.kind === 'aborted' || failure.kind === 'output') throw failure;
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

/** What every wrong-bytes failure says. */
const MISMATCH = 'digest or size mismatch';

/**
 * Whether a download in ranges that failed with `error` goes on in one stream. A server that will not serve ranges
 * as asked does: one stream judges its Range answers itself. So do mirrors whose bytes failed the digest (the ranges
 * emptied), so that one stream finds the endpoint that serves the right ones; and a partial changed on disk
 * meanwhile (emptied: one stream starts over).
 */
function oneStreamAfter(error: unknown, endpoints: readonly BlobEndpoint[]): boolean {
  if (error instanceof RangesRefused || error instanceof PartialChanged) return true;
  const mismatch = error instanceof FrozenError && error.message.includes(MISMATCH);
  return mismatch && endpoints.some((endpoint) => endpoint.mirror);
}

interface AttemptState {
  /** Network bytes over all attempts. */
  received: number;
  /** The blob's size: the target's, or what a server said when the target does not know it. */
  size: number | undefined;
  /** Cleared when a server mishandles Range: later attempts start from 0. */
  useRange: boolean;
}

async function attempt<H extends StreamHash>(
  target: IngestTarget<H>,
  openBlob: OpenBlob,
  options: IngestOptions,
  state: AttemptState,
) {
  const { partial } = target;
  let { offset, hash } = await resumePoint(target, state.size);
  if (!state.useRange && offset > 0) ({ offset, hash } = await restart(target));
  if (offset === state.size) return target.complete(hash, offset > 0);

  const response = await openBlob(offset);
  if (offset > 0 && state.size === undefined && response.statusCode === 416) {
    // Of a blob whose size nobody said, every byte is here: the server has none after them.
    await response.body.dump();
    return target.complete(hash, true);
  }
  if (offset > 0 && response.statusCode === 200) {
    ({ offset, hash } = await restart(target)); // the server ignored Range: take the whole body
  } else if (offset > 0 && !validPartialResponse(response, offset, state.size)) {
    await response.body.dump();
    await truncate(partial, 0);
    state.useRange = false;
    throw new FrozenError(
      'network',
      `${target.name}: the server answered Range: bytes=${offset}- with ${describeRange(response)}; starting over`,
    );
  }
  state.size ??= sizeFromResponse(response, offset);
  const size = state.size;
  const resumedFrom = offset;
  if (resumedFrom > 0) options.onResume?.(resumedFrom);
  options.onProgress?.(offset);
  offset = await appendBody(
    response,
    { ...target, size },
    offset,
    hash,
    (bytes, total) => {
      state.received += bytes;
      options.onProgress?.(total);
    },
    options.signal,
  );
  if (size !== undefined && offset !== size) {
    throw new FrozenError('network', `${target.name}: the body ended after ${offset} of ${size} bytes`);
  }
  return target.complete(hash, resumedFrom > 0);
}

/**
 * Appends the body to the partial file, hashing as it goes, in batched writes. When the body fails (a reset, a
 * timeout), every byte already received is written before the error goes on: the next attempt resumes after it.
 * A body longer than the remaining size is refused and the partial emptied. Returns the bytes on disk.
 */
async function appendBody(
  response: HttpResponse,
  target: IngestTarget,
  offset: number,
  hash: StreamHash,
  onBytes: (bytes: number, total: number) => void,
  signal?: AbortSignal,
): Promise<number> {
  const file = await BatchedAppend.open(target.partial, offset);
  let accepted = offset;
  try {
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      accepted += chunk.length;
      if (target.size !== undefined && accepted > target.size) {
        await file.empty();
        throw new FrozenError('integrity', `${target.name}: ${MISMATCH} (more than the declared ${target.size} bytes)`);
      }
      await hash.update(chunk);
      onBytes(chunk.length, accepted);
      await file.append(chunk);
    }
    await file.drain();
    await expectStillThere(target.partial, target.name, file.handle, file.onDisk);
    return file.onDisk;
  } catch (error) {
    if (error instanceof FrozenError) throw error;
    await file.drain();
    if (signal?.aborted) throw abortedError(signal, error);
    throw networkError(error, response.url);
  } finally {
    await file.close();
  }
}

/** Re-hashes what a previous attempt left. A partial longer than the blob, or one that cannot be read, starts over. */
async function resumePoint<H extends StreamHash>(
  target: IngestTarget<H>,
  expected: number | undefined,
): Promise<{ offset: number; hash: H }> {
  await keepPrefixOnly(target.partial); // a partial written in ranges keeps the bytes from 0 that are all there
  const size = await stat(target.partial).then(
    (s) => s.size,
    () => 0,
  );
  if (size === 0) return { offset: 0, hash: target.newHash() };
  if (expected !== undefined && size > expected) return restart(target);
  const hash = target.newHash();
  try {
    for await (const chunk of createReadStream(target.partial)) await hash.update(chunk as Buffer);
  } catch {
    return restart(target);
  }
  return { offset: size, hash };
}

async function restart<H extends StreamHash>(target: IngestTarget<H>): Promise<{ offset: number; hash: H }> {
  await truncate(target.partial, 0).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  return { offset: 0, hash: target.newHash() };
}

/** A blob of a manifest: it enters the store only when the complete bytes hash to its digest. */
function blobTarget(store: BlobCache, descriptor: Descriptor): IngestTarget {
  const { digest } = descriptor;
  const name = `blob ${digest.value}`;
  return {
    name,
    partial: store.partialPath(digest),
    lock: store.lockPath(digest),
    size: descriptor.size,
    newHash: () => nodeHash(digest.algorithm),
    prepare: () => store.prepare(digest),
    done: () => store.has(digest, descriptor.size),
    complete: async (hash, resumed) => {
      const hex = await hash.finish();
      if (hex === digest.hex) return store.commitPartial(digest);
      await rejectPartial(
        store.partialPath(digest),
        `${name}: ${MISMATCH} (content hashes to ${digest.algorithm}:${hex})`,
        resumed,
      );
    },
  };
}

/** A StreamHash of one algorithm. */
function nodeHash(algorithm: Parameters<typeof createDigester>[0]): StreamHash {
  const hash = createDigester(algorithm);
  return {
    update: (chunk) => void hash.update(chunk),
    finish: () => Promise.resolve(hash.digest('hex')),
  };
}

/**
 * Bytes that failed their check are emptied. After a resume the failure may be the resume's fault, so it is a
 * network error (retried from 0); otherwise the content itself is wrong.
 */
export async function rejectPartial(partial: string, message: string, resumed: boolean): Promise<never> {
  await truncate(partial, 0);
  if (resumed) throw new FrozenError('network', `${message} after resuming; starting over`);
  throw new FrozenError('integrity', message);
}

/**
 * The size a response says the blob has: Content-Range's total, else Content-Length (after `offset` for a 206).
 * Undefined when it says neither.
 */
function sizeFromResponse(response: HttpResponse, offset: number): number | undefined {
  const total = /\/(\d+)$/.exec(header(response.headers, 'content-range')?.trim() ?? '')?.[1];
  if (total !== undefined) return Number(total);
  const length = header(response.headers, 'content-length');
  if (length === undefined || !/^\d+$/.test(length.trim())) return undefined;
  return Number(length) + (response.statusCode === 206 ? offset : 0);
}

/**
 * Only a 206 whose Content-Range starts where our bytes end, for a blob of the size we expect (when we expect
 * one), is a resume.
 */
function validPartialResponse(response: HttpResponse, offset: number, size: number | undefined): boolean {
  const range = response.statusCode === 206 ? contentRange(response) : undefined;
  if (!range || range.start !== offset) return false;
  if (size === undefined) return range.total === undefined || range.end === range.total - 1;
  return range.end === size - 1 && (range.total === undefined || range.total === size);
}
