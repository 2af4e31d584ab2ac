import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { snapshot } from '../support/fixture.js';
import { image, layer, multiLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startTlsFront, type TlsFront, type TlsFrontOptions } from '../support/tls-front.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';

/**
 * HTTP/2 where the server offers it (ALPN), HTTP/1.1 where it does not, the same bytes either way; and the faults
 * HTTP/2 servers send (GOAWAY, RST_STREAM) retried like connection resets.
 */
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-h2-'));

let plain: RunningRegistry;
let certs: TestCertificates;
let img: BuiltImage;
let big: BuiltImage;
/** A layer big enough for ranges: 12 MiB. */
let huge: BuiltImage;
/** What an uninterrupted pull over plain http writes: every other pull must write the same bytes. */
let expected: Record<string, string>;
let expectedBig: Record<string, string>;

beforeAll(async () => {
  plain = await startRegistry();
  certs = await makeCertificates();
  img = await multiLayerImage();
  big = image({ layers: [await layer([{ type: 'file', name: 'data', content: randomBytes(3_000_000) }])] });
  await pushImage({ url: plain.url }, 'h2/app', img, '1');
  await pushImage({ url: plain.url }, 'h2/big', big, '1');
  huge = image({ layers: [await layer([{ type: 'file', name: 'data', content: randomBytes(12 * 1024 * 1024) }])] });
  await pushImage({ url: plain.url }, 'h2/huge', huge, '1');
  expected = await pulled(plain.host, 'h2/app');
  expectedBig = await pulled(plain.host, 'h2/big');
});
afterAll(async () => plain?.stop());

/** Pulls `host/repository:1` and returns its files, the host in manifest.json and repositories written `HOST`. */
async function pulled(host: string, repository: string, extra: string[] = []): Promise<Record<string, string>> {
  const output = await tempDir();
  const result = await runCli(['pull', '-q', '-o', output, '--ca-file', certs.ca, ...extra, `${host}/${repository}:1`]);
  expect([result.code, result.stderr]).toEqual([0, '']);
  return hostless(await snapshot(output), host);
}

function hostless(files: Record<string, string>, host: string): Record<string, string> {
  const named = (base64: string) =>
    Buffer.from(Buffer.from(base64, 'base64').toString().replaceAll(host, 'HOST')).toString('base64');
  return { ...files, 'manifest.json': named(files['manifest.json']!), repositories: named(files.repositories!) };
}

async function withFront(options: TlsFrontOptions, use: (front: TlsFront) => Promise<void>) {
  const front = await startTlsFront(plain.url, certs, options);
  try {
    await use(front);
  } finally {
    await front.stop();
  }
}

/** A pull with `--json` from Distribution over TLS with its access log: the run's totals and the log. */
async function pullFromSecure(repository: string, extra: string[] = []) {
  const secure = await startRegistry({
    tls: { certificate: certs.certificate, key: certs.key, ca: certs.ca },
    storage: plain.storage,
    accessLog: true,
  });
  try {
    const output = await tempDir();
    const args = ['pull', '--json', '-o', output, '--ca-file', certs.ca, ...extra, `${secure.host}/${repository}:1`];
    const result = await runCli(args);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
      totals: { requests: Record<string, number>; connections: Record<string, number> };
    };
    const files = hostless(await snapshot(output), secure.host);
    return { host: secure.host, totals: summary.totals, log: secure.accessLog(), files };
  } finally {
    await secure.stop();
  }
}

describe('the protocol is what the server offers', () => {
  test('Distribution over TLS offers h2: every request of the pull is HTTP/2, as its access log shows, on one connection', async () => {
    const pull = await pullFromSecure('h2/app');
    const requestLines = [...pull.log.matchAll(/"(GET|HEAD) (\/v2\/h2\/app\/[^ ]+) (HTTP\/[\d.]+)"/g)];
    // The manifest, the config and three layers: each one request, all of them HTTP/2.
    expect(requestLines.length).toBe(pull.totals.requests[pull.host]);
    expect(requestLines.length).toBeGreaterThanOrEqual(5);
    expect(new Set(requestLines.map((line) => line[3]))).toEqual(new Set(['HTTP/2.0']));
    expect(pull.totals.connections[pull.host]).toBe(1);
    expect(pull.files).toEqual(expected);
  });

  test('a TLS server that offers only HTTP/1.1 is spoken to in HTTP/1.1, and the output is byte-identical', async () => {
    await withFront({ http1Only: true }, async (front) => {
      expect(await pulled(front.host, 'h2/app')).toEqual(expected);
      expect(front.seen.length).toBeGreaterThanOrEqual(5);
      expect(new Set(front.seen.map((seen) => seen.httpVersion))).toEqual(new Set(['1.1']));
    });
  });

  test('the same front offering h2 is spoken to in HTTP/2', async () => {
    await withFront({}, async (front) => {
      expect(await pulled(front.host, 'h2/app')).toEqual(expected);
      expect(new Set(front.seen.map((seen) => seen.httpVersion))).toEqual(new Set(['2.0']));
    });
  });
});

test('the ranges of a big layer go on HTTP/1.1 connections of their own, beside the one HTTP/2 connection', async () => {
  const pull = await pullFromSecure('h2/huge', ['--segments', '3', '--segment-threshold', '1']);
  const layerPath = `/v2/h2/huge/blobs/${huge.layers[0]!.digest}`;
  const lines = [...pull.log.matchAll(/"GET (\/v2\/h2\/huge\/[^ ]+) (HTTP\/[\d.]+)"/g)];
  const ranges = lines.filter((line) => line[1] === layerPath);
  const others = lines.filter((line) => line[1] !== layerPath);
  expect(ranges.map((line) => line[2])).toEqual(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1']);
  expect(new Set(others.map((line) => line[2]))).toEqual(new Set(['HTTP/2.0']));
  // One HTTP/2 connection for the manifest and the config, and one for each range.
  expect(pull.totals.connections[pull.host]).toBe(4);
});

describe('HTTP/2 faults are retried like connection resets', () => {
  test("a GOAWAY as the third request arrives (nginx's keepalive_requests): the pull completes, byte-identical", async () => {
    await withFront({ goAwayAt: 3 }, async (front) => {
      expect(await pulled(front.host, 'h2/app')).toEqual(expected);
      const third = front.seen[2]!;
      // The request the GOAWAY refused was asked again, on a new connection.
      expect(front.seen.slice(3).some((seen) => seen.path === third.path)).toBe(true);
    });
  });

  test('an RST_STREAM half way through a layer (nginx when its upstream fails mid-body): resumed with Range, byte-identical', async () => {
    const layerPath = `/v2/h2/big/blobs/${big.layers[0]!.digest}`;
    await withFront({ resetStream: (path, nth) => path === layerPath && nth === 1 }, async (front) => {
      expect(await pulled(front.host, 'h2/big')).toEqual(expectedBig);
      const gets = front.seen.filter((seen) => seen.path === layerPath && seen.method === 'GET');
      expect(gets.length).toBe(2);
      // The second GET asks only for what the reset stream did not bring.
      expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    });
  });

  test('a stream that stalls half way is given up after --stall-timeout and resumed with Range, over HTTP/2 again', async () => {
    const layerPath = `/v2/h2/big/blobs/${big.layers[0]!.digest}`;
    await withFront({ stallStream: (path, nth) => path === layerPath && nth === 1 }, async (front) => {
      expect(await pulled(front.host, 'h2/big', ['--stall-timeout', '1'])).toEqual(expectedBig);
      const gets = front.seen.filter((seen) => seen.path === layerPath && seen.method === 'GET');
      expect(gets.map((get) => get.httpVersion)).toEqual(['2.0', '2.0']);
      expect(gets[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    });
  });
});
