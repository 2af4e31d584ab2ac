import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { FROZEN_BIN, parseEvents, runCli } from '../support/cli.js';
import { snapshot } from '../support/fixture.js';
import { startFlakyRegistry, wellBehaved, type FlakyRegistry } from '../support/flaky-registry.js';
import { image, layer, type BuiltImage } from '../support/images.js';
import { startMirrorFront } from '../support/mirror-front.js';
import { startTcpDelayRelay } from '../support/tcp-delay.js';

/**
 * Big blobs fetched as several ranges at once (`--segments`): every range asked once, a reset range fetched again
 * alone, a kill -9 resumed from what the record says, servers that will not serve ranges given one stream, and a
 * mirror that dies mid-blob leaving its ranges to the registry.
 */
const MiB = 1024 * 1024;
const tempDir = (prefix = 'frozen-segments-') => mkdtemp(join(tmpdir(), prefix));
/** Three ranges of about 4 MiB for the 12 MiB layer; the small blobs stay one stream. */
const SEGMENTED = ['--segments', '3', '--segment-threshold', '1'];

let server: FlakyRegistry;
let img: BuiltImage;
/** What a pull in one stream writes. */
let expected: Record<string, string>;

const resetBehaviour = (target: FlakyRegistry) => Object.assign(target.behaviour, wellBehaved());

beforeAll(async () => {
  server = await startFlakyRegistry();
  const base = await layer([{ type: 'file', name: 'etc/base', content: 'base\n' }]);
  const heavy = await layer([{ type: 'file', name: 'data/blob', content: randomBytes(12 * MiB) }]);
  img = image({ layers: [base, heavy] });
  server.serve('seg/app', '1', img);
  const clean = await pull(await tempDir(), ['--segments', '1']);
  expect(clean.code).toBe(0);
  expected = await snapshot(clean.output);
});
afterAll(async () => server?.stop());
beforeEach(() => {
  resetBehaviour(server);
  server.requests.length = 0;
});

const heavy = () => img.layers[1]!;
const reference = () => `${server.host}/seg/app:1`;

async function pull(cache: string, args: string[] = SEGMENTED, env: NodeJS.ProcessEnv = {}) {
  const output = await tempDir();
  const result = await runCli(['pull', '--json', '-o', output, ...args, reference()], {
    env: { FROZEN_CACHE: cache, ...env },
  });
  return { ...result, output, events: parseEvents(result.stdout) };
}

/** The layer's GETs: the Range each asked (`a-b`), and the bytes it was sent. */
function layerGets(registry: FlakyRegistry = server) {
  return registry.blobRequests(heavy().digest).map((request) => ({
    range: /^bytes=(\d+-\d*)$/.exec(request.range ?? '')?.[1],
    bytes: request.bytes,
    status: request.status,
  }));
}

const served = (registry: FlakyRegistry = server) => layerGets(registry).reduce((sum, get) => sum + get.bytes, 0);

/** The ranges a pull asks for first, as `[start, end]` pairs, sorted. */
function ranges(gets: ReturnType<typeof layerGets>): [number, number][] {
  return gets.map((get) => get.range!.split('-').map(Number) as [number, number]).sort((a, b) => a[0] - b[0]);
}

describe('a big layer in ranges', () => {
  test('three ranges cover the layer exactly once, each asked once, and the output is what one stream writes', async () => {
    const result = await pull(await tempDir());
    expect([result.code, result.stderr]).toEqual([0, '']);
    const gets = layerGets();
    expect(gets.every((get) => get.status === 206)).toBe(true);
    const asked = ranges(gets);
    expect(asked.length).toBe(3);
    expect(asked[0]![0]).toBe(0);
    expect(asked.at(-1)![1]).toBe(heavy().size - 1);
    for (let i = 1; i < asked.length; i++) expect(asked[i]![0]).toBe(asked[i - 1]![1] + 1);
    expect(served()).toBe(heavy().size);
    expect(await snapshot(result.output)).toEqual(expected);
  });

  test('one range whose connection resets twice is fetched again alone, from where its bytes end', async () => {
    const size = heavy().size;
    const second = [Math.ceil(size / 3), Math.ceil((2 * size) / 3)];
    server.behaviour.rangeResets = { from: second[0]!, to: second[1]!, count: 2, afterBytes: 1 * MiB };
    const result = await pull(await tempDir());
    expect(result.code).toBe(0);
    const asked = ranges(layerGets());
    const others = asked.filter(([start]) => start < second[0]! || start >= second[1]!);
    const again = asked.filter(([start]) => start >= second[0]! && start < second[1]!);
    expect(others.length).toBe(2); // the other ranges, once each
    expect(again.map(([start]) => start)).toEqual([second[0], second[0]! + MiB, second[0]! + 2 * MiB]);
    expect(result.events.filter((event) => event.type === 'blob-retry').length).toBe(2);
    expect(served()).toBe(size);
    expect(await snapshot(result.output)).toEqual(expected);
  });

  test('kill -9 mid-download, then a re-run: the same output, and the layer crosses the network at most 1.1 times', async () => {
    // ~1.6 MB/s a range: what a kill -9 loses (a batch, the record's lag, bytes in flight) scales with the rate,
    // and a loaded machine lags more.
    server.behaviour.throttleBytesPer10ms = 16 * 1024;
    const cache = await tempDir();
    const output = await tempDir();
    const child = spawn(process.execPath, [FROZEN_BIN, 'pull', '-o', output, ...SEGMENTED, reference()], {
      stdio: 'ignore',
      env: { ...process.env, FROZEN_CACHE: cache },
    });
    const exited = new Promise((resolve) => child.on('close', resolve));
    const record = join(cache, 'blobs', 'sha256', `${heavy().digest.slice(7)}.partial.ranges`);
    for (let i = 0; i < 500 && served() < 5 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    await exited;
    expect((await stat(record)).isFile()).toBe(true);
    const first = served();
    expect(first).toBeLessThan(heavy().size);

    server.behaviour.throttleBytesPer10ms = 0;
    const again = await runCli(['pull', '-q', '-o', output, ...SEGMENTED, reference()], {
      env: { FROZEN_CACHE: cache },
    });
    expect([again.code, again.stderr]).toEqual([0, '']);
    expect(served()).toBeLessThanOrEqual(1.1 * heavy().size);
    expect(await snapshot(output)).toEqual(expected);
    // Nothing of the download in ranges is left beside the verified blob.
    expect((await readdir(join(cache, 'blobs', 'sha256'))).filter((name) => name.includes('.partial'))).toEqual([]);
  });
});

test('SIGINT mid-download in ranges: exit 130, the ranges recorded, and the next run fetches only the rest', async () => {
  server.behaviour.throttleBytesPer10ms = 48 * 1024;
  const cache = await tempDir();
  const output = await tempDir();
  const child = spawn(process.execPath, [FROZEN_BIN, 'pull', '-q', '-o', output, ...SEGMENTED, reference()], {
    stdio: 'ignore',
    env: { ...process.env, FROZEN_CACHE: cache },
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  for (let i = 0; i < 500 && served() < 4 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGINT');
  expect(await exited).toBe(130);
  const partial = join(cache, 'blobs', 'sha256', `${heavy().digest.slice(7)}.partial`);
  const recorded = JSON.parse(await readFile(`${partial}.ranges`, 'utf8')) as { have: [number, number][] };
  const kept = recorded.have.reduce((sum, [start, end]) => sum + end - start, 0);
  expect(kept).toBeGreaterThan(2 * MiB);
  const first = served();

  server.behaviour.throttleBytesPer10ms = 0;
  const again = await runCli(['pull', '-q', '-o', output, ...SEGMENTED, reference()], { env: { FROZEN_CACHE: cache } });
  expect([again.code, again.stderr]).toEqual([0, '']);
  // What the record named was not asked for again.
  expect(served() - first).toBeLessThanOrEqual(heavy().size - kept);
  expect(await snapshot(output)).toEqual(expected);
});

describe('a partial changed underneath', () => {
  test('a partial removed while its ranges download is noticed before it becomes the blob: emptied, fetched again in one stream, nothing corrupt kept', async () => {
    server.behaviour.throttleBytesPer10ms = 16 * 1024; // ~1.6 MB/s a range: the 12 MiB layer takes over 2 s
    const cache = await tempDir();
    const running = pull(cache);
    const partial = join(cache, 'blobs', 'sha256', `${heavy().digest.slice(7)}.partial`);
    const size = () =>
      stat(partial).then(
        (info) => info.size,
        () => 0,
      );
    for (let i = 0; i < 400 && (await size()) < 1 * MiB; i++) await new Promise((r) => setTimeout(r, 10));
    expect(await size()).toBeGreaterThanOrEqual(1 * MiB);
    await rm(partial); // the ranges go on writing to the file they hold open, which no path names any more
    server.behaviour.throttleBytesPer10ms = 0;
    const result = await running;
    expect([result.code, result.stderr]).toEqual([0, '']);
    const fallback = result.events.find((event) => event.type === 'blob-fallback' && event.endpoint === 'ranges');
    expect((fallback as { reason: string } | undefined)?.reason).toMatch(/changed on disk/);
    const gets = layerGets();
    expect(gets.at(-1)).toMatchObject({ range: undefined, bytes: heavy().size, status: 200 });
    expect(await snapshot(result.output)).toEqual(expected);
    const verify = await runCli(['cache', 'verify'], { env: { FROZEN_CACHE: cache } });
    expect(verify.stdout).toMatch(/removed 0\n$/);
    expect((await readdir(join(cache, 'blobs', 'sha256'))).filter((name) => name.includes('.partial'))).toEqual([]);
  });
});

describe('by default, ranges only from registries that are far', () => {
  test('a registry on loopback (its fastest answer well under 50 ms) gets one stream for a big layer', async () => {
    const result = await pull(await tempDir(), ['--segment-threshold', '1']);
    expect(result.code).toBe(0);
    expect(layerGets().map((get) => get.range)).toEqual([undefined]);
    expect(await snapshot(result.output)).toEqual(expected);
  });

  test('the same registry 60 ms away (a TCP delay relay) gets ranges', async () => {
    const relay = await startTcpDelayRelay(server.host, 60);
    try {
      const output = await tempDir();
      const args = ['pull', '-q', '-o', output, '--segment-threshold', '1', `${relay.host}/seg/app:1`];
      const result = await runCli(args, { env: { FROZEN_CACHE: await tempDir() } });
      expect([result.code, result.stderr]).toEqual([0, '']);
      expect(ranges(layerGets()).length).toBe(3);
      expect(served()).toBe(heavy().size);
    } finally {
      await relay.stop();
    }
  });
});

describe('servers that do not serve ranges as asked', () => {
  test('a server that ignores Range (200 with the whole blob) gets one stream, which completes', async () => {
    server.behaviour.range = 'ignore';
    const result = await pull(await tempDir());
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const whole = layerGets().filter((get) => get.range === undefined);
    expect(whole.length).toBe(1);
    expect(whole[0]!.bytes).toBe(heavy().size);
    expect(result.events.some((event) => event.type === 'blob-fallback' && /ignored Range/.test(event.reason))).toBe(
      true,
    );
    expect(await snapshot(result.output)).toEqual(expected);
  });

  test('a lying Content-Range is refused: none of its bytes are kept, and the blob comes in one stream from 0', async () => {
    server.behaviour.range = 'lie';
    const cache = await tempDir();
    const result = await pull(cache);
    expect(result.code).toBe(0);
    const refusal = result.events.find((event) => event.type === 'blob-fallback');
    expect(refusal).toMatchObject({ endpoint: 'ranges' });
    expect((refusal as { reason: string }).reason).toMatch(/Content-Range: bytes 0-/);
    const whole = layerGets().filter((get) => get.range === undefined);
    expect(whole.length).toBe(1);
    expect(await snapshot(result.output)).toEqual(expected);
    const verify = await runCli(['cache', 'verify'], { env: { FROZEN_CACHE: cache } });
    expect(verify.stdout).toMatch(/removed 0\n$/);
  });
});

describe('a mirror that dies mid-blob', () => {
  let mirror: FlakyRegistry;
  beforeAll(async () => {
    mirror = await startFlakyRegistry();
    mirror.serve('seg/app', '1', img);
  });
  afterAll(async () => mirror?.stop());

  test('its ranges finish at the registry, from where each one stopped', async () => {
    resetBehaviour(mirror);
    mirror.behaviour.throttleBytesPer10ms = 64 * 1024;
    mirror.behaviour.dieAfterBytes = 5 * MiB;
    const result = await pull(await tempDir(), [...SEGMENTED, '--mirror', `${server.host}=http://${mirror.host}`]);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const fromMirror = served(mirror);
    expect(fromMirror).toBeGreaterThan(0);
    const upstream = layerGets();
    // Only ranges went upstream, and only what the mirror had not delivered.
    expect(upstream.length).toBeGreaterThan(0);
    expect(upstream.every((get) => get.range !== undefined && get.status === 206)).toBe(true);
    expect(served()).toBeLessThan(heavy().size);
    expect(fromMirror + served()).toBeLessThanOrEqual(1.1 * heavy().size);
    expect(await snapshot(result.output)).toEqual(expected);
  });

  test('a mirror that serves wrong bytes in its ranges: nothing of them is kept, and the registry serves the layer', async () => {
    const corrupt = await startMirrorFront(`http://${server.host}`, { mode: 'corrupt' });
    try {
      const cache = await tempDir();
      const result = await pull(cache, [...SEGMENTED, '--mirror', `${server.host}=${corrupt.url}`]);
      expect([result.code, result.stderr]).toEqual([0, '']);
      const fallback = result.events.find((event) => event.type === 'blob-fallback' && event.endpoint === 'ranges');
      expect((fallback as { reason: string } | undefined)?.reason).toMatch(/digest or size mismatch/);
      expect(corrupt.seen.filter((seen) => seen.path.endsWith(heavy().digest)).length).toBeGreaterThan(0);
      expect(await snapshot(result.output)).toEqual(expected);
      const verify = await runCli(['cache', 'verify'], { env: { FROZEN_CACHE: cache } });
      expect(verify.stdout).toMatch(/removed 0\n$/);
    } finally {
      await corrupt.stop();
    }
  });
});
