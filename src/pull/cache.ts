/**
 * The cache a pull uses: the one its options name (or the default), else a temporary one in the writer's staging
 * folder, for `cache: false` or a default cache that cannot be made.
 */
import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import type { PullEvent } from '../api/events.js';
import type { PullOptions } from '../api/options.js';
import { BlobCache } from '../cache/blob-cache.js';
import { asFrozenError } from '../errors.js';
import type { OutputWriter } from '../layout/writer.js';
import { isWithin } from '../util/files.js';

/** The cache the options name (`cache`, else the default), whether or not it exists yet. */
export function chosenCache(options: PullOptions): BlobCache {
  return BlobCache.at(typeof options.cache === 'string' ? options.cache : undefined);
}

/**
 * The cache of a run, and whether it outlives the run. When the default cache cannot be made (no writable home, as
 * for a user without one in a Dockerfile `RUN`), the run goes on without it, as pip does, and says so; a cache the
 * caller chose must work.
 */
export async function openRunCache(
  options: PullOptions,
  writer: OutputWriter,
  emit: (event: PullEvent) => void,
): Promise<{ cache: BlobCache; shared: boolean }> {
  const temporary = async () => {
    const cache = new BlobCache(join(writer.staging, 'cache'));
    await cache.createFolder();
    return { cache, shared: false };
  };
  if (options.cache === false) return temporary();
  const chosen = options.cache !== undefined || Boolean(process.env.FROZEN_CACHE);
  const cache = chosenCache(options);
  try {
    await cache.createFolder();
  } catch (error) {
    if (chosen) throw error;
    const reason = (asFrozenError(error).cause as Error | undefined)?.message ?? String(error);
    emit({ type: 'cache-unusable', path: cache.root, reason });
    return temporary();
  }
  if (writer.format === 'dir') await warnIfWithin(cache.root, writer.output, emit);
  return { cache, shared: true };
}

/**
 * A cache inside the output directory goes wherever the directory goes, and `tar -c` of it writes the files the two
 * share (every config and layer) as hard links, which skopeo and podman load read as empty files and containerd's
 * importer as missing ones.
 */
async function warnIfWithin(cache: string, output: string, emit: (event: PullEvent) => void): Promise<void> {
  const [inner, outer] = await Promise.all([realpath(cache), realpath(output)]);
  if (isWithin(inner, outer)) emit({ type: 'cache-in-output', path: cache, output });
}
