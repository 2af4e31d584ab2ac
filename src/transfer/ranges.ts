/**
 * Which bytes of a segmented download are on disk: `<partial>.ranges` beside the partial file, rewritten (write and
 * rename) as segments progress, never naming a byte before its write returned. A `kill -9` loses only what arrived
 * after the last rewrite; the next run fetches the ranges missing, or, downloading in one stream, keeps the prefix.
 */
import { readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';

/** `[start, end)` byte intervals, sorted and merged. */
export type Intervals = readonly (readonly [number, number])[];

/** The record's file, beside the partial. */
export function recordPath(partial: string): string {
  return `${partial}.ranges`;
}

/** The intervals a record says are on disk for a blob of `size` bytes; undefined without a (valid) record. */
export async function readRecord(partial: string, size: number): Promise<Intervals | undefined> {
  const record = await recorded(partial);
  if (record === undefined) return undefined;
  return record.size === size ? merged(record.have.filter((pair) => pair[1] <= size)) : [];
}

/**
 * How many bytes of a blob of `size` a partial holds: what its record names when it is written in ranges (its file's
 * size is its highest byte written, holes included), else its size. Another process's download is watched by it.
 */
export async function bytesHeld(partial: string, size: number | undefined): Promise<number> {
  const have = size === undefined ? undefined : await readRecord(partial, size);
  if (have) return covered(have);
  return (await stat(partial)).size;
}

/** The bytes `have` covers. */
export function covered(have: Intervals): number {
  return have.reduce((sum, [start, end]) => sum + end - start, 0);
}

/**
 * For a download in one stream: a partial written in segments keeps only its first interval, the bytes from 0 that
 * are all there, and loses its record.
 */
export async function keepPrefixOnly(partial: string): Promise<void> {
  const record = await recorded(partial);
  if (record === undefined) return;
  await truncate(partial, prefixEnd(record.have)).catch(() => undefined);
  await removeRecord(partial);
}

/**
 * The record as written, its well-formed intervals only; undefined when there is none. One that cannot be read
 * names no bytes (a record cut short by a crash mid-write is never renamed into place, but trust nothing).
 */
async function recorded(partial: string): Promise<{ size: unknown; have: [number, number][] } | undefined> {
  const text = await readFile(recordPath(partial), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as { size?: unknown; have?: unknown };
    return { size: record.size, have: Array.isArray(record.have) ? record.have.filter(isInterval) : [] };
  } catch {
    return { size: undefined, have: [] };
  }
}

function isInterval(pair: unknown): pair is [number, number] {
  if (!Array.isArray(pair) || pair.length !== 2) return false;
  const [start, end] = pair as unknown[];
  return Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= Number(start) && Number(start) < Number(end);
}

export async function removeRecord(partial: string): Promise<void> {
  await rm(recordPath(partial), { force: true });
}

/** Sorts and merges intervals that touch or overlap. */
export function merged(intervals: Intervals): [number, number][] {
  const sorted = [...intervals].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = out.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else if (start < end) out.push([start, end]);
  }
  return out;
}

/** The intervals of `[0, size)` that `have` does not cover. */
export function gaps(have: Intervals, size: number): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  for (const [start, end] of merged(have)) {
    if (start > at) out.push([at, start]);
    at = Math.max(at, end);
  }
  if (at < size) out.push([at, size]);
  return out;
}

/** Where the bytes from 0 that are all there end. */
export function prefixEnd(have: Intervals): number {
  const first = merged(have)[0];
  return first?.[0] === 0 ? first[1] : 0;
}

/**
 * Cuts the missing intervals into pieces of about `remaining / count` bytes (at least `minimum`), so that `count`
 * connections share the work evenly; a gap smaller than a piece is one piece.
 */
export function pieces(missing: Intervals, count: number, minimum: number): [number, number][] {
  const remaining = missing.reduce((sum, [start, end]) => sum + end - start, 0);
  const target = Math.max(minimum, Math.ceil(remaining / count));
  const out: [number, number][] = [];
  for (const [start, end] of missing) {
    const parts = Math.max(1, Math.round((end - start) / target));
    const size = Math.ceil((end - start) / parts);
    for (let at = start; at < end; at += size) out.push([at, Math.min(end, at + size)]);
  }
  return out;
}

/** Rewrites the record at most every `intervalMs`, one write at a time; `flush` writes what is newest. */
export class RecordWriter {
  private pending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private dirty = false;

  constructor(
    private readonly partial: string,
    private readonly size: number,
    private readonly have: () => Intervals,
    private readonly intervalMs = 50,
  ) {}

  /** The bytes on disk changed: the record follows soon. */
  changed(): void {
    this.dirty = true;
    this.timer ??= setTimeout(() => {
      this.pending = (this.pending ?? Promise.resolve()).then(() => this.write()).catch(() => undefined);
      this.timer = undefined;
    }, this.intervalMs);
  }

  /** Writes the record now (and stops the timer): after the last byte, or before giving up. */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.pending;
    this.dirty = true;
    await this.write();
  }

  private async write(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const path = recordPath(this.partial);
    await writeFile(`${path}.tmp`, JSON.stringify({ size: this.size, have: merged(this.have()) }));
    await rename(`${path}.tmp`, path);
  }
}
