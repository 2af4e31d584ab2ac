import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { parseDigest } from '../../src/digest.js';
import { parsePlatform } from '../../src/platform/index.js';
import { parseReference } from '../../src/reference/index.js';
import { resolveImage } from '../../src/registry/resolve.js';
import type { RegistrySession } from '../../src/registry/session.js';
import { blob, image, index, layer, type Blob, type BuiltImage } from '../support/images.js';
import { mockEndpoints, type MockEndpoint, type MockEndpoints } from '../support/mock-endpoints.js';

/**
 * registry/resolve.ts: from a reference to the image manifest to pull, down an index (and nested indexes, as
 * BuildKit and some registries publish them) to the wanted platform's entry.
 */
let amd64: BuiltImage;
let arm64: BuiltImage;
let mock: MockEndpoints;
let registry: MockEndpoint;
let session: RegistrySession | undefined;

beforeAll(async () => {
  const layers = [await layer([{ type: 'file', name: 'f', content: 'resolve' }])];
  amd64 = image({ layers, architecture: 'amd64' });
  arm64 = image({ layers, architecture: 'arm64', variant: 'v8' });
});

afterEach(async () => {
  await session?.close();
  session = undefined;
});

async function serve(tagged: Blob, images: readonly BuiltImage[], extra: readonly Blob[] = []) {
  mock = mockEndpoints();
  registry = mock.endpoint('https://registry.test');
  registry.serveManifest('team/app', '1', tagged);
  for (const img of images) registry.serveImage('team/app', undefined, img);
  for (const manifest of extra) registry.serveManifest('team/app', undefined, manifest);
  session = await mock.session();
  return session.remote(parseReference('registry.test/team/app:1'));
}

/** An OCI index whose entries are other indexes, each listed for linux/amd64. */
function nestedIndex(children: readonly Blob[]): Blob {
  const platform = { os: 'linux', architecture: 'amd64' };
  const manifests = children.map((child) => ({
    mediaType: child.mediaType,
    digest: child.digest,
    size: child.size,
    platform,
  }));
  const body = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
  return blob(Buffer.from(JSON.stringify(body)), 'application/vnd.oci.image.index.v1+json');
}

describe('resolveImage', () => {
  test("an index: the wanted platform's manifest, the index's digest, what it offers", async () => {
    const list = index([amd64, arm64]);
    const remote = await serve(list, [amd64, arm64]);
    const resolved = await resolveImage(
      parseReference('registry.test/team/app:1'),
      remote,
      parsePlatform('linux/arm64'),
    );
    expect(resolved.digest.value).toBe(list.digest);
    expect(resolved.manifestDigest.value).toBe(arm64.manifest.digest);
    expect(resolved.manifest).toMatchObject({ kind: 'manifest', config: { digest: parseDigest(arm64.config.digest) } });
    expect(resolved.platform).toBe('linux/arm64'); // the platform asked for, as pull reports it
    expect(resolved.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(resolved.offered?.map((o) => o.platform)).toEqual(['linux/amd64', 'linux/arm64']); // v8 is arm64's default
    expect(resolved.manifestBytes?.equals(arm64.manifest.bytes)).toBe(true);
  });

  test('a single image: itself, with no platform chosen', async () => {
    const remote = await serve(amd64.manifest, [amd64]);
    const resolved = await resolveImage(
      parseReference('registry.test/team/app:1'),
      remote,
      parsePlatform('linux/arm64'),
    );
    expect(resolved.digest.value).toBe(amd64.manifest.digest);
    expect(resolved.manifestDigest.value).toBe(amd64.manifest.digest);
    expect(resolved.platform).toBeUndefined();
    expect(resolved.offered).toBeUndefined();
  });

  test('nested indexes are walked down to the image', async () => {
    const inner = index([amd64, arm64]);
    const outer = nestedIndex([inner]);
    const remote = await serve(outer, [amd64, arm64], [inner]);
    const resolved = await resolveImage(
      parseReference('registry.test/team/app:1'),
      remote,
      parsePlatform('linux/amd64'),
    );
    expect(resolved.digest.value).toBe(outer.digest);
    expect(resolved.manifestDigest.value).toBe(amd64.manifest.digest);
  });

  test('indexes nested more than four deep are refused', async () => {
    const levels = [index([amd64])];
    for (let i = 0; i < 4; i++) levels.push(nestedIndex([levels.at(-1)!]));
    const remote = await serve(levels.at(-1)!, [amd64], levels.slice(0, -1));
    const resolving = resolveImage(parseReference('registry.test/team/app:1'), remote, parsePlatform('linux/amd64'));
    await expect(resolving).rejects.toMatchObject({ kind: 'protocol', message: 'image indexes nested too deeply' });
  });

  test('no entry for the platform: a platform error naming what the index offers', async () => {
    const remote = await serve(index([amd64]), [amd64]);
    const resolving = resolveImage(parseReference('registry.test/team/app:1'), remote, parsePlatform('linux/s390x'));
    await expect(resolving).rejects.toMatchObject({
      kind: 'platform',
      message: expect.stringContaining('linux/amd64'),
    });
  });

  test('by digest: the digest is verified, and the entry of an index fetched by its own digest', async () => {
    const list = index([amd64, arm64]);
    const remote = await serve(list, [amd64, arm64]);
    const ref = parseReference(`registry.test/team/app@${list.digest}`);
    const resolved = await resolveImage(ref, remote, parsePlatform('linux/amd64'));
    expect(resolved.manifestDigest.value).toBe(amd64.manifest.digest);
    expect(mock.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /v2/team/app/manifests/${list.digest}`,
      `GET /v2/team/app/manifests/${amd64.manifest.digest}`,
    ]);
  });
});
