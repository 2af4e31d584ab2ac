/**
 * The output writer a pull's options ask for, chosen here and nowhere else: `format` says which, and `output` where
 * (a directory, a file, or a stream for a tar). Each is checked before any download.
 */
import { tmpdir } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import type { PullOptions } from '../api/options.js';
import { FrozenError } from '../errors.js';
import { DockerDirectory } from '../layout/docker-dir.js';
import { isTarPath, OciWriter } from '../layout/oci.js';
import type { OutputWriter } from '../layout/writer.js';
import { isWithin } from '../util/files.js';
import { chosenCache } from './cache.js';

const DEFAULT_OUTPUT = 'frozen-images';

/** The writer the options ask for, its target checked. */
export async function openWriter(options: PullOptions): Promise<OutputWriter> {
  const output = options.output ?? DEFAULT_OUTPUT;
  const copy = options.copy === true;
  if (options.format === 'oci') {
    // A layout directory, or a tar of one (a stream, or a path ending in .tar).
    const target = typeof output === 'string' ? resolvePath(output) : output;
    if (typeof target === 'string' && !isTarPath(target)) assertCacheOutside(options, target);
    return OciWriter.open(target, () => scratchRoot(options), { copy });
  }
  if (options.format === 'tar' || typeof output !== 'string') {
    const { TarWriter } = await import('../layout/tar-writer.js');
    return TarWriter.open(output, () => scratchRoot(options), { copy });
  }
  return DockerDirectory.open(resolvePath(output), { copy });
}

/**
 * Where tar and OCI writers keep their scratch folders (asked for once the target checked out): beside the cache
 * (so blobs are linked, not copied). A cache
 * that cannot be written (mounted read-only) still serves what it holds: scratch goes to the system's temporary
 * folder then, and blobs are copied.
 */
async function scratchRoot(options: PullOptions): Promise<string> {
  if (options.cache === false) return tmpdir();
  return chosenCache(options)
    .scratchFolder()
    .catch(() => tmpdir());
}

/** A layout is written as a new folder, so a cache inside it would be in its way (and would be taken along with it). */
function assertCacheOutside(options: PullOptions, root: string): void {
  if (options.cache === false) return;
  const cache = chosenCache(options).root;
  if (isWithin(cache, root)) {
    throw new FrozenError(
      'usage',
      `the cache ${cache} is inside the OCI layout ${root}: give the cache option a folder outside it`,
    );
  }
}
