/**
 * What the bench's scenarios share: timing a child process (and its peak memory), medians of interleaved runs,
 * scratch folders, cold frozen pulls, and large random layers.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { pack } from 'tar-stream';
import { FROZEN_BIN } from '../support/cli.js';
import { blob, type BuiltImage, type Layer } from '../support/images.js';

export const RUNS = Number(process.env.BENCH_RUNS ?? 5);
export const MB = 1000 * 1000;

export interface BenchImage {
  readonly name: string;
  readonly repo: string; // repository:tag
  readonly image: BuiltImage;
}

export interface Row {
  readonly scenario: string;
  readonly tool: string;
  readonly seconds: number | string;
}

/**
 * A gzip tar layer of random bytes, streamed to a file: the tar hashed on the way for the diff ID, the gzip for the
 * digest. Level 1, since random bytes do not compress anyway and the higher levels only take longer.
 */
export async function writeLargeLayer(path: string, size: number): Promise<Layer> {
  const tarHash = createHash('sha256');
  const gzipHash = createHash('sha256');
  const hashing = (hash: Hash) =>
    new Transform({ transform: (chunk, _e, cb) => (hash.update(chunk), cb(null, chunk)) });
  const tar = pack();
  const done = pipeline(tar, hashing(tarHash), createGzip({ level: 1 }), hashing(gzipHash), createWriteStream(path));
  const entry = tar.entry({ name: 'huge/data', size, mtime: new Date(0) }, (error) => {
    if (error) tar.destroy(error);
  });
  const chunk = 1024 * 1024;
  for (let written = 0; written < size; written += chunk) {
    if (!entry.write(randomBytes(Math.min(chunk, size - written)))) await once(entry, 'drain');
  }
  entry.end(() => undefined);
  tar.finalize();
  await done;
  const fileSize = (await stat(path)).size;
  const layerBlob = blob(Buffer.alloc(0), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  return {
    ...layerBlob,
    digest: `sha256:${gzipHash.digest('hex')}`,
    size: fileSize,
    diffId: `sha256:${tarHash.digest('hex')}`,
  };
}

/**
 * RUNS rounds, each running every tool once, and each tool's median: this machine's speed drifts (it is shared),
 * and interleaving makes the drift touch every tool alike instead of whichever ran during a slow spell. Each round
 * starts one tool further on, so no tool always runs first, while the kernel still writes out what the tool before
 * it wrote (gigabytes, for the 2 GB layer).
 */
export async function interleavedMedians(runs: readonly (() => Promise<number>)[]): Promise<number[]> {
  const times = runs.map(() => [] as number[]);
  for (let round = 0; round < RUNS; round++) {
    for (let step = 0; step < runs.length; step++) {
      const i = (round + step) % runs.length;
      times[i]!.push(await runs[i]!());
    }
  }
  return times.map((list) => list.sort((a, b) => a - b)[Math.floor(list.length / 2)]!);
}

/** Runs `fn` with a fresh scratch folder under `work`, removed afterwards. */
export async function inScratch<T>(work: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(work, 'run-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A cold frozen pull: empty cache, new directory. */
export function frozenColdRun(
  ref: string,
  work: string,
  extra: string[] = [],
  sampleRss = false,
  bin = FROZEN_BIN,
  env: NodeJS.ProcessEnv = {},
) {
  return inScratch(work, (dir) =>
    timed(
      process.execPath,
      [bin, 'pull', '-q', '-o', join(dir, 'out'), ...extra, ref],
      { FROZEN_CACHE: join(dir, 'cache'), ...env },
      sampleRss,
    ),
  );
}

export async function frozenCold(
  ref: string,
  work: string,
  extra: string[] = [],
  bin = FROZEN_BIN,
  env: NodeJS.ProcessEnv = {},
): Promise<number> {
  return (await frozenColdRun(ref, work, extra, false, bin, env)).seconds;
}

/** Peak resident memory of a cold frozen pull, read from /proc while it runs. */
export async function frozenPeakRss(ref: string, work: string, bin = FROZEN_BIN): Promise<number> {
  return (await frozenColdRun(ref, work, [], true, bin)).peakRssBytes;
}

/**
 * Runs a command to its end. With `sampleRss`, its peak resident memory is read from /proc every 20 ms; only the
 * memory run does that, since the polling takes CPU from the process being timed (this machine has two cores).
 */
export async function timed(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  sampleRss = false,
): Promise<{ seconds: number; peakRssBytes: number }> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let peak = 0;
  const poll = sampleRss ? setInterval(() => void sampleMemory(), 20) : undefined;
  async function sampleMemory() {
    const status = await readFile(`/proc/${child.pid}/status`, 'utf8').catch(() => '');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
    if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
  }
  const [code] = (await once(child, 'close')) as [number];
  clearInterval(poll);
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`);
  return { seconds: (performance.now() - started) / 1000, peakRssBytes: peak };
}

export function log(text: string): void {
  process.stdout.write(`${text}\n`);
}
