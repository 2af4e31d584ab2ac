/**
 * One pull run, once its options are checked and its writer open: the cache chosen, every image pulled (each
 * failure told as it happens, the others going on), and only when every image succeeded, the writer writes.
 */
import type { PullOptions } from '../api/options.js';
import type { PullResult } from '../api/results.js';
import { asFrozenError, FrozenError } from '../errors.js';
import type { OutputWriter } from '../layout/writer.js';
import type { Platform } from '../platform/index.js';
import type { RegistrySession } from '../registry/session.js';
import { Scheduler } from '../transfer/scheduler.js';
import { forEveryImage } from '../util/settle.js';
import { openRunCache } from './cache.js';
import type { PullContext, PullJob } from './context.js';
import { pullOne } from './v2-image.js';

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_PER_HOST = 6;

/** What a run is given besides its options. */
export interface RunParts {
  readonly jobs: readonly PullJob[];
  readonly platform: Platform;
  readonly session: RegistrySession;
  readonly writer: OutputWriter;
}

/** Pulls every job and writes them; a failure or an abort leaves the output as it was. */
export async function runPull(
  options: PullOptions,
  { jobs, platform, session, writer }: RunParts,
): Promise<PullResult> {
  const emit = options.onEvent ?? (() => undefined);
  let releaseCache: (() => Promise<void>) | undefined;
  try {
    const { cache, shared } = await openRunCache(options, writer, emit);
    const context: PullContext = {
      session,
      writer,
      cache,
      cacheShared: shared,
      platform,
      scheduler: new Scheduler(
        options.concurrency ?? DEFAULT_CONCURRENCY,
        options.perHostConcurrency ?? DEFAULT_PER_HOST,
      ),
      inFlight: new Map(),
      emit,
      offline: options.offline === true,
      decompress: options.decompress ? 'all' : writer.keepsZstd ? 'none' : 'zstd',
      protocol: options.protocol ?? 'auto',
      ...(options.signal && { signal: options.signal }),
    };
    // `frozen cache prune` spares what this run uses, until its output is written. A cache this process cannot
    // write to (mounted read-only, say) still serves what it holds; no prune can run on it from here either.
    if (shared) releaseCache = await cache.markInUse().catch(() => undefined);
    // An image's failure is told as soon as it happens (progress drops its blobs); the others go on, so that each
    // reports its own. An abort is no image's failure.
    const staged = await forEveryImage(
      jobs,
      (job) => job.ref.original,
      (job) => pullOne(job.ref, context, job.locked),
      {
        signal: options.signal,
        onFailure: (failure) => {
          if (!options.signal?.aborted)
            emit({ type: 'error', image: failure.image, kind: failure.kind, message: failure.message });
        },
      },
    );
    await writer.write(
      staged.map((s) => s.staged),
      options.signal,
    );
    for (const { pulled } of staged) emit({ type: 'image-done', image: pulled });
    return { output: writer.output, images: staged.map((s) => s.pulled) };
  } catch (error) {
    await writer.discard();
    throw error instanceof FrozenError ? error : asFrozenError(error);
  } finally {
    await releaseCache?.();
  }
}
