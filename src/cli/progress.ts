/** Pull events as the user sees them: live bars on a terminal, plain lines in logs, NDJSON with --json. */
import type { PullEvent, RequestEvent } from '../api/events.js';
import { counted } from '../util/counted.js';
import { formatBytes, shortDigest } from './format.js';
import { DEFAULT_TERMINAL, type Io, type TerminalSize } from './io.js';

/**
 * Turns pull events into output. `tty`: a line per active blob and a total line, redrawn in place on stderr.
 * `plain` (CI logs, Dockerfile RUN): plain lines, a start and a finish per blob and a progress line per blob at
 * most every few seconds, never a carriage return. `json`: every event as one NDJSON line on stdout.
 */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** What a pull's events are shown through. */
export interface ProgressRenderer {
  readonly onEvent: (event: PullEvent) => void;
  /** Stops redrawing and leaves the terminal clean. */
  finish(): void;
}

/** The renderer for a mode (see ProgressMode). */
export function createRenderer(mode: ProgressMode, io: Io, now: () => number = Date.now): ProgressRenderer {
  switch (mode) {
    case 'json':
      return { onEvent: (event) => io.stdout(`${JSON.stringify(event)}\n`), finish: () => undefined };
    case 'quiet':
      // Quiet still warns: about a tag that moved since it was locked, an image for another platform, and a missing cache.
      return {
        onEvent: (event) => {
          const line = warning(event);
          if (line) io.stderr(`${line}\n`);
        },
        finish: () => undefined,
      };
    case 'plain':
      return plainRenderer(io, now);
    case 'tty':
      return ttyRenderer(io, now);
  }
}

/** Seconds between two progress lines for one blob in plain mode. */
const PLAIN_PROGRESS_INTERVAL_MS = 5_000;

function plainRenderer(io: Io, now: () => number): ProgressRenderer {
  const lastLine = new Map<string, number>();
  const write = (line: string) => io.stderr(`${line}\n`);
  return {
    onEvent(event) {
      switch (event.type) {
        case 'resolved':
          write(
            `resolved ${event.image}: ${event.manifestDigest}${event.platform ? ` (${event.platform})` : ''}, ${counted(event.layers, 'layer')}, ${formatBytes(event.bytes)}`,
          );
          break;
        case 'blob-start':
          lastLine.set(event.digest, now());
          write(`start  ${shortDigest(event.digest)} ${event.kind} ${formatBytes(event.size)}`);
          break;
        case 'blob-progress':
          if (now() - (lastLine.get(event.digest) ?? 0) >= PLAIN_PROGRESS_INTERVAL_MS) {
            lastLine.set(event.digest, now());
            write(
              `       ${shortDigest(event.digest)} ${percent(event.bytes, event.size)} ${formatBytes(event.bytes)} of ${formatBytes(event.size)}`,
            );
          }
          break;
        case 'blob-done':
          write(
            `done   ${shortDigest(event.digest)} ${event.kind} ${formatBytes(event.size)} from ${describeSource(event)}`,
          );
          break;
        default: {
          const line = notice(event);
          if (line) write(line);
        }
      }
    },
    finish: () => undefined,
  };
}

const REDRAW_MS = 100;

interface LiveBlob {
  /** The image whose download it is (another image may take it over, if this one fails). */
  readonly image: string;
  readonly kind: string;
  readonly size: number;
  bytes: number;
  /** Another process is downloading it: its bytes show on the line but are not this process's rate. */
  waiting?: boolean;
}

function ttyRenderer(io: Io, now: () => number): ProgressRenderer {
  const progress = new TtyProgress(io, now);
  const timer = setInterval(() => progress.draw(), REDRAW_MS);
  timer.unref();
  return {
    onEvent: (event) => progress.onEvent(event),
    finish() {
      clearInterval(timer);
      progress.finish();
    },
  };
}

/** The state behind the live region: the blobs downloading, lines finished since the last draw, the totals. */
class TtyProgress {
  private readonly live = new Map<string, LiveBlob>();
  private readonly finished: string[] = [];
  private drawnLines = 0;
  // The total is every blob of every image resolved so far, known before its blobs start (most wait for a slot),
  // so the ETA does not jump as they do; an image that fails keeps only what it had done. Blobs found in the cache
  // or the output count as done, but not towards the rate, which is what this process received over the network.
  private readonly images = new Map<string, { size: number; done: number }>();
  private readonly rate: RecentRate;

  constructor(
    private readonly io: Io,
    now: () => number,
  ) {
    this.rate = new RecentRate(now);
  }

  onEvent(event: PullEvent): void {
    switch (event.type) {
      case 'resolved':
        this.finished.push(`${event.image}: ${event.manifestDigest}${event.platform ? ` (${event.platform})` : ''}`);
        this.images.set(event.image, { size: event.bytes, done: 0 });
        return;
      case 'blob-start':
        this.live.set(event.digest, { image: event.image, kind: event.kind, size: event.size, bytes: 0 });
        return;
      case 'blob-progress':
        return this.onProgress(event.digest, event.bytes);
      case 'blob-resume':
        return this.onResume(event);
      case 'blob-wait':
        return this.onWait(event.digest);
      case 'blob-done':
        return this.onDone(event);
      case 'error':
        return this.onError(event.image);
      default: {
        const line = notice(event);
        if (line) this.finished.push(line);
      }
    }
  }

  private onProgress(digest: string, bytes: number): void {
    const blob = this.live.get(digest);
    if (!blob) return;
    // Bytes thrown away (a server that ignored Range: the blob starts over) were received all the same.
    if (!blob.waiting) this.rate.add(Math.max(0, bytes - blob.bytes));
    blob.bytes = bytes;
  }

  private onResume(event: Extract<PullEvent, { type: 'blob-resume' }>): void {
    // The bytes on disk were received earlier (by another run, or counted already): not towards the rate.
    // What comes next is this process's own download, also after waiting on a process that died.
    const blob = this.live.get(event.digest);
    if (blob) Object.assign(blob, { bytes: event.offset, waiting: false });
    this.finished.push(resumeLine(event));
  }

  private onWait(digest: string): void {
    const blob = this.live.get(digest);
    if (blob) blob.waiting = true;
    this.finished.push(waitLine(digest));
  }

  private onDone(event: Extract<PullEvent, { type: 'blob-done' }>): void {
    // Every image gets a blob-done for each of its blobs, one fetched once for two images included: each image's
    // total counted it too.
    const blob = this.live.get(event.digest);
    if (blob) {
      if (!blob.waiting) this.rate.add(blob.size - blob.bytes);
      this.live.delete(event.digest);
    }
    const image = this.images.get(event.image);
    if (image) image.done += event.size;
    this.finished.push(
      `${event.kind.padEnd(6)} ${shortDigest(event.digest)} done, ${formatBytes(event.size)} from ${describeSource(event)}`,
    );
  }

  /** The image's downloads have stopped: their lines go, and what it had left to do leaves the total. */
  private onError(failed: string): void {
    for (const [digest, blob] of this.live) if (blob.image === failed) this.live.delete(digest);
    const image = this.images.get(failed);
    if (image) image.size = image.done;
  }

  draw(): void {
    const size = knownSize(this.io.terminalSize?.());
    const lines = liveLines(this.live, size);
    const [totalSize, doneBytes] = [...this.images.values()].reduce(
      ([total, done], image) => [total + image.size, done + image.done],
      [0, 0],
    );
    if (totalSize > 0) lines.push(totalLine(doneBytes + liveBytes(this.live), totalSize, this.rate.perSecond()));
    // Move up over the previous live region, clear it, print what finished, then the live region again. Live lines
    // are cut to the width so that none wraps: a wrapped line would break the count of lines to move up over.
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F\x1b[J` : '';
    const region = lines.map((line) => `${line.slice(0, Math.max(1, size.columns - 1))}\n`).join('');
    this.io.stderr(up + this.finished.map((line) => `${line}\n`).join('') + region);
    this.finished.length = 0;
    this.drawnLines = lines.length;
  }

  finish(): void {
    this.live.clear();
    this.draw();
  }
}

/** A size the terminal does not say (absent or 0) is taken to be the default's, one dimension at a time. */
function knownSize(size: TerminalSize | undefined): TerminalSize {
  return {
    rows: size && size.rows > 0 ? size.rows : DEFAULT_TERMINAL.rows,
    columns: size && size.columns > 0 ? size.columns : DEFAULT_TERMINAL.columns,
  };
}

/**
 * A line per live blob, as many as fit the terminal's height with the total line and the cursor's: the cursor
 * cannot move up into the scrollback, so a taller region could not be redrawn. Blobs receiving bytes come first;
 * the rest are counted on one line.
 */
function liveLines(live: ReadonlyMap<string, LiveBlob>, { rows, columns }: TerminalSize): string[] {
  const room = Math.max(1, rows - 2);
  const blobs = [...live];
  const ordered = [...blobs.filter(([, blob]) => blob.bytes > 0), ...blobs.filter(([, blob]) => blob.bytes === 0)];
  const shown = ordered.length > room ? ordered.slice(0, room - 1) : ordered;
  const lines = shown.map(([digest, blob]) => blobLine(digest, blob, columns));
  if (shown.length < ordered.length) lines.push(`       and ${ordered.length - shown.length} more`);
  return lines;
}

/** The line for a retry, a wait on another process or a fallback to the next endpoint, or a warning; undefined for other events. */
function notice(event: PullEvent): string | undefined {
  switch (event.type) {
    case 'blob-retry':
      return retryLine(shortDigest(event.digest), event);
    case 'request-retry':
    case 'request-fallback':
      return requestLine(event);
    case 'blob-resume':
      return resumeLine(event);
    case 'blob-wait':
      return waitLine(event.digest);
    case 'blob-fallback':
      return fallLine(shortDigest(event.digest), event);
    default:
      return warning(event);
  }
}

/** The line for a retry or an endpoint fallback of an image's requests that are not blob downloads (inspect and lock print it too). */
export function requestLine(event: RequestEvent): string {
  return event.type === 'request-retry' ? retryLine(event.image, event) : fallLine(event.image, event);
}

/** A retry of a blob (named by its short digest) or of an image's other requests (named by the image). */
function retryLine(
  subject: string,
  { delayMs, attempt, reason }: { delayMs: number; attempt: number; reason: string },
): string {
  return `retry  ${subject} in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt}): ${reason}`;
}

function fallLine(subject: string, { endpoint, reason }: { endpoint: string; reason: string }): string {
  return `fall   ${subject}: ${endpoint} failed (${reason}); trying the next`;
}

function resumeLine({ digest, offset, size }: { digest: string; offset: number; size: number }): string {
  return `resume ${shortDigest(digest)} at ${formatBytes(offset)} of ${formatBytes(size)}`;
}

function waitLine(digest: string): string {
  return `wait   ${shortDigest(digest)}: another frozen process is downloading it`;
}

/**
 * The line for an event every mode shows, even --quiet (tag moved, platform fallback or mismatch, no cache);
 * undefined for the others.
 */
function warning(event: PullEvent): string | undefined {
  if (event.type === 'tag-moved')
    return `moved  ${event.image}: the tag now points to ${event.current}; pulling the locked ${event.locked}`;
  if (event.type === 'cache-unusable') {
    return `warning: cannot use the cache at ${event.path} (${event.reason}); pulling without one (choose one with --cache DIR or $FROZEN_CACHE)`;
  }
  if (event.type === 'cache-in-output') {
    return `warning: the cache ${event.path} is inside the output directory ${event.output}: tar -c of the directory would carry it, and write the files they share as hard links, which skopeo, podman load and containerd's importer cannot read (choose a cache outside it: --cache DIR)`;
  }
  if (event.type === 'platform-fallback') return platformFallbackLine(event);
  if (event.type === 'platform-mismatch') {
    return `warning: ${event.image} is a ${event.platform} image, not ${event.wanted}; it has no other platforms, so it is pulled as it is`;
  }
  return undefined;
}

/** `picked linux/arm/v7 for linux/arm64: the image has no linux/arm64 entry` (for pull, inspect and lock). */
export function platformFallbackLine(event: { image: string; platform: string; wanted: string }): string {
  return `picked ${event.platform} for ${event.wanted}: ${event.image} has no ${event.wanted} entry`;
}

function describeSource(event: Extract<PullEvent, { type: 'blob-done' }>): string {
  return event.source === 'mirror' ? `mirror ${event.endpoint}` : event.source;
}

function percent(bytes: number, size: number): string {
  return `${size === 0 ? 100 : Math.floor((bytes / size) * 100)}%`;
}

/** The bar narrows, and goes, before the byte counts are cut in a narrow terminal. */
function blobLine(digest: string, blob: LiveBlob, columns: number): string {
  const head = `${blob.kind.padEnd(6)} ${shortDigest(digest)}`;
  const counts = `${formatBytes(blob.bytes)}/${formatBytes(blob.size)}`;
  // Room for the widest counts ("999.9 MB/999.9 MB"), so that the bars of all lines are one width.
  const barWidth = Math.min(BAR_WIDTH, columns - 1 - head.length - WIDEST_COUNTS - 4);
  return barWidth >= 4 ? `${head} ${bar(blob.bytes, blob.size, barWidth)} ${counts}` : `${head} ${counts}`;
}

const BAR_WIDTH = 24;
const WIDEST_COUNTS = 17;

function bar(bytes: number, size: number, width: number): string {
  const filled = size === 0 ? width : Math.floor((bytes / size) * width);
  return `[${'='.repeat(filled)}${' '.repeat(width - filled)}]`;
}

function liveBytes(live: ReadonlyMap<string, LiveBlob>): number {
  let bytes = 0;
  for (const blob of live.values()) bytes += blob.bytes;
  return bytes;
}

/** Seconds of received bytes the rate (and so the ETA) is taken over. */
const RATE_WINDOW_MS = 5_000;

/**
 * The rate at which this process has received bytes lately: over the last few seconds, from the first byte on. A
 * rate since the process started would count the time before the first byte (resolving, re-hashing a resumed
 * partial) and lag behind a network that speeds up or slows down, and the ETA with it.
 */
class RecentRate {
  /** (time, bytes received by then), oldest first; the first is at or before the window's start. */
  private readonly samples: { at: number; bytes: number }[] = [];
  private received = 0;

  constructor(private readonly now: () => number) {}

  add(bytes: number): void {
    if (bytes <= 0) return;
    if (this.samples.length === 0) this.sample(); // the first bytes start the clock, at 0 bytes
    this.received += bytes;
  }

  /** Also takes a sample: called at every redraw. */
  perSecond(): number {
    if (this.samples.length === 0) return 0;
    this.sample();
    const first = this.samples[0]!;
    const last = this.samples.at(-1)!;
    return last.at > first.at ? ((last.bytes - first.bytes) / (last.at - first.at)) * 1000 : 0;
  }

  private sample(): void {
    const at = this.now();
    this.samples.push({ at, bytes: this.received });
    while (this.samples.length > 2 && this.samples[1]!.at <= at - RATE_WINDOW_MS) this.samples.shift();
  }
}

function totalLine(bytes: number, size: number, rate: number): string {
  const eta = rate > 0 ? Math.ceil((size - bytes) / rate) : undefined;
  return `total  ${formatBytes(bytes)}/${formatBytes(size)}  ${formatBytes(rate)}/s${eta !== undefined ? `  ETA ${eta}s` : ''}`;
}
