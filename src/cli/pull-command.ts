/** `frozen pull`: flags to `pull()` options, signals to an abort, the result to a summary. */
import { DEFAULT_SEGMENT_PLAN, NEAR_MS } from '../transfer/segmented.js';
import { constants as osConstants } from 'node:os';
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { FrozenError } from '../errors.js';
import type { PullCommonOptions, PullOptions } from '../api/options.js';
import type { PulledImage, PullResult } from '../api/results.js';
import { readLockFile } from '../lockfile/index.js';
import { pull } from '../pull/pull.js';
import { parseReference } from '../reference/index.js';
import { counted } from '../util/counted.js';
import { formatBytes, positiveInteger } from './format.js';
import { EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Io } from './io.js';
import { createRenderer, type ProgressMode } from './progress.js';
import { addRegistryOptions, addVerifyKeyOption, registryOptions, type RegistryFlags } from './registry-options.js';
import { cliWording, reportError } from './report.js';

interface PullFlags extends RegistryFlags {
  file?: string;
  lock?: string;
  offline?: boolean;
  output: string;
  format: 'dir' | 'tar' | 'oci';
  platform?: string;
  cache?: string | false;
  copy?: boolean;
  decompress?: boolean;
  protocol: 'v1' | 'v2' | 'auto';
  concurrency: number;
  segments?: number;
  segmentThreshold: number;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
  keepGoing?: boolean;
  verifyKey: string[];
  includeReferrers?: boolean;
}

const MIB = 1024 * 1024;

/** `frozen pull IMAGE... [options]`: the command and its flags. */
export function pullCommand(io: Io, setExitCode: (code: number) => void): Command {
  const command = new Command('pull')
    .description('download images into a directory that `docker load` reads (tar -cC DIR . | docker load)')
    .argument('[image...]', 'image references: [host[:port]/]name[:tag][@sha256:digest | @<64-hex image ID>]')
    .option(
      '-f, --file <path>',
      'read image references from this file, one a line (# comments and blank lines allowed)',
    )
    .option('--lock <file>', 'pull exactly the images of this lock file (from frozen lock)')
    .option(
      '--offline',
      'make no request (with --lock, or references with a digest); every manifest and blob must be in the cache',
    )
    .option(
      '-o, --output <path>',
      'output directory, or tar file with --format tar (and with --format oci, a path ending in .tar); - streams a tar to stdout',
      'frozen-images',
    )
    .addOption(
      new Option(
        '--format <format>',
        'dir: the download-frozen-image directory (merged); tar: one docker-archive tar; oci: a new OCI layout with manifest.json',
      )
        .choices(['dir', 'tar', 'oci'])
        .default('dir'),
    )
    .option(
      '--platform <os/arch[/variant],...|all>',
      'platform to pick from multi-platform images (default: $TARGETPLATFORM, $TARGETARCH/$TARGETVARIANT, else this host); several, or all, need --format oci',
    );
  const withOutputOptions = addVerifyKeyOption(addRegistryOptions(command))
    .option('--cache <dir>', 'blob cache directory (default: $FROZEN_CACHE, $XDG_CACHE_HOME/frozen, ~/.cache/frozen)')
    .option('--no-cache', 'use no cache: download into the output directory only')
    .option('--copy', 'copy files from the cache instead of hard-linking them')
    .option('--decompress', 'store layers uncompressed, as docker save does (layer.tar hashes to its diff ID)')
    .addOption(
      new Option(
        '--protocol <api>',
        'registry API: v2; v1 (legacy registries); auto: v2, or v1 when the host has no /v2/ but answers /v1/_ping',
      )
        .choices(['v1', 'v2', 'auto'])
        .default('auto'),
    );
  return addTransferOptions(withOutputOptions)
    .option(
      '--include-referrers',
      'keep what refers to each image (cosign signatures, attestations, SBOMs; OCI referrers) in the OCI layout',
    )
    .option('--keep-going', 'write the images that succeeded even when others failed (exit 1 still), as skopeo sync')
    .option('--json', 'print progress and results as NDJSON events on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--debug', 'print stack traces with errors')
    .action(async (images: string[], flags: PullFlags) => setExitCode(await runPull(images, flags, io)));
}

/** How blobs are downloaded: how many at once, and big ones in how many ranges. */
function addTransferOptions(command: Command): Command {
  return command
    .option(
      '--concurrency <n>',
      'large blobs downloaded at once (small ones have as many slots of their own; 4× over HTTP/2)',
      positiveInteger,
      16,
    )
    .option(
      '--segments <n>',
      `fetch each big blob as this many ranges at once, a connection each (1: one stream); default ${DEFAULT_SEGMENT_PLAN.count} from registries ${NEAR_MS} ms or more away, one stream from nearer ones`,
      positiveInteger,
    )
    .option(
      '--segment-threshold <MiB>',
      'the size from which a blob is fetched in ranges',
      positiveInteger,
      DEFAULT_SEGMENT_PLAN.threshold / MIB,
    );
}

async function runPull(images: string[], flags: PullFlags, io: Io): Promise<number> {
  const toStdout = flags.output === '-';
  if (toStdout && flags.json) {
    io.stderr('frozen: error: --json and -o - both want stdout\n');
    return EXIT_USAGE;
  }
  if (toStdout && io.stdoutIsTerminal) {
    io.stderr('frozen: error: -o - writes a tar, and stdout is a terminal: pipe it (| docker load) or redirect it\n');
    return EXIT_USAGE;
  }
  const controller = new AbortController();
  let interruptedBy: NodeJS.Signals | undefined;
  // The first signal stops the pull cleanly; the handler is gone then, so a second one ends the process at once.
  const onSignal = (signal: NodeJS.Signals) => {
    interruptedBy = signal;
    controller.abort();
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  // `--json | head -1`: the reader is gone, so the pull stops as for a signal, and quietly, as SIGPIPE would end it.
  const stopWatchingStdout = io.onStdoutClosed?.(() => onSignal('SIGPIPE'));
  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : io.interactive ? 'tty' : 'plain';
  const renderer = createRenderer(mode, io);
  try {
    const run = {
      signal: controller.signal,
      onEvent: renderer.onEvent,
      output: toStdout ? process.stdout : flags.output,
    };
    const result = await pull(await pullOptions(images, flags, run));
    renderer.finish();
    if (mode === 'json') io.stdout(`${JSON.stringify(jsonSummary(result))}\n`);
    return reportResult(result, flags, mode === 'tty' || mode === 'plain', io);
  } catch (error) {
    renderer.finish();
    if (interruptedBy === 'SIGPIPE') return EXIT_BROKEN_PIPE;
    if (interruptedBy) return reportInterruption(interruptedBy, flags.cache !== false, io);
    return reportError(error, io, flags.debug === true);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
    stopWatchingStdout?.();
  }
}

/** The options `pull()` gets from the flags: images by reference, or a lock file's. */
async function pullOptions(
  images: readonly string[],
  flags: PullFlags,
  run: Pick<PullCommonOptions, 'signal' | 'onEvent' | 'output'>,
): Promise<PullOptions> {
  const common: PullCommonOptions = {
    ...registryOptions(flags),
    ...run,
    ...(flags.offline && { offline: true }),
    format: flags.format,
    ...(flags.cache !== undefined && { cache: flags.cache }),
    copy: flags.copy === true,
    decompress: flags.decompress === true,
    protocol: flags.protocol,
    concurrency: flags.concurrency,
    ...(flags.segments !== undefined && { segments: flags.segments }),
    segmentThreshold: flags.segmentThreshold * MIB,
    partial: flags.keepGoing === true,
    ...(flags.verifyKey.length > 0 && { verifyKeys: flags.verifyKey }),
    ...(flags.includeReferrers && { includeReferrers: true }),
  };
  const named = [...images, ...(flags.file ? await readImageList(flags.file) : [])];
  if (flags.lock === undefined) return { ...common, images: named, platform: flags.platform };
  // Images or a platform besides a lock file are refused by pull(), in its words.
  const lock = await readLockFile(flags.lock);
  return { ...common, lock, images: named as [], platform: flags.platform as undefined };
}

/** The summary of each image and the load command (not with --json, -q or -o -), and the failures of --keep-going. */
function reportResult(result: PullResult, flags: PullFlags, summary: boolean, io: Io): number {
  if (summary && flags.output !== '-') {
    for (const image of result.images) io.stdout(formatSummary(image));
    const path = shellQuoted(result.output);
    const packed = flags.format === 'tar' || (flags.format === 'oci' && result.output.endsWith('.tar'));
    const load = packed ? `docker load -i ${path}` : `tar -cC ${path} . | docker load`;
    io.stdout(`Wrote ${counted(result.images.length, 'image')} to ${result.output}; load with: ${load}\n`);
  }
  for (const failure of result.failures) io.stderr(`frozen: error: ${cliWording(failure.message)}\n`);
  return result.failures.length === 0 ? EXIT_OK : EXIT_FAILED;
}

/**
 * `--json`'s last line: the run as a whole, after every image's `image-done`: where it went, how many images
 * (and failures, with --keep-going), and what it moved, requests and connections per host included.
 */
function jsonSummary(result: PullResult): object {
  const { output, images, failures, totals } = result;
  return { type: 'summary', output, images: images.length, failures: failures.length, totals };
}

/** The shell's convention: 128 + the signal's number (130 for Ctrl-C), so scripts can tell an interruption. */
function reportInterruption(signal: NodeJS.Signals, cached: boolean, io: Io): number {
  io.stderr(
    `frozen: interrupted by ${signal}${cached ? '; what was downloaded stays in the cache, and the next pull resumes from there' : ''}\n`,
  );
  return 128 + osConstants.signals[signal];
}

/** References one a line; `#` starts a comment; blank lines are skipped. A malformed one is named by its line. */
export async function readImageList(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new FrozenError('usage', `cannot read image list ${path}: ${(error as Error).message}`);
  }
  const references: string[] = [];
  // \r?\n: files written on Windows too.
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    const reference = line.replace(/#.*/, '').trim();
    if (reference.length === 0) continue;
    try {
      parseReference(reference);
    } catch (error) {
      throw new FrozenError('reference', `${path}:${index + 1}: ${(error as Error).message}`);
    }
    references.push(reference);
  }
  return references;
}

function formatSummary(image: PulledImage): string {
  const rows = [
    `${image.canonical}${image.platform ? ` (${image.platform})` : ''}`,
    image.protocol === 'v1'
      ? `  v1 image  ${image.manifestDigest.slice('v1:'.length)}`
      : `  manifest  ${image.manifestDigest}`,
    `  image ID  ${image.imageId}`,
    `  layers    ${image.layers}, ${formatBytes(image.bytes - image.configBytes)}; config ${formatBytes(image.configBytes)} (${formatBytes(image.downloadedBytes)} downloaded)`,
    `  from      manifest: ${image.endpoint}${formatBlobEndpoints(image.blobEndpoints)}`,
    ...(image.signedBy ? [`  signed    by ${image.signedBy}`] : []),
  ];
  return `${rows.join('\n')}\n`;
}

function formatBlobEndpoints(counts: Readonly<Record<string, number>>): string {
  const parts = Object.entries(counts).map(([endpoint, blobs]) => `${endpoint} (${blobs})`);
  return parts.length ? `; blobs: ${parts.join(', ')}` : '';
}

/** A path as one POSIX shell word, whatever it holds (the load command printed is meant to be pasted). */
function shellQuoted(path: string): string {
  return `'${path.replaceAll("'", `'\\''`)}'`;
}
