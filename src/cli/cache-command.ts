import { Command } from 'commander';
import { BlobCache } from '../cache/blob-cache.js';
import { counted } from '../util/counted.js';
import { formatBytes, parseDuration, parseSize } from './format.js';
import { EXIT_FAILED, EXIT_OK, type Io } from './io.js';
import { reportError } from './report.js';

/** `frozen cache ls|du|verify|prune`: look after the shared blob cache. */
export function cacheCommand(io: Io, setExitCode: (code: number) => void): Command {
  const command = new Command('cache').description('inspect and maintain the blob cache');
  const storeOf = (flags: { cache?: string }) => BlobCache.at(flags.cache);
  const run = (action: (store: BlobCache, flags: CacheFlags) => Promise<number>) => async (flags: CacheFlags) => {
    try {
      setExitCode(await action(storeOf(flags), flags));
    } catch (error) {
      reportError(error, io, false);
      setExitCode(EXIT_FAILED);
    }
  };
  const cacheOption = '--cache <dir>';
  const cacheHelp = 'cache directory (default: $FROZEN_CACHE, $XDG_CACHE_HOME/frozen, ~/.cache/frozen)';

  command
    .command('ls')
    .description('list cached blobs: digest, size, last used')
    .option(cacheOption, cacheHelp)
    .action(
      run(async (store) => {
        for (const blob of await store.list())
          io.stdout(`${blob.digest.value}  ${formatBytes(blob.size).padStart(9)}  ${blob.lastUsed.toISOString()}\n`);
        return EXIT_OK;
      }),
    );

  command
    .command('du')
    .description('total size of the cache, and of the partial downloads in it')
    .option(cacheOption, cacheHelp)
    .action(
      run(async (store) => {
        const blobs = await store.list();
        const total = sizeOf(blobs);
        const partials = await store.partials();
        const unfinished =
          partials.length > 0
            ? `; ${counted(partials.length, 'partial download')}, ${formatBytes(sizeOf(partials))}`
            : '';
        io.stdout(
          `${counted(blobs.length, 'blob')}, ${formatBytes(total)} (${total} bytes) in ${store.root}${unfinished}\n`,
        );
        return EXIT_OK;
      }),
    );

  command
    .command('verify')
    .description('re-hash every blob and remove those that fail (exit 1 if any did)')
    .option(cacheOption, cacheHelp)
    .action(
      run(async (store) => {
        let checked = 0;
        const corrupt = await store.verify((blob, ok) => {
          checked++;
          if (!ok) io.stdout(`removed ${blob.digest.value}: its bytes do not match its digest\n`);
        });
        io.stdout(`verified ${counted(checked, 'blob')}, removed ${corrupt.length}\n`);
        return corrupt.length === 0 ? EXIT_OK : EXIT_FAILED;
      }),
    );

  command
    .command('prune')
    .description(
      'remove blobs and partial downloads unused for a while, or the least recently used down to a size; with no option, everything',
    )
    .option(cacheOption, cacheHelp)
    .option('--older-than <duration>', 'remove blobs not used for this long (e.g. 30d, 12h)', parseDuration)
    .option(
      '--max-size <size>',
      'then remove least recently used blobs until the cache is at most this big (e.g. 10GB)',
      parseSize,
    )
    .action(
      run(async (store, flags) => {
        const removed = await store.prune({
          ...(flags.olderThan !== undefined && { olderThanMs: flags.olderThan }),
          ...(flags.maxSize !== undefined && { maxBytes: flags.maxSize }),
        });
        const freed = sizeOf(removed.blobs) + sizeOf(removed.partials);
        const unfinished =
          removed.partials.length > 0 ? ` and ${counted(removed.partials.length, 'partial download')}` : '';
        io.stdout(`removed ${counted(removed.blobs.length, 'blob')}${unfinished}, freed ${formatBytes(freed)}\n`);
        return EXIT_OK;
      }),
    );
  return command;
}

const sizeOf = (files: readonly { readonly size: number }[]) => files.reduce((sum, file) => sum + file.size, 0);

interface CacheFlags {
  cache?: string;
  olderThan?: number;
  maxSize?: number;
}
