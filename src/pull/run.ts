/**
 * One pull run, once its options are checked and its writer open: the cache chosen, every image pulled (each
 * failure told as it happens, the others going on), and only when every image succeeded, the writer writes.
 */
import { DEFAULT_SEGMENT_PLAN } from '../transfer/segmented.js';
import type { PullOptions } from '../api/options.js';
import type { PullResult, PullTotals } from '../api/results.js';
import type { BlobCache } from '../cache/blob-cache.js';
import { asFrozenError, FrozenError, isRetryable } from '../errors.js';
import type { OutputWriter } from '../layout/writer.js';
import { defaultPlatform, type PlatformChoice } from '../platform/index.js';
import type { RegistrySession } from '../registry/session.js';
import type { SignaturePolicy } from '../signature/policy.js';
import { Scheduler } from '../transfer/scheduler.js';
import { failureOf, settleEveryImage } from '../util/settle.js';
import { openRunCache } from './cache.js';
import type { PullContext, PullJob, StagedPull } from './context.js';
import { pullOne } from './v2-image.js';

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_PER_HOST = 6;

/** What a run is given besides its options. */
export interface RunParts {
  readonly jobs: readonly PullJob[];
  readonly platforms: PlatformChoice;
  readonly session: RegistrySession;
  readonly writer: OutputWriter;
  readonly signatures: SignaturePolicy;
}

/**
 * Pulls every job and writes them; a failure or an abort leaves the output as it was. With `partial`, the images
 * that succeeded are written even when others failed (unless none did), and the result lists the failures.
 */
export async function runPull(options: PullOptions, parts: RunParts): Promise<PullResult> {
  const { writer } = parts;
  const emit = options.onEvent ?? (() => undefined);
  let releaseCache: (() => Promise<void>) | undefined;
  try {
    const { cache, shared } = await openRunCache(options, writer, emit);
    const context = runContext(options, parts, cache, shared);
    // `frozen cache prune` spares what this run uses, until its output is written. A cache this process cannot
    // write to (mounted read-only, say) still serves what it holds; no prune can run on it from here either.
    if (shared) releaseCache = await cache.markInUse().catch(() => undefined);
    const { staged, failures } = await pullEveryImage(options, parts.jobs, context);
    await writer.write(
      staged.map((s) => s.staged),
      options.signal,
    );
    for (const { pulled } of staged) emit({ type: 'image-done', image: pulled.reference, result: pulled });
    const images = staged.map((s) => s.pulled);
    return { output: writer.output, images, failures, totals: runTotals(staged, context, parts.session) };
  } catch (error) {
    await writer.discard();
    throw error instanceof FrozenError ? error : asFrozenError(error);
  } finally {
    await releaseCache?.();
  }
}

function runContext(options: PullOptions, parts: RunParts, cache: BlobCache, shared: boolean): PullContext {
  const { session, writer, platforms } = parts;
  return {
    session,
    writer,
    cache,
    cacheShared: shared,
    platform: platforms === 'all' ? defaultPlatform() : platforms[0],
    platforms,
    scheduler: new Scheduler(
      options.concurrency ?? DEFAULT_CONCURRENCY,
      options.perHostConcurrency ?? DEFAULT_PER_HOST,
      (host) => session.multiplexes(host),
    ),
    inFlight: new Map(),
    emit: options.onEvent ?? (() => undefined),
    offline: options.offline === true,
    decompress: options.decompress ? 'all' : writer.keepsZstd ? 'none' : 'zstd',
    protocol: options.protocol ?? 'auto',
    downloaded: { bytes: 0 },
    signatures: parts.signatures,
    includeReferrers: options.includeReferrers === true,
    segments: {
      count: options.segments ?? DEFAULT_SEGMENT_PLAN.count,
      threshold: options.segmentThreshold ?? DEFAULT_SEGMENT_PLAN.threshold,
      // A number of segments asked for is used near registries too; the default only far from them.
      always: options.segments !== undefined,
    },
    ...(options.signal && { signal: options.signal }),
  };
}

/**
 * Every image, each failure told as soon as it happens (progress drops its blobs) while the others go on, so that
 * each reports its own. An abort is no image's failure. All or nothing, unless `partial` and some image succeeded.
 */
async function pullEveryImage(options: PullOptions, jobs: readonly PullJob[], context: PullContext) {
  const { succeeded, failures } = await settleEveryImage(
    jobs,
    (job) => job.ref.original,
    (job) => pullOne(job, context),
    {
      signal: options.signal,
      onFailure: (failure) => {
        if (options.signal?.aborted) return;
        const { image, kind, message } = failure;
        context.emit({ type: 'error', image, kind, message, retryable: isRetryable(failure) });
      },
    },
  );
  if (failures.length > 0 && !(options.partial && succeeded.length > 0)) throw failureOf(failures);
  return { staged: succeeded.flatMap((s) => s.value), failures };
}

/** What the run moved: each blob of the images written counted once, the bytes received, the requests per host. */
function runTotals(staged: readonly StagedPull[], context: PullContext, session: RegistrySession): PullTotals {
  const sizes = new Map(staged.flatMap((s) => s.blobs.map((blob) => [blob.digest, blob.size] as const)));
  return {
    bytes: [...sizes.values()].reduce((sum, size) => sum + size, 0),
    downloadedBytes: context.downloaded.bytes,
    requests: session.requestCounts(),
    connections: session.connectionCounts(),
  };
}
