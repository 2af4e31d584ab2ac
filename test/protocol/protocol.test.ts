import { existsSync } from 'node:fs';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { FrozenError } from '../../src/errors.js';
import { inspect } from '../../src/inspect.js';
import { pull, type PullImagesOptions } from '../../src/index.js';
import { Authorizer } from '../../src/registry/auth.js';
import { Transport } from '../../src/registry/transport.js';
import { createHash } from 'node:crypto';
import { image as buildImage, index, layer, oneLayerImage, sha256, type BuiltImage } from '../support/images.js';
import { basic, mockRegistry, type MockRegistry, type MockRegistryOptions } from './mock-registry.js';

let image: BuiltImage;
beforeAll(async () => {
  image = await oneLayerImage('protocol');
});

function setup(options: MockRegistryOptions = {}): MockRegistry {
  const registry = mockRegistry(options);
  registry.serve('team/app', '1', image);
  return registry;
}

async function freshOutput(): Promise<string> {
  return join(await mkdtemp(join(tmpdir(), 'frozen-protocol-')), 'out');
}

/** A pull with its own empty cache and quick retries. */
async function pullFrom(registry: MockRegistry, output: string, extra: Partial<PullImagesOptions> = {}) {
  const cache = await mkdtemp(join(tmpdir(), 'frozen-protocol-cache-'));
  return pull({
    images: ['registry.test/team/app:1'],
    output,
    platform: 'linux/amd64',
    dispatcher: registry.agent,
    cache,
    retryDelayMs: 1,
    ...extra,
  });
}

/** A cache that has resolved registry.test/team/app:1 before, so that a pull of the tag asks for its digest first (HEAD). */
async function seenTag(): Promise<string> {
  const cache = await mkdtemp(join(tmpdir(), 'frozen-protocol-cache-'));
  await pullFrom(setup(), await freshOutput(), { cache });
  return cache;
}

async function pullError(promise: Promise<unknown>): Promise<FrozenError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FrozenError);
    return error as FrozenError;
  }
  throw new Error('expected the pull to fail');
}

describe('bearer tokens', () => {
  test('401 → token for the pull scope → retry with Bearer; later requests authorize up front', async () => {
    const registry = setup({ auth: 'bearer' });
    const result = await pullFrom(registry, await freshOutput());
    expect(result.images[0]!.imageId).toBe(image.config.digest);

    const tokenRequests = registry.requests.filter((r) => r.origin === 'https://auth.test');
    expect(tokenRequests).toHaveLength(1);
    const query = new URL(tokenRequests[0]!.path, 'https://auth.test').searchParams;
    expect(query.get('scope')).toBe('repository:team/app:pull');
    expect(query.get('service')).toBe('registry.test');
    expect(tokenRequests[0]!.authorization).toBeUndefined();

    const registryRequests = registry.requests.filter((r) => r.origin === 'https://registry.test');
    expect(registryRequests[0]).toMatchObject({ method: 'GET', path: '/v2/team/app/manifests/1' });
    expect(registryRequests[0]!.authorization).toBeUndefined();
    // the tag again, config, layer: all with the token, no further challenges
    expect(registryRequests.slice(1).map((r) => [r.method, r.authorization])).toEqual([
      ['GET', 'Bearer T1'],
      ['GET', 'Bearer T1'],
      ['GET', 'Bearer T1'],
    ]);
  });

  test('a token that expires at the registry mid-pull is refreshed once, and the refusals share the new one', async () => {
    // T1 is good for the manifest only; the config and layer GETs (in parallel) both meet a 401 and must get T2.
    const registry = setup({ auth: 'bearer', firstTokenUses: 1 });
    await pullFrom(registry, await freshOutput());
    expect(registry.tokensIssued).toEqual(['T1', 'T2']);
    for (const blob of [image.config, image.layers[0]!]) {
      const gets = registry.requests.filter((r) => r.path.endsWith(blob.digest));
      expect(gets.at(-1)?.authorization).toBe('Bearer T2');
      expect(gets.length).toBeLessThanOrEqual(2); // refused at most once
    }
  });

  test('a token that keeps being rejected ends in an auth error, not a loop', async () => {
    const registry = setup({ auth: 'bearer', firstTokenUses: 0 });
    const error = await pullError(pullFrom(registry, await freshOutput()));
    expect(error.kind).toBe('auth');
    expect(error.message).toMatch(/registry\.test\/team\/app:1: manifest 1: unauthorized/);
    expect(registry.tokensIssued.length).toBeLessThanOrEqual(2);
  });

  test('a token answer over 1 MiB is refused, not read into memory; one of some kilobytes is fine', async () => {
    const flooding = setup({ auth: 'bearer', tokenPadding: 2 * 1024 * 1024 });
    const error = await pullError(pullFrom(flooding, await freshOutput()));
    expect(error.kind).toBe('protocol');
    expect(error.message).toMatch(/the token from auth\.test is larger than 1 MiB/);
    await pullFrom(setup({ auth: 'bearer', tokenPadding: 8 * 1024 }), await freshOutput());
  });

  test('credentials go to the token server as Basic, and a rejection is an auth error', async () => {
    const registry = setup({ auth: 'bearer', basicCredentials: 'alice:s3cret' });
    await pullFrom(registry, await freshOutput(), { credentials: { username: 'alice', password: 's3cret' } });
    expect(registry.requests.find((r) => r.origin === 'https://auth.test')?.authorization).toBe(basic('alice:s3cret'));

    const denied = setup({ auth: 'bearer', basicCredentials: 'alice:s3cret' });
    const error = await pullError(
      pullFrom(denied, await freshOutput(), { credentials: { username: 'alice', password: 'wrong' } }),
    );
    expect(error.kind).toBe('auth');
    expect(error.message).toMatch(/token server auth\.test rejected the credentials/);
  });

  test('tokens are cached until expires_in, then fetched again', async () => {
    const registry = setup({ tokenLifetime: 60 });
    let now = 1_000_000;
    const authorizer = new Authorizer(await Transport.create({ dispatcher: registry.agent }), undefined, () => now);
    const challenge = ['Bearer realm="https://auth.test/token",service="registry.test"'];
    expect(await authorizer.challenged('registry.test', 'repository:a:pull', challenge)).toBe('Bearer T1');
    now += 30_000;
    expect(await authorizer.authorization('registry.test', 'repository:a:pull')).toBe('Bearer T1');
    expect(await authorizer.authorization('registry.test', 'repository:b:pull')).toBe('Bearer T2');
    now += 40_000;
    expect(await authorizer.authorization('registry.test', 'repository:a:pull')).toBe('Bearer T3');
  });
});

describe('Basic auth', () => {
  test('a Basic challenge is answered with the credentials directly', async () => {
    const registry = setup({ auth: 'basic', basicCredentials: 'bob:pw' });
    await pullFrom(registry, await freshOutput(), { credentials: { username: 'bob', password: 'pw' } });
    expect(registry.requests.some((r) => r.origin === 'https://auth.test')).toBe(false);
    // the tag, config, layer
    expect(registry.requests.filter((r) => r.authorization === basic('bob:pw'))).toHaveLength(3);
  });

  test('without credentials the error says how to give them', async () => {
    const registry = setup({ auth: 'basic' });
    const error = await pullError(pullFrom(registry, await freshOutput()));
    expect(error.kind).toBe('auth');
    expect(error.message).toMatch(/give credentials \(the credentials option\)/); // the API's words; the CLI says --creds
  });
});

describe('redirects', () => {
  test('a 307 to another host receives no Authorization', async () => {
    const registry = setup({ auth: 'bearer', blobRedirect: 'https://cdn.test' });
    const result = await pullFrom(registry, await freshOutput());
    expect(result.images[0]!.layers).toBe(1);
    const cdn = registry.requests.filter((r) => r.origin === 'https://cdn.test');
    expect(cdn).toHaveLength(2); // config and layer
    for (const request of cdn) expect(request.authorization).toBeUndefined();
    const blobGets = registry.requests.filter(
      (r) => r.origin === 'https://registry.test' && r.path.includes('/blobs/'),
    );
    for (const request of blobGets) expect(request.authorization).toBe('Bearer T1');
  });

  test('a redirect to plain http on a non-loopback host is refused', async () => {
    const registry = setup({ blobRedirect: 'http://cdn.test' });
    const error = await pullError(pullFrom(registry, await freshOutput()));
    expect(error.message).toMatch(/refusing http:\/\/cdn\.test/);
  });
});

describe('digest verification', () => {
  const flip = (body: Buffer) => {
    const copy = Buffer.from(body);
    copy[copy.length - 1]! ^= 1;
    return copy;
  };

  async function expectIntegrityFailure(
    options: MockRegistryOptions,
    reference = 'registry.test/team/app:1',
    message: RegExp,
  ) {
    const registry = setup(options);
    const parent = await mkdtemp(join(tmpdir(), 'frozen-protocol-'));
    const output = join(parent, 'out');
    const error = await pullError(pullFrom(registry, output, { images: [reference] }));
    expect(error.kind).toBe('integrity');
    expect(error.message).toMatch(message);
    expect(existsSync(output)).toBe(false); // nothing kept, not even the directory
    return registry;
  }

  test('a config whose bytes verify but that docker load cannot use is a protocol error, and nothing is written', async () => {
    const cases: [string, RegExp][] = [
      ['null', /image config is not a JSON object/],
      ['[1]', /image config is not a JSON object/],
      ['{"rootfs":{"diff_ids":[]}}', /image config lists 0 diff IDs for 1 layer; docker load would refuse it/],
      ['{"rootfs"', /image config is not valid JSON/],
    ];
    for (const [config, message] of cases) {
      const registry = mockRegistry({});
      registry.serve('team/app', '1', buildImage({ layers: image.layers, rewriteConfig: () => config }));
      const output = await freshOutput();
      const error = await pullError(pullFrom(registry, output));
      expect([error.kind, error.message]).toEqual(['protocol', expect.stringMatching(message)]);
      expect(existsSync(output)).toBe(false);
    }
  });

  test('a manifest that does not hash to the pinned digest', async () => {
    const pinned = `registry.test/team/app:1@${image.manifest.digest}`;
    await expectIntegrityFailure(
      {
        tamper: (path, body) =>
          path.includes('/manifests/') ? Buffer.from(body.toString().replace('"size"', ' "size"')) : body,
      },
      pinned,
      /manifest sha256:[0-9a-f]{64}: digest mismatch/,
    );
  });

  test('a manifest that does not match Docker-Content-Digest', async () => {
    const claimed = sha256('something else');
    const lying = () => setup({ manifestHeaders: { 'docker-content-digest': claimed } });
    // Without a cache, or with one that has not seen the tag, the tag is fetched directly, and its bytes are checked
    // against the header.
    const output = await freshOutput();
    for (const cache of [{ cache: false as const }, {}]) {
      const direct = await pullError(pullFrom(lying(), output, cache));
      expect([direct.kind, direct.message]).toEqual([
        'integrity',
        expect.stringMatching(/manifest 1: digest mismatch/),
      ]);
      expect(existsSync(output)).toBe(false);
    }
    // With one that has, the tag's HEAD gives the false digest and the manifest is asked for by it: only bytes that
    // hash to it would do, and this registry has none.
    const cache = await seenTag();
    const viaHead = await pullError(pullFrom(lying(), output, { cache }));
    expect([viaHead.kind, viaHead.message]).toEqual([
      'not-found',
      expect.stringContaining(`manifest ${claimed}: not found`),
    ]);
    expect(existsSync(output)).toBe(false);
  });

  test('a config blob with the wrong bytes', async () => {
    const configPath = `/blobs/${image.config.digest}`;
    await expectIntegrityFailure(
      { tamper: (path, body) => (path.endsWith(configPath) ? flip(body) : body) },
      undefined,
      new RegExp(`blob ${image.config.digest}: digest or size mismatch`),
    );
  });

  test('inspect refuses a config with the wrong bytes, and reads no layer', async () => {
    const configPath = `/blobs/${image.config.digest}`;
    const registry = setup({ tamper: (path, body) => (path.endsWith(configPath) ? flip(body) : body) });
    const error = await pullError(
      inspect({ image: 'registry.test/team/app:1', dispatcher: registry.agent, retryDelayMs: 1, cache: false }),
    );
    expect([error.kind, error.message]).toEqual([
      'integrity',
      expect.stringMatching(new RegExp(`blob ${image.config.digest}: digest or size mismatch`)),
    ]);
    expect(registry.requests.some((r) => r.path.endsWith(image.layers[0]!.digest))).toBe(false);
  });

  test('a layer with the wrong bytes or too many bytes', async () => {
    const layerPath = `/blobs/${image.layers[0]!.digest}`;
    const at = (change: (b: Buffer) => Buffer) => (path: string, body: Buffer) =>
      path.endsWith(layerPath) ? change(body) : body;
    await expectIntegrityFailure({ tamper: at(flip) }, undefined, /content hashes to/);
    await expectIntegrityFailure(
      { tamper: at((b) => Buffer.concat([b, Buffer.from('x')])) },
      undefined,
      /more than the declared/,
    );
  });

  test('a body that always ends early is retried (resuming), then fails as a network error, keeping nothing', async () => {
    const layerPath = `/blobs/${image.layers[0]!.digest}`;
    const registry = setup({
      tamper: (path, body) => (path.endsWith(layerPath) ? body.subarray(0, body.length - 1) : body),
    });
    const output = await freshOutput();
    const error = await pullError(pullFrom(registry, output, { retries: 2 }));
    expect(error.kind).toBe('network');
    expect(error.message).toMatch(/the body ended after \d+ of \d+ bytes/);
    expect(registry.requests.filter((r) => r.path.endsWith(layerPath))).toHaveLength(3);
    expect(existsSync(output)).toBe(false);
  });

  test('an existing output directory is left exactly as it was', async () => {
    const registry = setup({ tamper: (path, body) => (path.includes('/blobs/') ? Buffer.alloc(body.length) : body) });
    const output = await mkdtemp(join(tmpdir(), 'frozen-protocol-'));
    await writeFile(join(output, 'manifest.json'), '[]\n');
    const error = await pullError(pullFrom(registry, output));
    expect(error.kind).toBe('integrity');
    expect(await readdir(output)).toEqual(['manifest.json']);
  });

  test('a manifest over 4 MiB is refused', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 32);
    const registry = setup({ tamper: (path, body) => (path.includes('/manifests/') ? huge : body) });
    const error = await pullError(pullFrom(registry, await freshOutput()));
    expect(error.message).toMatch(/larger than 4 MiB/);
  });
});

describe('registry errors', () => {
  test('a tag whose HEAD fails or names no digest is fetched with GET, as without a cache', async () => {
    for (const headFailure of [405, 400, 'no-digest'] as const) {
      const cache = await seenTag();
      const registry = setup({ headFailure });
      const result = await pullFrom(registry, await freshOutput(), { cache });
      expect(result.images[0]!.imageId).toBe(image.config.digest);
      const manifestRequests = registry.requests
        .filter((r) => r.path.includes('/manifests/'))
        .map((r) => `${r.method} ${r.path}`);
      expect(manifestRequests).toEqual(['HEAD /v2/team/app/manifests/1', 'GET /v2/team/app/manifests/1']);
    }
  });

  test('an unknown tag is a not-found error naming the registry’s code', async () => {
    const registry = setup();
    const error = await pullError(pullFrom(registry, await freshOutput(), { images: ['registry.test/team/app:nope'] }));
    expect(error.kind).toBe('not-found');
    expect(error.message).toBe(
      'registry.test/team/app:nope: manifest nope: not found (MANIFEST_UNKNOWN: manifest unknown)',
    );
  });
});

describe('transport policy', () => {
  test('a non-loopback registry is spoken to over https unless named insecure', async () => {
    const registry = mockRegistry({ origin: 'http://registry.test' });
    registry.serve('team/app', '1', image);
    const refused = await pullError(pullFrom(registry, await freshOutput()));
    expect(refused.kind).toBe('network');
    expect(refused.message).toMatch(/^registry\.test\/team\/app:1: cannot reach registry\.test: /);
    expect(registry.requests).toHaveLength(0); // nothing went out over plain http

    const allowed = await pullFrom(registry, await freshOutput(), { insecureRegistries: ['registry.test'] });
    expect(allowed.images[0]!.imageId).toBe(image.config.digest);
    expect(registry.requests.every((r) => r.origin === 'http://registry.test')).toBe(true);
  });
});

describe('digests', () => {
  test('sha512 layer digests are verified like sha256 ones', async () => {
    const plain = await layer([{ type: 'file', name: 'x', content: 'sha512 layer' }]);
    const sha512 = `sha512:${createHash('sha512').update(plain.bytes).digest('hex')}`;
    const img = buildImage({ layers: [{ ...plain, digest: sha512 }] });
    const good = mockRegistry();
    good.serve('team/app', '1', img);
    const result = await pullFrom(good, await freshOutput());
    expect(result.images[0]!.imageId).toBe(img.config.digest);

    const bad = mockRegistry({
      tamper: (path, body) => (path.endsWith(sha512) ? Buffer.from(body).fill(0, 0, 1) : body),
    });
    bad.serve('team/app', '1', img);
    const error = await pullError(pullFrom(bad, await freshOutput()));
    expect(error.message).toMatch(/blob sha512:[0-9a-f]{128}: digest or size mismatch \(content hashes to sha512:/);
  });

  test('a blob two images share is fetched once', async () => {
    const shared = await layer([{ type: 'file', name: 'base', content: 'shared base' }]);
    const top = (n: string) => layer([{ type: 'file', name: 'top', content: n }]);
    const first = buildImage({ layers: [shared, await top('a')] });
    const second = buildImage({ layers: [shared, await top('b')] });
    const registry = mockRegistry();
    registry.serve('team/a', '1', first);
    registry.serve('team/b', '1', second);
    await pullFrom(registry, await freshOutput(), { images: ['registry.test/team/a:1', 'registry.test/team/b:1'] });
    const sharedGets = registry.requests.filter((r) => r.path.endsWith(`/blobs/${shared.digest}`));
    expect(sharedGets).toHaveLength(1);
  });
});

describe('indexes', () => {
  test('a nested index is followed to the platform’s image', async () => {
    const arm = buildImage({
      layers: [await layer([{ type: 'file', name: 'a', content: 'arm64' }])],
      architecture: 'arm64',
    });
    const amd = buildImage({ layers: [await layer([{ type: 'file', name: 'a', content: 'amd64' }])] });
    const inner = index([arm, amd]);
    // The outer index points at the inner one as if it were a platform's manifest.
    const outerBody = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: inner.mediaType,
          digest: inner.digest,
          size: inner.size,
          platform: { os: 'linux', architecture: 'arm64' },
        },
      ],
    };
    const outer = {
      bytes: Buffer.from(JSON.stringify(outerBody)),
      digest: sha256(JSON.stringify(outerBody)),
      mediaType: inner.mediaType,
    };
    const registry = mockRegistry();
    registry.serve('team/app', arm.manifest.digest, arm);
    registry.serve('team/app', amd.manifest.digest, amd);
    registry.serveManifest('team/app', 'inner', inner);
    registry.serveManifest('team/app', '1', outer);
    const result = await pullFrom(registry, await freshOutput(), { platform: 'linux/arm64' });
    expect(result.images[0]).toMatchObject({
      digest: outer.digest,
      manifestDigest: arm.manifest.digest,
      imageId: arm.config.digest,
      platform: 'linux/arm64',
    });
  });
});
