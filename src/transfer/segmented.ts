/**
 * Downloads a big blob as several ranges at once, each on a connection of its own: on a far link one TCP connection
 * is the bottleneck, so N connections fetch about N times faster (aria2's `-x -s`). Where more than one mirror serves
 * the blob, the ranges start spread over the mirrors; a range whose endpoint fails moves to the next endpoint, and a
 * range whose connection resets is fetched again alone, from where its bytes end. The bytes go straight to their
 * place in the partial file, `<partial>.ranges` records which are there (a `kill -9` loses no finished range), and
 * the contiguous prefix is hashed as it grows, so the digest is known as the last byte lands. A server that answers
 * a Range with the whole blob (200), or with other bytes than asked, gets no ranges: the caller downloads in one
 * stream, as before.
 */
import { constants } from 'node:fs';
import { open, stat, truncate, type FileHandle } from 'node:fs/promises';
import { abortedError, FrozenError } from '../errors.js';
import type { BlobEndpoint } from '../registry/remote.js';
import { withRetries } from '../registry/retry.js';
import { networkError, type HttpResponse } from '../registry/transport.js';
import { contentRange, describeRange } from './content-range.js';
import { naming, type IngestOptions, type IngestResult, type IngestTarget, type StreamHash } from './ingest-types.js';
import { expectStillThere, PartialChanged } from './partial-check.js';
import {
  covered,
  gaps,
  merged,
  pieces,
  prefixEnd,
  readRecord,
  RecordWriter,
  removeRecord,
  type Intervals,
} from './ranges.js';

/**
 * How a big blob is split: into `count` ranges at once, when it has at least `threshold` bytes, and unless
 * `always`, only from an endpoint at least NEAR_MS away.
 */
export interface SegmentPlan {
  readonly count: number;
  readonly threshold: number;
  /** Split whatever the distance (the caller asked for a number of segments). */
  readonly always?: boolean;
}

/** The default, chosen from the bench (docs/performance.md): 8 ranges for blobs of 32 MiB and more, far away. */
export const DEFAULT_SEGMENT_PLAN: SegmentPlan = { count: 8, threshold: 32 * 1024 * 1024 };
/**
 * An endpoint whose fastest response came sooner than this is near: one connection is not its bottleneck, and
 * ranges only cost (reading the blob back to hash it, more connections): on loopback they made a 2 GB pull 37 %
 * slower. On a far link (100–300 ms) they make it several times faster. Not lower: a loaded machine took over
 * 20 ms to answer its first request from loopback.
 */
export const NEAR_MS = 50;
/** No range smaller than this: a connection's handshakes cost more than they save below it. */
const MINIMUM_PIECE = 4 * 1024 * 1024;
/**
 * A range's bytes are written in batches of this size: what a `kill -9` can lose of each range, with what arrived
 * since the record's last rewrite.
 */
const WRITE_BATCH_BYTES = 128 * 1024;
/** How often the record follows the bytes on disk at most. */
const RECORD_INTERVAL_MS = 20;
/** Reading back for the hash goes in larger blocks. */
const HASH_BLOCK_BYTES = 1024 * 1024;

/** The server does not serve ranges as asked (it ignored Range, or named other bytes): download in one stream. */
export class RangesRefused extends FrozenError {}

/** One range of the blob and how many of its bytes are on disk. */
interface Piece {
  readonly start: number;
  readonly end: number;
  done: number;
}

/**
 * True when `target` is worth segmenting: big enough for two ranges at least, every endpoint serving ranges, and
 * (unless the plan says always) the first endpoint not near. An endpoint not heard from yet counts as far.
 */
export function segmentable(target: IngestTarget, endpoints: readonly BlobEndpoint[], plan: SegmentPlan): boolean {
  const first = endpoints[0];
  return (
    plan.count > 1 &&
    target.size !== undefined &&
    target.size >= Math.max(plan.threshold, 2 * MINIMUM_PIECE) &&
    first !== undefined &&
    endpoints.every((endpoint) => endpoint.openRange !== undefined) &&
    (plan.always === true || !((first.fastestResponseMs?.() ?? Infinity) < NEAR_MS))
  );
}

/**
 * Downloads the missing ranges of `target` and completes it. Throws RangesRefused when an endpoint will not serve
 * ranges (the partial keeps what arrived, recorded), else the failure of a range no endpoint could serve.
 */
export async function ingestSegmented<H extends StreamHash>(
  target: IngestTarget<H>,
  endpoints: readonly BlobEndpoint[],
  options: IngestOptions,
  plan: SegmentPlan,
): Promise<IngestResult> {
  const size = target.size!;
  const had = await alreadyThere(target.partial, size);
  const work = pieces(gaps(had, size), plan.count, MINIMUM_PIECE).map(([start, end]) => ({ start, end, done: 0 }));
  const coverage = (): Intervals => merged([...had, ...work.map((p): [number, number] => [p.start, p.start + p.done])]);
  const record = new RecordWriter(target.partial, size, coverage, RECORD_INTERVAL_MS);
  await record.flush(); // the record exists before any byte lands past the prefix
  const file = await open(target.partial, constants.O_RDWR | constants.O_CREAT);
  const download = new SegmentedDownload(target, endpoints, options, file, record, coverage);
  const resumed = had.length > 0;
  if (resumed) options.onResume?.(covered(had));
  let hash: H;
  try {
    hash = await download.run(work, plan.count);
    await expectStillThere(target.partial, target.name, file, size);
  } catch (error) {
    if (error instanceof PartialChanged) await removeRecord(target.partial);
    throw error;
  } finally {
    await file.close();
  }
  // Complete or rejected, the bytes are no longer a partial download in ranges.
  await removeRecord(target.partial);
  await target.complete(hash, resumed);
  const endpoint = download.mainEndpoint();
  return { source: 'registry', received: download.received, ...(endpoint && { endpoint }) };
}

/** What the record says is on disk, or for a partial without one (a download in one stream) its prefix. */
async function alreadyThere(partial: string, size: number): Promise<Intervals> {
  const onDisk = await stat(partial).then(
    (info) => info.size,
    () => 0,
  );
  const recorded = await readRecord(partial, size);
  // A record that names bytes past the file's end is not this file's (removed or replaced by hand): start over.
  if (recorded && recorded.every(([, end]) => end <= onDisk)) return recorded;
  if (!recorded && onDisk <= size) return onDisk > 0 ? [[0, onDisk]] : [];
  await truncate(partial, 0).catch(() => undefined);
  await removeRecord(partial);
  return [];
}

/** The ranges of one blob in flight: workers, the prefix hash, and stopping them all when one fails for good. */
class SegmentedDownload<H extends StreamHash> {
  received = 0;
  private readonly served = new Map<string, { bytes: number; mirror: boolean }>();
  private readonly bodies = new Set<HttpResponse['body']>();
  private readonly stop = new AbortController();
  private wakeHasher: (() => void) | undefined;

  constructor(
    private readonly target: IngestTarget<H>,
    private readonly endpoints: readonly BlobEndpoint[],
    private readonly options: IngestOptions,
    private readonly file: FileHandle,
    private readonly record: RecordWriter,
    private readonly coverage: () => Intervals,
  ) {}

  /** Fetches every piece, `count` at a time, while the prefix is hashed; returns the hash of the whole blob. */
  async run(work: Piece[], count: number): Promise<H> {
    const queue = [...work.keys()];
    const worker = async () => {
      for (let index = queue.shift(); index !== undefined && !this.stop.signal.aborted; index = queue.shift())
        await this.fetchPiece(work[index]!, index);
    };
    const hashing = this.hashPrefix();
    hashing.catch(() => undefined); // it fails only when a worker did, and that failure is the one reported
    try {
      const workers = Array.from({ length: Math.min(count, work.length) }, worker);
      await Promise.all(workers.map((running) => running.catch(this.halt)));
      if (this.stop.signal.aborted) throw this.stop.signal.reason;
      return await hashing;
    } catch (error) {
      this.halt(error);
      await hashing.catch(() => undefined);
      throw error;
    } finally {
      await this.record.flush();
    }
  }

  /** Stops every worker and the hasher: the first failure is the one reported. */
  private readonly halt = (error: unknown): void => {
    if (!this.stop.signal.aborted) this.stop.abort(error);
    for (const body of this.bodies) body.destroy();
    this.wakeHasher?.();
  };

  /** The endpoint that served most bytes. */
  mainEndpoint(): { name: string; mirror: boolean } | undefined {
    const best = [...this.served].sort((a, b) => b[1].bytes - a[1].bytes)[0];
    return best && { name: best[0], mirror: best[1].mirror };
  }

  /** A piece from the first endpoint that serves it, retried there by its policy, then handed to the next. */
  private async fetchPiece(piece: Piece, index: number): Promise<void> {
    let failure: FrozenError | undefined;
    const order = endpointOrder(this.endpoints, index);
    for (const endpoint of order) {
      const before = piece.done;
      try {
        await withRetries(endpoint.retry, () => this.fetchRange(piece, endpoint), {
          signal: this.signal(),
          onRetry: this.options.onRetry,
        });
        const served = this.served.get(endpoint.name) ?? { bytes: 0, mirror: endpoint.mirror };
        this.served.set(endpoint.name, { ...served, bytes: served.bytes + piece.done - before });
        return;
      } catch (error) {
        if (this.stop.signal.aborted) throw this.stop.signal.reason;
        failure = naming(error, this.target.name);
        if (failure instanceof RangesRefused || ['aborted', 'output'].includes(failure.kind)) throw failure;
        endpoint.failed();
        if (endpoint !== order.at(-1)) this.options.onFallback?.(endpoint.name, failure);
      }
    }
    throw failure ?? new FrozenError('network', `${this.target.name}: no endpoint to fetch it from`);
  }

  private signal(): AbortSignal {
    return this.options.signal ? AbortSignal.any([this.options.signal, this.stop.signal]) : this.stop.signal;
  }

  /** One request for what the piece still lacks; its bytes are written at their place as they come. */
  private async fetchRange(piece: Piece, endpoint: BlobEndpoint): Promise<void> {
    const from = piece.start + piece.done;
    const to = piece.end - 1;
    if (from > to) return;
    const response = await endpoint.openRange!(from, to);
    if (this.stop.signal.aborted) {
      response.body.destroy();
      throw this.stop.signal.reason;
    }
    const refusal = rangeRefusal(response, from, to, this.target.size!);
    if (refusal) {
      response.body.destroy();
      throw new RangesRefused('protocol', `${this.target.name}: ${endpoint.name} ${refusal}`);
    }
    this.bodies.add(response.body);
    try {
      await this.writeBody(response, piece);
    } catch (error) {
      if (this.options.signal?.aborted) throw abortedError(this.options.signal, error);
      if (this.stop.signal.aborted) throw this.stop.signal.reason;
      throw error instanceof FrozenError ? error : networkError(error, response.url);
    } finally {
      this.bodies.delete(response.body);
    }
    if (piece.start + piece.done < piece.end) {
      throw new FrozenError('network', `${this.target.name}: the range ${from}-${to} ended after ${piece.done} bytes`);
    }
  }

  /** Writes a range's body in batches at its place; on a failure, what arrived is written before it goes on. */
  private async writeBody(response: HttpResponse, piece: Piece): Promise<void> {
    let batch: Buffer[] = [];
    let batched = 0;
    const flush = async () => {
      if (batched === 0) return;
      const bytes = batch.length === 1 ? batch[0]! : Buffer.concat(batch, batched);
      batch = [];
      batched = 0;
      await this.file.write(bytes, 0, bytes.length, piece.start + piece.done).catch((error: unknown) => {
        throw new FrozenError('output', `cannot write ${this.target.partial}: ${(error as Error).message}`);
      });
      piece.done += bytes.length;
      this.record.changed();
      this.wakeHasher?.();
      this.options.onProgress?.(covered(this.coverage()));
    };
    try {
      for await (const chunk of response.body as AsyncIterable<Buffer>) {
        if (piece.start + piece.done + batched + chunk.length > piece.end) {
          throw new RangesRefused('protocol', `${this.target.name}: a range brought more bytes than it named`);
        }
        batch.push(chunk);
        batched += chunk.length;
        this.received += chunk.length;
        if (batched >= WRITE_BATCH_BYTES) await flush();
      }
    } finally {
      await flush();
    }
  }

  /** Hashes the blob from 0 as its contiguous prefix grows, reading back what the ranges wrote. */
  private async hashPrefix(): Promise<H> {
    const hash = this.target.newHash();
    const size = this.target.size!;
    for (let hashed = 0; hashed < size;) {
      const available = prefixEnd(this.coverage());
      if (available > hashed) {
        const length = Math.min(HASH_BLOCK_BYTES, available - hashed);
        const { bytesRead, buffer } = await this.file.read(Buffer.allocUnsafe(length), 0, length, hashed);
        if (bytesRead !== length) throw new FrozenError('output', `${this.target.partial}: shorter than recorded`);
        await hash.update(buffer);
        hashed += length;
        continue;
      }
      if (this.stop.signal.aborted) throw this.stop.signal.reason;
      await new Promise<void>((resolve) => (this.wakeHasher = resolve));
      this.wakeHasher = undefined;
    }
    return hash;
  }
}

/** The endpoints in the order a piece tries them: spread over the mirrors when several serve the blob. */
function endpointOrder(endpoints: readonly BlobEndpoint[], index: number): readonly BlobEndpoint[] {
  const mirrors = endpoints.filter((endpoint) => endpoint.mirror);
  if (mirrors.length < 2) return endpoints;
  const first = mirrors[index % mirrors.length]!;
  return [first, ...endpoints.filter((endpoint) => endpoint !== first)];
}

/** Why a response is not the range asked for, if it is not: a 200 (Range ignored) or another Content-Range. */
function rangeRefusal(response: HttpResponse, from: number, to: number, size: number): string | undefined {
  const asked = `Range: bytes=${from}-${to}`;
  if (response.statusCode === 200) return `ignored ${asked} (200)`;
  const range = response.statusCode === 206 ? contentRange(response) : undefined;
  const exact = range?.start === from && range.end === to && (range.total === undefined || range.total === size);
  return exact ? undefined : `answered ${asked} with ${describeRange(response)}`;
}
