import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { PullEvent } from '../../src/index.js';
import { parseEvents, runCli } from '../support/cli.js';
import { multiLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startMirrorFront, type MirrorFront, type MirrorFrontOptions } from '../support/mirror-front.js';
import { freePort, startRegistry, type RunningRegistry } from '../support/registry.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-mirror-'));
type Done = Extract<PullEvent, { type: 'blob-done' }>;

let upstream: RunningRegistry;
let img: BuiltImage;
const fronts: MirrorFront[] = [];

beforeAll(async () => {
  upstream = await startRegistry();
  img = await multiLayerImage();
  await pushImage({ url: upstream.url }, 'team/app', img, '1');
  await pushImage({ url: upstream.url }, 'library/busybox', img, 'latest');
});
afterAll(async () => {
  await Promise.all(fronts.map((front) => front.stop()));
  await upstream?.stop();
});

async function front(options: MirrorFrontOptions): Promise<MirrorFront> {
  const started = await startMirrorFront(upstream.url, options);
  fronts.push(started);
  return started;
}

/** Pulls with --json and returns the events, after checking the result loads with the right image ID. */
async function pullJson(args: string[], env: NodeJS.ProcessEnv = {}): Promise<PullEvent[]> {
  const output = await tempDir();
  const result = await runCli(['pull', '--json', '--no-daemon-config', '-o', output, ...args], { env });
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);
  return parseEvents(result.stdout);
}

const sources = (events: PullEvent[]) =>
  events.filter((e): e is Done => e.type === 'blob-done').map((e) => [e.source, e.endpoint]);
const ref = () => `${upstream.host}/team/app:1`;
const allFrom = (source: string, endpoint: string) =>
  Array.from({ length: 1 + img.layers.length }, () => [source, endpoint]);

describe('a pull-through cache (a second real Distribution registry) as mirror', () => {
  test('serves the blobs; the tag is resolved upstream', async () => {
    const cache = await startRegistry({ proxyOf: upstream.url });
    try {
      const events = await pullJson(['--mirror', `${upstream.host}=${cache.url}`, ref()]);
      expect(sources(events)).toEqual(allFrom('mirror', cache.url));
      expect(events.find((e) => e.type === 'resolved')).toMatchObject({ endpoint: cache.url });
      for (const blob of [img.config, ...img.layers]) {
        const hex = blob.digest.slice(7);
        expect(existsSync(join(cache.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data'))).toBe(
          true,
        );
      }
    } finally {
      await cache.stop();
    }
  });
});

describe('a tag behind a mirror that is not trusted with tags', () => {
  test('is resolved by HEAD upstream, and a manifest the cache keeps under that digest is not fetched again, even for a tag the cache has not seen', async () => {
    await pushImage({ url: upstream.url }, 'team/app', img, 'also');
    const mirror = await front({});
    const env = { FROZEN_CACHE: await tempDir() };
    await pullJson(['--mirror', `${upstream.host}=${mirror.url}`, ref()], env);
    expect(mirror.seen.filter((r) => r.path.includes('/manifests/')).map((r) => r.path)).toEqual([
      `/v2/team/app/manifests/${img.manifest.digest}`,
    ]);
    mirror.seen.length = 0;
    const events = await pullJson(
      ['--mirror', `${upstream.host}=${mirror.url}`, `${upstream.host}/team/app:also`],
      env,
    );
    expect(mirror.seen).toEqual([]);
    expect(events.find((e) => e.type === 'resolved')).toMatchObject({ endpoint: 'cache' });
  });
});

describe('falling back from a broken mirror', () => {
  test.each([['error500'], ['notfound'], ['corrupt']] as const)('a mirror that answers %s', async (mode) => {
    const mirror = await front({ mode });
    const events = await pullJson(['--mirror', `${upstream.host}=${mirror.url}`, ref()]);
    expect(sources(events).every(([source]) => source === 'registry')).toBe(true);
    expect(events.filter((e) => e.type === 'blob-fallback').length).toBeGreaterThan(0);
    // The manifest, fetched by digest once upstream has resolved the tag, falls back too, and says so (a mirror
    // that corrupts only blobs serves the manifest).
    const manifestFallbacks = events.filter((e) => e.type === 'request-fallback');
    expect(manifestFallbacks).toEqual(
      mode === 'corrupt'
        ? []
        : [
            {
              type: 'request-fallback',
              image: ref(),
              endpoint: mirror.url,
              reason: expect.stringMatching(/^manifest sha256:[0-9a-f]{64}: /),
            },
          ],
    );
    if (mode === 'corrupt') {
      const fallbacks = events.filter(
        (e): e is Extract<PullEvent, { type: 'blob-fallback' }> => e.type === 'blob-fallback',
      );
      expect(fallbacks.every((e) => /digest or size mismatch/.test(e.reason))).toBe(true);
    }
  });

  test('a mirror that is down (closed port)', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const events = await pullJson(['--mirror', `${upstream.host}=${closed}`, ref()]);
    expect(sources(events)).toEqual(allFrom('registry', upstream.host));
  });

  test('a mirror that keeps failing is skipped for the rest of the run', async () => {
    const mirror = await front({ mode: 'error500' });
    // One request at a time, so the count is exact: the manifest, the config and the first layer fail; the rest
    // of the layers never ask the mirror.
    await pullJson(['--concurrency', '1', '--mirror', `${upstream.host}=${mirror.url}`, ref()]);
    expect(mirror.seen).toHaveLength(3);
  });
});

describe('mirror prefixes and credentials', () => {
  test('a prefix before /v2/ (Docker, Artifactory)', async () => {
    const mirror = await front({ pathPrefix: '/artifactory/api/docker' });
    const events = await pullJson(['--mirror', `${upstream.host}=${mirror.url}`, ref()]);
    expect(sources(events)).toEqual(allFrom('mirror', mirror.url));
    expect(mirror.seen.every((r) => r.path.startsWith('/artifactory/api/docker/v2/team/app/'))).toBe(true);
  });

  test('a prefix inside the repository name (Harbor proxy-cache project)', async () => {
    const mirror = await front({ repositoryPrefix: 'hub-proxy' });
    const events = await pullJson(['--mirror', `${upstream.host}=${mirror.url}`, ref()]);
    expect(sources(events)).toEqual(allFrom('mirror', mirror.url));
    expect(mirror.seen.every((r) => r.path.startsWith('/v2/hub-proxy/team/app/'))).toBe(true);
  });

  test('a mirror with its own Basic credentials from the config file gets those, not upstream ones', async () => {
    const mirror = await front({ basic: 'mirror-user:mirror-pass' });
    const config = join(await tempDir(), 'config.json');
    await writeFile(
      config,
      JSON.stringify({
        mirrors: { [upstream.host]: [{ url: mirror.url, username: 'mirror-user', password: 'mirror-pass' }] },
      }),
    );
    const events = await pullJson(['--config', config, '--creds', 'upstream-user:upstream-pass', ref()]);
    expect(sources(events)).toEqual(allFrom('mirror', mirror.url));
    const sent = new Set(mirror.seen.map((r) => r.authorization).filter(Boolean));
    expect([...sent]).toEqual([`Basic ${Buffer.from('mirror-user:mirror-pass').toString('base64')}`]);
  });

  test('upstream credentials never reach a mirror that asks for some', async () => {
    const mirror = await front({ basic: 'mirror-user:mirror-pass' });
    const events = await pullJson(
      ['--mirror', `${upstream.host}=${mirror.url}`, '--creds', 'upstream-user:upstream-pass', ref()],
      { FROZEN_MIRRORS: '' },
    );
    expect(sources(events).every(([source]) => source === 'registry')).toBe(true);
    expect(mirror.seen.length).toBeGreaterThan(0);
    expect(mirror.seen.every((r) => r.authorization === undefined)).toBe(true);
  });
});

describe('with the registry itself unreachable', () => {
  let origin: RunningRegistry;
  let cache: RunningRegistry;
  beforeAll(async () => {
    origin = await startRegistry();
    await pushImage({ url: origin.url }, 'team/app', img, '1');
    cache = await startRegistry({ proxyOf: origin.url });
    // Warm the pull-through cache, then take the origin away.
    await pullJson(['--mirror', `${origin.host}=${cache.url}`, `${origin.host}/team/app:1`]);
    await origin.stop();
  });
  // The origin too, in case setting up failed before it was taken away.
  afterAll(async () => Promise.all([cache?.stop(), origin?.stop()]));

  test('a pull pinned by digest needs only the mirror', async () => {
    const events = await pullJson([
      '--mirror',
      `${origin.host}=${cache.url}`,
      `${origin.host}/team/app:1@${img.manifest.digest}`,
    ]);
    expect(sources(events)).toEqual(allFrom('mirror', cache.url));
  });

  test('a tag pull with only an untrusted mirror fails and says why', async () => {
    const result = await runCli([
      'pull',
      '--no-daemon-config',
      '--retries',
      '0',
      '-o',
      join(await tempDir(), 'out'),
      '--mirror',
      `${origin.host}=${cache.url}`,
      `${origin.host}/team/app:1`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /frozen: error: .*team\/app:1: cannot resolve tag "1": 127\.0\.0\.1:\d+ failed \(cannot reach 127\.0\.0\.1:\d+: connection refused\) and no mirror is trusted to resolve tags \(--trusted-mirror\)\n$/,
    );
  });

  test('a trusted mirror may resolve the tag', async () => {
    // A pull-through cache cannot answer tags while its origin is down; a mirror holding its own copy can.
    const copy = await front({});
    const events = await pullJson(['--trusted-mirror', `${origin.host}=${copy.url}`, `${origin.host}/team/app:1`]);
    expect(events.find((e) => e.type === 'resolved')).toMatchObject({ endpoint: copy.url });
    expect(copy.seen[0]).toMatchObject({ method: 'GET', path: '/v2/team/app/manifests/1' });
  });
});

describe('configuration sources', () => {
  test("daemon.json's registry-mirrors serve Docker Hub, $FROZEN_MIRRORS any registry", async () => {
    const mirror = await front({});
    const daemon = join(await tempDir(), 'daemon.json');
    await writeFile(daemon, JSON.stringify({ 'registry-mirrors': [mirror.url] }));
    // No internet here: a Docker Hub pull pinned by digest works through the mirror alone.
    const output = await tempDir();
    const hub = await runCli(['pull', '--json', '-o', output, `busybox:latest@${img.manifest.digest}`], {
      env: { FROZEN_DAEMON_CONFIG: daemon },
    });
    expect(hub.code).toBe(0);
    expect(mirror.seen.some((r) => r.path.startsWith('/v2/library/busybox/'))).toBe(true);
    expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);

    const env = await pullJson([ref()], { FROZEN_MIRRORS: `${upstream.host}=${mirror.url}` });
    expect(sources(env)).toEqual(allFrom('mirror', mirror.url));
  });

  test('an invalid mirror URL is a usage error', async () => {
    const result = await runCli(['pull', '-o', await tempDir(), '--mirror', 'ftp://m.example', ref()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/invalid mirror "ftp:\/\/m\.example"/);
  });
});
