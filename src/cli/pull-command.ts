import { Command, Option } from 'commander';
import { asFrozenError, FrozenError } from '../errors.js';
import { pull, PullFailures, type PulledImage } from '../pull.js';
import { parseCredentials } from '../registry/auth.js';
import { formatBytes, nonNegativeInteger, positiveInteger, positiveNumber } from './format.js';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type Io } from './io.js';
import { createRenderer, type ProgressMode } from './progress.js';

interface PullFlags {
  output: string;
  platform?: string;
  creds?: string;
  authfile?: string;
  insecureRegistry: string[];
  caFile?: string;
  mirror: string[];
  trustedMirror: string[];
  config?: string;
  daemonConfig: boolean;
  connectTimeout: number;
  stallTimeout: number;
  cache?: string | false;
  copy?: boolean;
  concurrency: number;
  retries: number;
  json?: boolean;
  quiet?: boolean;
  debug?: boolean;
}

export function pullCommand(io: Io, setExitCode: (code: number) => void): Command {
  return new Command('pull')
    .description('download images into a directory that `docker load` reads (tar -cC DIR . | docker load)')
    .argument('<image...>', 'image references: [host[:port]/]name[:tag][@sha256:digest | @<64-hex image ID>]')
    .option('-o, --output <dir>', 'output directory', 'frozen-images')
    .option('--platform <os/arch[/variant]>', 'platform to pick from multi-platform images (default: $TARGETPLATFORM, $TARGETARCH/$TARGETVARIANT, else this host)')
    .option('--creds <user:password>', 'credentials for registries that ask for them (instead of docker config.json)')
    .option('--authfile <path>', 'read credentials from this docker config.json or containers auth.json')
    .addOption(new Option('--insecure-registry <host>', 'unverified TLS, or plain http, for this registry host (repeatable)').argParser(collect).default([]))
    .option('--ca-file <pem>', 'trust these CA certificates too')
    .option('--connect-timeout <seconds>', 'give up connecting after this long', positiveNumber, 30)
    .option('--stall-timeout <seconds>', 'give up on a response that sends nothing for this long (retried)', positiveNumber, 120)
    .addOption(new Option('--mirror <[registry=]url>', 'try this mirror before the registry (repeatable; without registry=, for Docker Hub)').argParser(collect).default([]))
    .addOption(new Option('--trusted-mirror <[registry=]url>', 'a mirror that may also resolve tags (repeatable)').argParser(collect).default([]))
    .option('--config <file>', "frozen's config file (default: $XDG_CONFIG_HOME/frozen/config.json)")
    .option('--no-daemon-config', "ignore /etc/docker/daemon.json's registry-mirrors")
    .option('--cache <dir>', 'blob cache directory (default: $FROZEN_CACHE, $XDG_CACHE_HOME/frozen, ~/.cache/frozen)')
    .option('--no-cache', 'use no cache: download into the output directory only')
    .option('--copy', 'copy files from the cache instead of hard-linking them')
    .option('--concurrency <n>', 'large blobs downloaded at once (small ones have as many slots of their own)', positiveInteger, 16)
    .option('--retries <n>', 'retries after a network error, timeout, 408, 429 or 5xx', nonNegativeInteger, 5)
    .option('--json', 'print progress and results as NDJSON events on stdout')
    .option('-q, --quiet', 'print nothing but errors')
    .option('--debug', 'print stack traces with errors')
    .action(async (images: string[], flags: PullFlags) => setExitCode(await runPull(images, flags, io)));
}

async function runPull(images: string[], flags: PullFlags, io: Io): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : io.interactive ? 'tty' : 'plain';
  const renderer = createRenderer(mode, io);
  try {
    const result = await pull({
      images,
      output: flags.output,
      ...(flags.platform && { platform: flags.platform }),
      ...(flags.creds !== undefined && { credentials: parseCredentials(flags.creds) }),
      ...(flags.authfile !== undefined && { authfile: flags.authfile }),
      insecureRegistries: flags.insecureRegistry,
      ...(flags.caFile !== undefined && { caFile: flags.caFile }),
      mirrors: flags.mirror,
      trustedMirrors: flags.trustedMirror,
      ...(flags.config !== undefined && { configFile: flags.config }),
      ...(!flags.daemonConfig && { daemonConfig: false }),
      connectTimeoutMs: flags.connectTimeout * 1000,
      stallTimeoutMs: flags.stallTimeout * 1000,
      ...(flags.cache !== undefined && { cache: flags.cache }),
      copy: flags.copy === true,
      concurrency: flags.concurrency,
      retries: flags.retries,
      signal: controller.signal,
      onEvent: renderer.onEvent,
    });
    renderer.finish();
    if (mode === 'tty' || mode === 'plain') {
      for (const image of result.images) io.stdout(formatSummary(image));
      io.stdout(`Wrote ${result.images.length} image(s) to ${result.output}; load with: tar -cC '${result.output}' . | docker load\n`);
    }
    return EXIT_OK;
  } catch (error) {
    renderer.finish();
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
    `  from      manifest: ${image.endpoint}${formatBlobEndpoints(image.blobEndpoints)}`,
  ];
  return `${rows.join('\n')}\n`;
}

function formatBlobEndpoints(counts: Readonly<Record<string, number>>): string {
  const parts = Object.entries(counts).map(([endpoint, blobs]) => `${endpoint} (${blobs})`);
  return parts.length ? `; blobs: ${parts.join(', ')}` : '';
}

export function reportError(error: FrozenError, io: Io, debug: boolean): void {
  const errors = error instanceof PullFailures ? error.errors : [error];
  for (const each of errors) io.stderr(`frozen: error: ${each.message}\n`);
  if (debug) io.stderr(`${errorChain(error)}\n`);
}

function errorChain(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.stack ?? e.message);
  return parts.join('\ncaused by: ');
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
