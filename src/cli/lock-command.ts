/** `frozen lock`: references pinned to exact images, written to a lock file. */
import { resolve } from 'node:path';
import { Command } from 'commander';
import { lock } from '../lock.js';
import { writeLockFile } from '../lockfile/index.js';
import { counted } from '../util/counted.js';
import { platformFallbackLine, requestLine } from './progress.js';
import { EXIT_OK, type Io } from './io.js';
import { readImageList } from './pull-command.js';
import { addRegistryOptions, addVerifyKeyOption, registryOptions, type RegistryFlags } from './registry-options.js';
import { reportError } from './report.js';

interface LockFlags extends RegistryFlags {
  file?: string;
  output: string;
  platform?: string;
  cache?: string | false;
  debug?: boolean;
  verifyKey: string[];
}

/** `frozen lock IMAGE... [-f images.txt]`: resolve tags to exact images and write frozen.lock.json. */
export function lockCommand(io: Io, setExitCode: (code: number) => void): Command {
  const command = new Command('lock')
    .description('resolve references to exact images for a platform and write a lock file for `frozen pull --lock`')
    .argument('[image...]', 'image references')
    .option('-f, --file <path>', 'read image references from this file, one a line')
    .option('-o, --output <path>', 'the lock file to write', 'frozen.lock.json')
    .option('--platform <os/arch[/variant],...|all>', 'platform(s) to lock (default: as pull picks); all: every one')
    .option('--cache <dir>', "read manifests from this blob cache, and keep them in it (default: pull's, if it exists)")
    .option('--no-cache', 'ask the registry for every manifest');
  return addVerifyKeyOption(addRegistryOptions(command))
    .option('--debug', 'print stack traces with errors')
    .action(async (images: string[], flags: LockFlags) => {
      try {
        const locked = await lock({
          ...registryOptions(flags),
          images: [...images, ...(flags.file ? await readImageList(flags.file) : [])],
          ...(flags.platform && { platform: flags.platform }),
          ...(flags.cache !== undefined && { cache: flags.cache }),
          ...(flags.verifyKey.length > 0 && { verifyKeys: flags.verifyKey }),
          onEvent: (event) =>
            io.stderr(`${event.type === 'platform-fallback' ? platformFallbackLine(event) : requestLine(event)}\n`),
        });
        const path = resolve(flags.output);
        await writeLockFile(path, locked);
        for (const image of locked.images)
          io.stdout(
            `${image.reference} → ${image.manifestDigest}${image.platform ? ` (${image.platform})` : ''}${image.signedBy ? `, signed by ${image.signedBy.key}` : ''}\n`,
          );
        io.stdout(`Locked ${counted(locked.images.length, 'image')} in ${path}\n`);
        setExitCode(EXIT_OK);
      } catch (error) {
        setExitCode(reportError(error, io, flags.debug === true));
      }
    });
}
