import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  canonicalReference,
  isRetryable,
  pull,
  PullFailures,
  verifyArchive,
  type BlobDoneEvent,
  type PullEvent,
  type PullOptions,
} from '../../src/index.js';
import { formatBytes } from '../../src/cli/format.js';
import { runCli } from '../support/cli.js';
import { useFixtureRegistry } from '../support/fixture.js';
import { image, layer, pushImage, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';

/** The API as a pipeline author meets it: its numbers, partial runs, failures to act on, strict options. */
const fixture = useFixtureRegistry();
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-api-'));
let first: BuiltImage;
let second: BuiltImage;

beforeAll(async () => {
  // Two images of one run sharing a 2 MB layer, each with a small one of its own.
  const shared = await layer([{ type: 'file', name: 'shared', content: randomBytes(2_000_000) }]);
  const own = async (name: string) => layer([{ type: 'file', name, content: name }]);
  first = image({ layers: [shared, await own('first')] });
  second = image({ layers: [shared, await own('second')] });
  await pushImage({ url: fixture.registry.url }, 'shares/one', first, '1');
  await pushImage({ url: fixture.registry.url }, 'shares/two', second, '1');
});

const ref = (path: string) => `${fixture.registry.host}/${path}`;

describe('the numbers of a run', () => {
  test('a layer two images share is downloaded once and counted once: the other image gets it as shared, with 0 bytes', async () => {
    const events: PullEvent[] = [];
    const result = await pull({
      images: [ref('shares/one:1'), ref('shares/two:1')],
      output: await tempDir(),
      cache: await tempDir(),
      platform: 'linux/amd64',
      onEvent: (event) => events.push(event),
    });
    const sharedDigest = first.layers[0]!.digest;
    const done = events.filter((e): e is BlobDoneEvent => e.type === 'blob-done' && e.digest === sharedDigest);
    expect(done.map((e) => [e.source === 'shared' ? 'shared' : 'downloaded', e.bytes > 0]).sort()).toEqual([
      ['downloaded', true],
      ['shared', false],
    ]);
    expect(events.filter((e) => e.type === 'blob-start' && e.digest === sharedDigest)).toHaveLength(1);
    const layerSize = first.layers[0]!.size;
    const received = result.images.reduce((sum, i) => sum + i.downloadedBytes, 0);
    expect(result.totals.downloadedBytes).toBe(received);
    // Each blob once: the shared layer, two own layers, two configs.
    const blobs = [first.config, ...first.layers, second.config, second.layers[1]!];
    expect(result.totals.bytes).toBe(blobs.reduce((sum, b) => sum + b.size, 0));
    expect(received).toBe(result.totals.bytes);
    expect(received).toBeLessThan(result.images.reduce((sum, i) => sum + i.bytes, 0)); // not layerSize twice
    expect(result.totals.requests[fixture.registry.host]).toBeGreaterThanOrEqual(2 + blobs.length);
    expect(result.images[0]!.configBytes).toBe(first.config.size);
    expect(layerSize).toBeGreaterThan(1_000_000);
    // image-done names the image and carries its result.
    expect(events.filter((e) => e.type === 'image-done').map((e) => [e.image, e.result.imageId])).toEqual([
      [ref('shares/one:1'), first.config.digest],
      [ref('shares/two:1'), second.config.digest],
    ]);
  });

  test('the CLI summary gives the layers and the config apart', async () => {
    const result = await runCli(['pull', '-o', await tempDir(), ref('shares/one:1')]);
    expect(result.code).toBe(0);
    const layerBytes = first.layers.reduce((sum, l) => sum + l.size, 0);
    expect(result.stdout).toContain(
      `  layers    2, ${formatBytes(layerBytes)}; config ${formatBytes(first.config.size)} (`,
    );
  });
});

describe('partial runs and failures to act on', () => {
  test('partial: the images that succeeded are written, the failures listed; by default nothing is written', async () => {
    const images = [ref('shares/one:1'), ref('nope/app:1')];
    const output = join(await tempDir(), 'out');
    const result = await pull({ images, output, cache: await tempDir(), platform: 'linux/amd64', partial: true });
    expect(result.images.map((i) => i.reference)).toEqual([ref('shares/one:1')]);
    expect(result.failures.map((f) => [f.image, f.kind])).toEqual([[ref('nope/app:1'), 'not-found']]);
    expect((await loadWithSkopeo(output)).imageId).toBe(first.config.digest);

    const strict = join(await tempDir(), 'out');
    await expect(
      pull({ images, output: strict, cache: await tempDir(), platform: 'linux/amd64' }),
    ).rejects.toMatchObject({ kind: 'not-found' });
    expect(existsSync(strict)).toBe(false);
  });

  test('--keep-going: the good image written, one line for the bad one, exit 1', async () => {
    const output = await tempDir();
    const result = await runCli(['pull', '-q', '--keep-going', '-o', output, ref('shares/two:1'), ref('nope/app:1')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^frozen: error: .*nope\/app:1: manifest 1: not found.*\n$/);
    expect(JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8'))).toHaveLength(1);
  });

  test('PullFailures says every kind, and whether a retry may help, whatever the order of the images', async () => {
    const missing = ref('nope/app:1');
    const unreachable = '127.0.0.1:1/app:1';
    const failures: PullFailures[] = [];
    for (const images of [
      [missing, unreachable],
      [unreachable, missing],
    ]) {
      const run = pull({ images, output: await tempDir(), cache: false, platform: 'linux/amd64', retries: 0 });
      failures.push(
        await run.then(
          () => Promise.reject(new Error('pulled')),
          (e: unknown) => e as PullFailures,
        ),
      );
    }
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(PullFailures);
      expect([failure.kind, failure.kinds, failure.retryable, isRetryable(failure)]).toEqual([
        'not-found',
        ['not-found', 'network'],
        true,
        true,
      ]);
    }
    expect(isRetryable(failures[0]!.errors.find((e) => e.image === missing))).toBe(false);
  });
});

describe('strict options', () => {
  test.each([
    [{ retries: -1 }, /^retries must be a whole number, 0 or more, not -1$/],
    [{ retries: 1.5 }, /^retries must be a whole number, 0 or more, not 1.5$/],
    [{ retryDelayMs: -5 }, /^retryDelayMs must be a number of milliseconds, 0 or more, not -5$/],
    [{ stallTimeoutMs: 0 }, /^stallTimeoutMs must be a number of milliseconds, more than 0, not 0$/],
    [{ dispatcher: {} }, /^dispatcher must be an undici Dispatcher/],
  ])('%j is refused before anything starts', async (wrong, message) => {
    const parent = await tempDir();
    const options = { images: [ref('shares/one:1')], output: join(parent, 'out'), cache: false, ...wrong };
    await expect(pull(options as unknown as PullOptions)).rejects.toMatchObject({
      kind: 'usage',
      message: expect.stringMatching(message),
    });
    expect(await readdir(parent)).toEqual([]);
  });

  test('a platform with a lock file is refused: the lock pins each image’s platform', async () => {
    const lock = { version: 1 as const, images: [] };
    const options = { lock, platform: 'linux/arm64', output: await tempDir() } as unknown as PullOptions;
    await expect(pull(options)).rejects.toMatchObject({
      kind: 'usage',
      message: 'a lock file pins the platform of each image: platform does not apply',
    });
  });

  test('API errors name options, not CLI flags; the CLI names its flags', async () => {
    await expect(
      pull({ images: [ref('shares/one:1')], includeReferrers: true, output: await tempDir() }),
    ).rejects.toMatchObject({
      kind: 'usage',
      message: "referrers are kept in OCI layouts: the includeReferrers option needs format: 'oci'",
    });
  });

  test('canonicalReference takes text too, and refuses what is no reference', () => {
    expect(canonicalReference('busybox')).toBe('docker.io/library/busybox:latest');
    expect(() => canonicalReference(undefined as unknown as string)).toThrow(
      /invalid reference: undefined is not a string/,
    );
  });

  test('verifyArchive stops when its signal fires: aborted, with the reason', async () => {
    const output = await tempDir();
    await pull({ images: [ref('shares/one:1')], output, cache: false, platform: 'linux/amd64' });
    await expect(verifyArchive(output, { signal: AbortSignal.abort(new Error('enough')) })).rejects.toMatchObject({
      kind: 'aborted',
      message: 'aborted: enough',
    });
    expect((await verifyArchive(output)).problems).toEqual([]);
  });
});

describe('a dispatcher the caller passes', () => {
  test('serves every pull, counts its connections, and keeps no listener of frozen once a pull returns', async () => {
    const { Agent } = await import('undici');
    const agent = new Agent();
    try {
      for (let i = 0; i < 12; i++) {
        const result = await pull({
          images: [ref('one/app:1')],
          output: await tempDir(),
          cache: false,
          dispatcher: agent,
        });
        expect(result.totals.requests[fixture.registry.host]).toBeGreaterThan(0);
        if (i === 0) expect(result.totals.connections[fixture.registry.host]).toBeGreaterThanOrEqual(1);
        expect(agent.listenerCount('connect')).toBe(0);
      }
    } finally {
      await agent.close();
    }
  });
});
