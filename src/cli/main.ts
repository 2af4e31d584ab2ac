import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { asFrozenError, FrozenError } from '../errors.js';
import { pull, PullFailures, type PulledImage } from '../pull.js';
import { parseCredentials } from '../registry/auth.js';

/** Exit codes: 0 success, 1 a pull failed, 2 the command line was wrong. */
const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function main(argv: readonly string[], io: Io = processIo): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version "errors" are successes; everything else commander rejects is a usage error.
      return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    }
    throw error;
  }
  return exitCode;
}

function buildProgram(io: Io, setExitCode: (code: number) => void): Command {
  const program = new Command('frozen')
    .description('Download container images from registries into docker-load-ready directories, no daemon needed.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: io.stdout,
      writeErr: io.stderr,
      // One line per error, like every other failure: "frozen: error: …".
      outputError: (text, write) => write(`frozen: ${text.trimEnd()} (see frozen --help)\n`),
    });

  program
    .command('pull')
    .description('download images into a directory that `docker load` reads (tar -cC DIR . | docker load)')
    .argument('<image...>', 'image references: [host[:port]/]name[:tag][@sha256:digest | @<64-hex image ID>]')
    .option('-o, --output <dir>', 'output directory', 'frozen-images')
    .option('--platform <os/arch[/variant]>', 'platform to pick from multi-platform images (default: $TARGETPLATFORM, $TARGETARCH/$TARGETVARIANT, else this host)')
    .option('--creds <user:password>', 'credentials for registries that ask for them')
    .addOption(new Option('--insecure-registry <host>', 'allow plain http to this registry host (repeatable; loopback hosts always are)').argParser(collect).default([]))
    .option('--concurrency <n>', 'blobs downloaded at once', positiveInteger, 4)
    .option('-q, --quiet', 'print nothing but errors')
    .option('--debug', 'print stack traces with errors')
    .action(async (images: string[], flags: PullFlags) => setExitCode(await runPull(images, flags, io)));
  return program;
}

interface PullFlags {
  output: string;
  platform?: string;
  creds?: string;
  insecureRegistry: string[];
  concurrency: number;
  quiet?: boolean;
  debug?: boolean;
}

async function runPull(images: string[], flags: PullFlags, io: Io): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const result = await pull({
      images,
      output: flags.output,
      ...(flags.platform && { platform: flags.platform }),
      ...(flags.creds !== undefined && { credentials: parseCredentials(flags.creds) }),
      insecureRegistries: flags.insecureRegistry,
      concurrency: flags.concurrency,
      signal: controller.signal,
    });
    if (!flags.quiet) {
      for (const image of result.images) io.stdout(formatSummary(image));
      io.stdout(`Wrote ${result.images.length} image(s) to ${result.output}; load with: tar -cC '${result.output}' . | docker load\n`);
    }
    return EXIT_OK;
  } catch (error) {
    const failure = asFrozenError(error);
    reportError(failure, io, flags.debug === true);
    return failure.kind === 'reference' ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

function formatSummary(image: PulledImage): string {
  const rows = [
    `${image.canonical}${image.platform ? ` (${image.platform})` : ''}`,
    `  manifest  ${image.manifestDigest}`,
    `  image ID  ${image.imageId}`,
    `  layers    ${image.layers}, ${formatBytes(image.bytes)} (${formatBytes(image.downloadedBytes)} downloaded)`,
  ];
  return `${rows.join('\n')}\n`;
}

function reportError(error: FrozenError, io: Io, debug: boolean): void {
  const errors = error instanceof PullFailures ? error.errors : [error];
  for (const each of errors) io.stderr(`frozen: error: ${each.message}\n`);
  if (debug) io.stderr(`${errorChain(error)}\n`);
}

function errorChain(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.stack ?? e.message);
  return parts.join('\ncaused by: ');
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveInteger(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new InvalidArgumentError(`"${value}" is not a positive integer`);
  return parsed;
}

function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}
