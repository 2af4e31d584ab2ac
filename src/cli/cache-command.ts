/** `frozen cache ls|du|verify|prune`. */
import { Command } from 'commander';
import { BlobCache } from '../cache/blob-cache.js';
import { counted } from '../util/counted.js';
import { formatBytes, parseDuration, parseSize } from './format.js';
import { EXIT_FAILED, EXIT_OK, type Io } from './io.js';
import { reportError } from './report.js';

/** `frozen cache ls|du|verify|prune`: look after the shared blob cache. */
export function cacheCommand(io: Io, setExitCode: (code: number) => void): Command {
  const command = new Command('cache').description('inspect and maintain the blob cache');
  const run = (action: (cache: BlobCache, flags: CacheFlags) => Promise<number>) => async (flags: CacheFlags) => {
    try {
      setExitCode(await action(BlobCache.at(flags.cache), flags));
    } catch (error) {
      reportError(error, io, false);
      setExitCode(EXIT_FAILED);
    }
  };
  const cacheOption = '--cache <dir>';
  const cacheHelp = 'cache directory (default: $FROZEN_CACHE, $XDG_CACHE_HOME/frozen, ~/.cache/frozen)';
  const subcommand = (name: string, description: string) =>
    command.command(name).description(description).option(cacheOption, cacheHelp);
  subcommand('ls', 'list cached blobs: digest, size, last used').action(run((cache) => listBlobs(cache, io)));
  subcommand('du', 'total size of the cache, and of the partial downloads in it').action(
    run((cache) => showUsage(cache, io)),
  );
  subcommand('verify', 're-hash every blob and remove those that fail (exit 1 if any did)').action(
    run((cache) => verifyCache(cache, io)),
  );
  subcommand(
    'prune',
    'remove blobs and partial downloads unused for a while, or the least recently used down to a size; with no option, everything',
  )
    .option('--older-than <duration>', 'remove blobs not used for this long (e.g. 30d, 12h)', parseDuration)
    .option(
      '--max-size <size>',
      'then remove least recently used blobs until the cache is at most this big (e.g. 10GB)',
      parseSize,
    )
    .action(run((cache, flags) => pruneCache(cache, flags, io)));
  return command;
}

async function listBlobs(cache: BlobCache, io: Io): Promise<number> {
  for (const blob of await cache.list())
    io.stdout(`${blob.digest.value}  ${formatBytes(blob.size).padStart(9)}  ${blob.lastUsed.toISOString()}\n`);
  return EXIT_OK;
}

async function showUsage(cache: BlobCache, io: Io): Promise<number> {
  const blobs = await cache.list();
  const total = sizeOf(blobs);
  const partials = await cache.partials();
  const unfinished =
    partials.length > 0 ? `; ${counted(partials.length, 'partial download')}, ${formatBytes(sizeOf(partials))}` : '';
  io.stdout(`${counted(blobs.length, 'blob')}, ${formatBytes(total)} (${total} bytes) in ${cache.root}${unfinished}\n`);
  return EXIT_OK;
}

async function verifyCache(cache: BlobCache, io: Io): Promise<number> {
  let checked = 0;
  const corrupt = await cache.verify((blob, ok) => {
    checked++;
    if (!ok) io.stdout(`removed ${blob.digest.value}: its bytes do not match its digest\n`);
  });
  io.stdout(`verified ${counted(checked, 'blob')}, removed ${corrupt.length}\n`);
  return corrupt.length === 0 ? EXIT_OK : EXIT_FAILED;
}

async function pruneCache(cache: BlobCache, flags: CacheFlags, io: Io): Promise<number> {
  const removed = await cache.prune({
    ...(flags.olderThan !== undefined && { olderThanMs: flags.olderThan }),
    ...(flags.maxSize !== undefined && { maxBytes: flags.maxSize }),
  });
  const freed = sizeOf(removed.blobs) + sizeOf(removed.partials);
  const unfinished = removed.partials.length > 0 ? ` and ${counted(removed.partials.length, 'partial download')}` : '';
  io.stdout(`removed ${counted(removed.blobs.length, 'blob')}${unfinished}, freed ${formatBytes(freed)}\n`);
  return EXIT_OK;
}

const sizeOf = (files: readonly { readonly size: number }[]) => files.reduce((sum, file) => sum + file.size, 0);

interface CacheFlags {
  cache?: string;
  olderThan?: number;
  maxSize?: number;
}
