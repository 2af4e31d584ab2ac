import { channel } from 'node:diagnostics_channel';
import { mkdtemp } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { pull } from '../../src/index.js';
import { runCli } from '../support/cli.js';
import { snapshot } from '../support/fixture.js';
import { multiLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startTcpDelayRelay, type TcpDelayRelay } from '../support/tcp-delay.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';

/**
 * The registry a pull will surely ask is connected to while the run sets itself up (registry/early-connections.ts).
 * Counted by a TCP relay in front of Distribution over TLS: the connection opened early is the one the pull uses,
 * never one more, and a pull that needs no registry opens none.
 */
const tempDir = (prefix: string) => mkdtemp(join(tmpdir(), `frozen-early-${prefix}-`));

let plain: RunningRegistry;
let secure: RunningRegistry;
let certs: TestCertificates;
let img: BuiltImage;
let relay: TcpDelayRelay;

beforeAll(async () => {
  plain = await startRegistry();
  certs = await makeCertificates();
  img = await multiLayerImage();
  await pushImage({ url: plain.url }, 'early/app', img, '1');
  secure = await startRegistry({
    tls: { certificate: certs.certificate, key: certs.key, ca: certs.ca },
    storage: plain.storage,
  });
  relay = await startTcpDelayRelay(secure.host, 20);
});
afterAll(async () => {
  await relay?.stop();
  await secure?.stop();
  await plain?.stop();
});

async function pullThroughRelay(reference: string, cache: string) {
  const output = await tempDir('out');
  const before = relay.accepted();
  const args = ['pull', '--json', '-o', output, '--ca-file', certs.ca, `${relay.host}/${reference}`];
  const result = await runCli(args, { env: { FROZEN_CACHE: cache } });
  expect([result.code, result.stderr]).toEqual([0, '']);
  const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as {
    totals: { connections: Record<string, number> };
  };
  return { opened: relay.accepted() - before, summary, files: await snapshot(output) };
}

/**
 * An in-process pull of `reference` into a new cache (or `cache`), and the order of what it did: Node tells
 * `net.client.socket` of sockets made by net.connect (which the early connection is), not of those tls.connect
 * makes for itself (which undici's connector would otherwise have made). The relay's own connections to the
 * registry are left out. Also the TCP connections the relay accepted.
 */
async function connectionsOfPull(reference: string, cache?: string) {
  const relayPort = Number(relay.host.split(':')[1]);
  const seen: { event: string }[] = [];
  const onSocket = (message: unknown) => {
    const { socket } = message as { socket: Socket };
    const entry = { event: 'a TCP connection' };
    seen.push(entry);
    socket.once('connect', () => {
      if (socket.remotePort === relayPort) entry.event = 'the early TCP connection to the registry';
    });
  };
  const onConnect = () => seen.push({ event: 'undici connects' });
  // The channels are held here: Node 20 may collect a channel that only `subscribe(name)` refers to.
  const sockets = channel('net.client.socket');
  const connects = channel('undici:client:beforeConnect');
  sockets.subscribe(onSocket);
  connects.subscribe(onConnect);
  const before = relay.accepted();
  try {
    const result = await pull({
      images: [`${relay.host}/${reference}`],
      output: await tempDir('out'),
      cache: cache ?? (await tempDir('cache')),
      caFile: certs.ca,
    });
    return {
      order: seen.map((entry) => entry.event).filter((event) => event !== 'a TCP connection'),
      opened: relay.accepted() - before,
      connections: result.totals.connections[relay.host],
    };
  } finally {
    sockets.unsubscribe(onSocket);
    connects.unsubscribe(onConnect);
  }
}

const EARLY_THEN_UNDICI = ['the early TCP connection to the registry', 'undici connects'];

test('a cold pull by tag: the connection opened before undici connects is the one it uses, and no other is opened', async () => {
  expect(await connectionsOfPull('early/app:1')).toEqual({ order: EARLY_THEN_UNDICI, opened: 1, connections: 1 });
});

test('by digest: a cold pull uses the connection opened early; a warm one (manifest and blobs kept) opens none', async () => {
  const cache = await tempDir('cache');
  const reference = `early/app@${img.manifest.digest}`;
  expect(await connectionsOfPull(reference, cache)).toEqual({ order: EARLY_THEN_UNDICI, opened: 1, connections: 1 });
  expect(await connectionsOfPull(reference, cache)).toEqual({ order: [], opened: 0, connections: undefined });
});

test('through the CLI too: one connection for the whole pull, and a warm pull by digest opens none', async () => {
  const pulled = await pullThroughRelay('early/app:1', await tempDir('cache'));
  expect(pulled.opened).toBe(1);
  expect(pulled.summary.totals.connections[relay.host]).toBe(1);
  const cache = await tempDir('cache');
  const cold = await pullThroughRelay(`early/app@${img.manifest.digest}`, cache);
  const warm = await pullThroughRelay(`early/app@${img.manifest.digest}`, cache);
  expect([cold.opened, warm.opened]).toEqual([1, 0]);
  expect(warm.files).toEqual(cold.files);
});
