import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { createRenderer } from '../../src/cli/progress.js';
import type { PullEvent } from '../../src/index.js';

const digest = `sha256:${'ab'.repeat(32)}`;
/** The event that gives the tty renderer its total: every blob of the image, before any starts. */
const resolved = (bytes: number, layers = 1, image = 'x'): PullEvent => ({
  type: 'resolved',
  image,
  digest,
  manifestDigest: digest,
  imageId: digest,
  layers,
  bytes,
  endpoint: 'registry.test',
});
/** The fields every event of the one 1000-byte layer (`digest`) of image x carries. */
const layer = { image: 'x', kind: 'layer', digest, size: 1000 } as const;
const capture = (interactive: boolean) => {
  const out = { stdout: '', stderr: '' };
  const io = {
    stdout: (t: string) => void (out.stdout += t),
    stderr: (t: string) => void (out.stderr += t),
    interactive,
  };
  return { out, io };
};

/** Feeds the events to a tty renderer at time 0, then lets a second pass and one redraw happen: what it printed. */
function ttyAfterOneSecond(events: PullEvent[]): string {
  const { out, io } = capture(true);
  let now = 0;
  const renderer = createRenderer('tty', io, () => now);
  events.forEach(renderer.onEvent);
  now = 1000;
  vi.advanceTimersByTime(100);
  const printed = out.stderr;
  renderer.finish();
  return printed;
}

describe('progress renderers', () => {
  // The tty renderer redraws on a timer; the tests move time themselves.
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  test('tty: a live line per blob and a total line, redrawn in place; finished blobs stay above', () => {
    const { out, io } = capture(true);
    let now = 0;
    const renderer = createRenderer('tty', io, () => now);
    const events: PullEvent[] = [
      resolved(1000),
      { type: 'blob-start', ...layer },
      { type: 'blob-progress', ...layer, bytes: 500 },
    ];
    events.forEach(renderer.onEvent);
    now = 1000;
    vi.advanceTimersByTime(100); // one redraw
    expect(out.stderr).toBe(
      `x: ${digest}\nlayer  abababababab [============            ] 500 B/1.0 KB\ntotal  500 B/1.0 KB  500 B/s  ETA 1s\n`,
    );
    renderer.onEvent({ type: 'blob-done', ...layer, source: 'registry', bytes: 1000 });
    out.stderr = '';
    renderer.finish();
    // The last draw moves up over the two live lines, clears them, prints what finished and the total.
    expect(out.stderr).toBe(
      '\x1b[2F\x1b[Jlayer  abababababab done, 1.0 KB from registry\ntotal  1.0 KB/1.0 KB  1.0 KB/s  ETA 0s\n',
    );
    expect(out.stdout).toBe('');
  });

  test('tty: the live region fits the terminal: blobs receiving bytes first, the rest counted, bars narrowed, no line wraps', () => {
    const { out, io } = capture(true);
    let now = 0;
    const renderer = createRenderer('tty', { ...io, terminalSize: () => ({ rows: 6, columns: 50 }) }, () => now);
    const digests = Array.from({ length: 8 }, (_, i) => `sha256:${String(i).repeat(64)}`);
    renderer.onEvent(resolved(8000, 8));
    for (const each of digests)
      renderer.onEvent({ type: 'blob-start', image: 'x', kind: 'layer', digest: each, size: 1000 });
    renderer.onEvent({ type: 'blob-progress', image: 'x', kind: 'layer', digest: digests[6]!, size: 1000, bytes: 250 });
    renderer.onEvent({ type: 'blob-progress', image: 'x', kind: 'layer', digest: digests[7]!, size: 1000, bytes: 500 });
    now = 1000;
    vi.advanceTimersByTime(100);
    const lines = out.stderr.split('\n').slice(0, -1);
    expect(lines).toEqual([
      `x: ${digest}`,
      'layer  666666666666 [==       ] 250 B/1.0 KB',
      'layer  777777777777 [====     ] 500 B/1.0 KB',
      'layer  000000000000 [         ] 0 B/1.0 KB',
      '       and 5 more',
      'total  750 B/8.0 KB  750 B/s  ETA 10s',
    ]);
    // Five lines and the cursor's: the next redraw moves up exactly over them, within the six rows.
    out.stderr = '';
    vi.advanceTimersByTime(100);
    expect(out.stderr.startsWith('\x1b[5F\x1b[J')).toBe(true);
    renderer.finish();
    // Narrower still: no bar, and nothing longer than the width.
    out.stderr = '';
    const narrow = createRenderer('tty', { ...io, terminalSize: () => ({ rows: 6, columns: 30 }) }, () => now);
    narrow.onEvent(resolved(123_456_789));
    narrow.onEvent({ type: 'blob-start', image: 'x', kind: 'layer', digest: digests[0]!, size: 123_456_789 });
    vi.advanceTimersByTime(100);
    expect(out.stderr.split('\n').slice(1, 3)).toEqual(['layer  000000000000 0 B/123.5', 'total  0 B/123.5 MB  0 B/s']);
    narrow.finish();
  });

  test('tty: a terminal that reports 0 × 0 (a pty nobody sized) is drawn as 80 × 24, not cut to one character', () => {
    const { out, io } = capture(true);
    const renderer = createRenderer('tty', { ...io, terminalSize: () => ({ rows: 0, columns: 0 }) }, () => 0);
    renderer.onEvent(resolved(1000));
    renderer.onEvent({ type: 'blob-start', ...layer });
    vi.advanceTimersByTime(100);
    expect(out.stderr).toBe(
      `x: ${digest}\n` + 'layer  abababababab [                        ] 0 B/1.0 KB\ntotal  0 B/1.0 KB  0 B/s\n',
    );
    renderer.finish();
  });

  test('tty: the total is every blob of the resolved images from the start; cached blobs count as done, not towards the rate', () => {
    const [cached, downloading] = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
    const printed = ttyAfterOneSecond([
      resolved(3000, 2), // a config and two layers of 1000 bytes; the third waits for a slot
      { type: 'blob-done', image: 'x', kind: 'config', digest: cached, size: 1000, source: 'cache', bytes: 0 },
      { type: 'blob-start', image: 'x', kind: 'layer', digest: downloading, size: 1000 },
      { type: 'blob-progress', image: 'x', kind: 'layer', digest: downloading, size: 1000, bytes: 500 },
    ]);
    expect(printed.split('\n').at(-2)).toBe('total  1.5 KB/3.0 KB  500 B/s  ETA 3s');
  });

  test('tty: waits, fallbacks and retries get a line; a blob another process fetches does not count towards the rate', () => {
    const [waited, fetched] = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`];
    const printed = ttyAfterOneSecond([
      resolved(2000),
      { type: 'blob-start', image: 'x', kind: 'config', digest: waited, size: 1000 },
      { type: 'blob-wait', image: 'x', kind: 'config', digest: waited },
      { type: 'blob-progress', image: 'x', kind: 'config', digest: waited, size: 1000, bytes: 600 }, // the other process's
      { type: 'blob-start', image: 'x', kind: 'layer', digest: fetched, size: 1000 },
      {
        type: 'blob-fallback',
        image: 'x',
        kind: 'layer',
        digest: fetched,
        endpoint: 'https://mirror.test',
        reason: 'registry answered 500',
      },
      {
        type: 'blob-retry',
        image: 'x',
        kind: 'layer',
        digest: fetched,
        attempt: 1,
        delayMs: 250,
        reason: 'connection reset',
      },
      { type: 'blob-progress', image: 'x', kind: 'layer', digest: fetched, size: 1000, bytes: 1000 },
      { type: 'blob-done', image: 'x', kind: 'config', digest: waited, size: 1000, source: 'cache', bytes: 0 },
      { type: 'blob-done', image: 'x', kind: 'layer', digest: fetched, size: 1000, source: 'registry', bytes: 1000 },
    ]);
    expect(printed.split('\n').slice(1, -1)).toEqual([
      'wait   111111111111: another frozen process is downloading it',
      'fall   222222222222: https://mirror.test failed (registry answered 500); trying the next',
      'retry  222222222222 in 0.3 s (attempt 1): connection reset',
      'config 111111111111 done, 1.0 KB from cache',
      'layer  222222222222 done, 1.0 KB from registry',
      'total  2.0 KB/2.0 KB  1.0 KB/s  ETA 0s',
    ]);
  });

  test("tty: a resumed blob gets a line and starts at the bytes on disk, which are not this run's rate", () => {
    const printed = ttyAfterOneSecond([
      resolved(1000),
      { type: 'blob-start', ...layer },
      { type: 'blob-resume', ...layer, offset: 600 },
      { type: 'blob-progress', ...layer, bytes: 600 },
      { type: 'blob-progress', ...layer, bytes: 800 },
    ]);
    expect(printed.split('\n').slice(1, -1)).toEqual([
      'resume abababababab at 600 B of 1.0 KB',
      'layer  abababababab [===================     ] 800 B/1.0 KB',
      'total  800 B/1.0 KB  200 B/s  ETA 1s',
    ]);
  });

  test('tty: the rate is taken from the first byte on, so time spent before it (re-hashing a resumed partial) does not inflate the ETA', () => {
    const { out, io } = capture(true);
    let now = 0;
    const renderer = createRenderer('tty', io, () => now);
    [resolved(1000), { type: 'blob-start', ...layer } as const].forEach(renderer.onEvent);
    now = 3000; // three seconds re-hashing 600 bytes on disk
    renderer.onEvent({ type: 'blob-resume', ...layer, offset: 600 });
    renderer.onEvent({ type: 'blob-progress', ...layer, bytes: 700 });
    now = 4000;
    renderer.onEvent({ type: 'blob-progress', ...layer, bytes: 800 });
    vi.advanceTimersByTime(100);
    expect(out.stderr.split('\n').at(-2)).toBe('total  800 B/1.0 KB  200 B/s  ETA 1s'); // not 50 B/s and ETA 4s
    renderer.finish();
  });

  test('tty: the rate follows the last 5 s, so a download that slows down shows its new rate and ETA', () => {
    const { out, io } = capture(true);
    let now = 0;
    const renderer = createRenderer('tty', io, () => now);
    const big = { ...layer, size: 100_000 };
    [resolved(100_000), { type: 'blob-start', ...big } as const].forEach(renderer.onEvent);
    // 10 s at 5 kB/s, then 10 s at 1 kB/s, redrawn every 100 ms.
    for (let tenth = 1; tenth <= 200; tenth++) {
      now = tenth * 100;
      renderer.onEvent({
        type: 'blob-progress',
        ...big,
        bytes: tenth <= 100 ? tenth * 500 : 50_000 + (tenth - 100) * 100,
      });
      vi.advanceTimersByTime(100);
    }
    // 60 kB of 100 kB after 20 s: 1.0 kB/s lately (3 kB/s on average since the start, which would say 14 s).
    expect(out.stderr.split('\n').at(-2)).toBe('total  60.0 KB/100.0 KB  1.0 KB/s  ETA 40s');
    renderer.finish();
  });

  test('tty: a blob whose downloader died is resumed by this process, and what it receives then counts towards the rate', () => {
    const printed = ttyAfterOneSecond([
      resolved(1000),
      { type: 'blob-start', ...layer },
      { type: 'blob-wait', image: 'x', kind: 'layer', digest },
      { type: 'blob-progress', ...layer, bytes: 300 }, // the other process's
      { type: 'blob-resume', ...layer, offset: 300 },
      { type: 'blob-progress', ...layer, bytes: 700 },
    ]);
    expect(printed.split('\n').at(-2)).toBe('total  700 B/1.0 KB  400 B/s  ETA 1s');
  });

  test('tty: a blob that starts over (a server that ignored Range) keeps the bytes it received in the rate', () => {
    const printed = ttyAfterOneSecond([
      resolved(1000),
      { type: 'blob-start', ...layer },
      { type: 'blob-progress', ...layer, bytes: 400 },
      { type: 'blob-progress', ...layer, bytes: 0 },
      { type: 'blob-progress', ...layer, bytes: 100 },
    ]);
    expect(printed.split('\n').at(-2)).toBe('total  100 B/1.0 KB  500 B/s  ETA 2s');
  });

  test('tty: an image that fails loses its lines, and what it had left leaves the total; a blob another image took over keeps its line', () => {
    const [config, shared, own] = [`sha256:${'1'.repeat(64)}`, `sha256:${'2'.repeat(64)}`, `sha256:${'3'.repeat(64)}`];
    const x = { image: 'x', kind: 'layer', size: 1000 } as const;
    const y = { ...x, image: 'y' };
    const printed = ttyAfterOneSecond([
      resolved(3000, 2), // x: a config and two layers of 1000 bytes, one of them shared with y
      resolved(1000, 1, 'y'),
      { type: 'blob-done', ...x, kind: 'config', digest: config, source: 'registry', bytes: 1000 },
      { type: 'blob-start', ...x, digest: shared },
      { type: 'blob-progress', ...x, digest: shared, bytes: 400 },
      { type: 'blob-start', ...x, digest: own },
      // x fails: its downloads stop, and y takes the shared one over from the 400 bytes on disk.
      { type: 'blob-start', ...y, digest: shared },
      { type: 'blob-resume', ...y, digest: shared, offset: 400 },
      { type: 'blob-progress', ...y, digest: shared, bytes: 600 },
      { type: 'error', image: 'x', kind: 'not-found', message: 'x: blob gone', retryable: false },
    ]);
    expect(printed.split('\n').slice(2, -1)).toEqual([
      'config 111111111111 done, 1.0 KB from registry',
      'resume 222222222222 at 400 B of 1.0 KB',
      'layer  222222222222 [==============          ] 600 B/1.0 KB',
      'total  1.6 KB/2.0 KB  600 B/s  ETA 1s',
    ]);
  });

  test('plain: at most one progress line per blob every 5 s, no escape sequences', () => {
    const { out, io } = capture(false);
    let now = 0;
    const renderer = createRenderer('plain', io, () => now);
    renderer.onEvent({ type: 'blob-start', image: 'x', kind: 'layer', digest, size: 100 });
    for (const [at, bytes] of [
      [1000, 10],
      [4000, 40],
      [5000, 50],
      [7000, 70],
      [10_500, 99],
    ] as const) {
      now = at;
      renderer.onEvent({ type: 'blob-progress', image: 'x', kind: 'layer', digest, size: 100, bytes });
    }
    expect(out.stderr.split('\n').filter((l) => l.startsWith('       '))).toEqual([
      '       abababababab 50% 50 B of 100 B',
      '       abababababab 99% 99 B of 100 B',
    ]);
    expect(out.stderr).not.toMatch(/\r|\x1b/);
  });

  test('plain: the resolved line counts layers in words that agree with the number', () => {
    const { out, io } = capture(false);
    const renderer = createRenderer('plain', io);
    renderer.onEvent(resolved(549, 1));
    renderer.onEvent(resolved(2048, 3));
    expect(out.stderr).toBe(`resolved x: ${digest}, 1 layer, 549 B\nresolved x: ${digest}, 3 layers, 2.0 KB\n`);
  });

  test('json: every event is one line on stdout', () => {
    const { out, io } = capture(false);
    const renderer = createRenderer('json', io);
    renderer.onEvent({ type: 'blob-wait', image: 'x', kind: 'layer', digest });
    expect(JSON.parse(out.stdout)).toEqual({ type: 'blob-wait', image: 'x', kind: 'layer', digest });
    expect(out.stdout.endsWith('\n')).toBe(true);
  });
});
