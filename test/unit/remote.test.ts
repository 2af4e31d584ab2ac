import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { BlobCache } from '../../src/cache/blob-cache.js';
import { storedManifests } from '../../src/cache/manifests.js';
import { parseDigest } from '../../src/digest.js';
import { parseReference } from '../../src/reference/index.js';
import type { RegistrySession } from '../../src/registry/session.js';
import { oneLayerImage, type BuiltImage } from '../support/images.js';
import { mockEndpoints, type MockEndpoint, type MockEndpoints } from '../support/mock-endpoints.js';

/**
 * registry/remote.ts: one repository through its endpoints. Mirror trust and fallback as docs/mirrors.md describes
 * them (Docker's daemon treats registry-mirrors the same way: tried in order, upstream last), the tag's HEAD, and
 * the manifest cache consulted before any endpoint.
 */
const REF = parseReference('registry.test/team/app:1');
let image: BuiltImage;
let other: BuiltImage;
let mock: MockEndpoints;
let upstream: MockEndpoint;
let mirror: MockEndpoint;
let session: RegistrySession | undefined;

beforeAll(async () => {
  image = await oneLayerImage('remote');
  other = await oneLayerImage('remote-other');
});

function setup() {
  mock = mockEndpoints();
  upstream = mock.endpoint('https://registry.test');
  mirror = mock.endpoint('https://mirror.test');
  upstream.serveImage('team/app', '1', image);
  mirror.serveImage('team/app', '1', image);
}

afterEach(async () => {
  await session?.close();
  session = undefined;
});

const asked = (origin: string) => mock.requests.filter((r) => r.origin === origin).map((r) => `${r.method} ${r.path}`);
const manifestPath = (reference: string) => `/v2/team/app/manifests/${reference}`;

describe('Remote.manifest', () => {
  test('a mirror not trusted with tags: the tag is resolved upstream by HEAD, the manifest fetched by digest from the mirror', async () => {
    setup();
    session = await mock.session({ mirrors: ['registry.test=https://mirror.test'] });
    const served = await session.remote(REF).manifest('1', undefined);
    expect(served.digest.value).toBe(image.manifest.digest);
    expect(served.endpoint).toBe('https://mirror.test');
    expect(asked('https://registry.test')).toEqual([`HEAD ${manifestPath('1')}`]);
    expect(asked('https://mirror.test')).toEqual([`GET ${manifestPath(image.manifest.digest)}`]);
  });

  test('a trusted mirror resolves the tag itself: upstream is not asked', async () => {
    setup();
    session = await mock.session({ trustedMirrors: ['registry.test=https://mirror.test'] });
    const served = await session.remote(REF).manifest('1', undefined);
    expect(served.endpoint).toBe('https://mirror.test');
    expect(asked('https://registry.test')).toEqual([]);
    expect(asked('https://mirror.test')).toEqual([`GET ${manifestPath('1')}`]);
  });

  test('a mirror that fails falls back to upstream, which serves the same verified bytes', async () => {
    setup();
    mirror.failWith(500);
    session = await mock.session({ mirrors: ['registry.test=https://mirror.test'] });
    const fallbacks: string[] = [];
    const remote = session.remote(REF, { notices: { onFallback: (endpoint) => fallbacks.push(endpoint) } });
    const served = await remote.manifest(image.manifest.digest, parseDigest(image.manifest.digest));
    expect(served.endpoint).toBe('registry.test');
    expect(served.bytes.equals(image.manifest.bytes)).toBe(true);
    expect(fallbacks).toEqual(['https://mirror.test']);
  });

  test('a mirror serving other bytes for a digest is refused (integrity) and upstream serves the right ones', async () => {
    setup();
    mirror.tamperManifests(other.manifest.bytes);
    session = await mock.session({ mirrors: ['registry.test=https://mirror.test'] });
    const served = await session.remote(REF).manifest(image.manifest.digest, parseDigest(image.manifest.digest));
    expect(served.endpoint).toBe('registry.test');
    expect(served.digest.value).toBe(image.manifest.digest);
  });

  test('upstream serving other bytes than the digest asked for fails with an integrity error', async () => {
    setup();
    upstream.tamperManifests(other.manifest.bytes);
    session = await mock.session();
    const fetching = session.remote(REF).manifest(image.manifest.digest, parseDigest(image.manifest.digest));
    await expect(fetching).rejects.toMatchObject({
      kind: 'integrity',
      message: expect.stringMatching(/digest mismatch/),
    });
  });

  test('with a cache kept across runs: an unseen tag is fetched at once (no HEAD); once seen, a HEAD finds the kept manifest and no GET is made', async () => {
    setup();
    const cache = new BlobCache(await mkdtemp(join(tmpdir(), 'frozen-remote-cache-')));
    await cache.createFolder();
    const manifests = storedManifests(cache, { offline: false, shared: true });
    session = await mock.session();
    const first = session.remote(REF, { cache: manifests });
    expect((await first.manifest('1', undefined)).endpoint).toBe('registry.test');
    await first.rememberTag('1');
    expect(asked('https://registry.test')).toEqual([`GET ${manifestPath('1')}`]);

    mock.requests.length = 0;
    const second = await session.remote(REF, { cache: manifests }).manifest('1', undefined);
    expect(second.endpoint).toBe('cache');
    expect(second.digest.value).toBe(image.manifest.digest);
    expect(asked('https://registry.test')).toEqual([`HEAD ${manifestPath('1')}`]);
  });

  test('a manifest asked for by digest that the cache keeps costs no request; offline, one it does not keep is an error', async () => {
    setup();
    const cache = new BlobCache(await mkdtemp(join(tmpdir(), 'frozen-remote-cache-')));
    await cache.putBytes(parseDigest(image.manifest.digest), image.manifest.bytes);
    session = await mock.session();
    const offline = storedManifests(cache, { offline: true, shared: true });
    const remote = session.remote(REF, { cache: offline });
    expect((await remote.manifest(image.manifest.digest, parseDigest(image.manifest.digest))).endpoint).toBe('cache');
    await expect(remote.manifest(other.manifest.digest, parseDigest(other.manifest.digest))).rejects.toMatchObject({
      kind: 'not-found',
      message: `offline: manifest ${other.manifest.digest} is not in the cache`,
    });
    expect(mock.requests).toEqual([]);
  });

  test("currentDigest: what the tag points to now, from upstream's HEAD", async () => {
    setup();
    session = await mock.session({ mirrors: ['registry.test=https://mirror.test'] });
    expect((await session.remote(REF).currentDigest('1'))?.value).toBe(image.manifest.digest);
    expect(asked('https://mirror.test')).toEqual([]);
  });
});
