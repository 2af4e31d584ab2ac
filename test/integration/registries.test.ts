import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { pull, type PullImagesOptions } from '../../src/index.js';
import { useFixtureRegistry } from '../support/fixture.js';
import { runCli } from '../support/cli.js';
import { loadWithSkopeo } from '../support/load.js';
import { startWildFront, type WildFront, type WildFrontOptions } from '../support/wild-front.js';

/**
 * Registries as they behave in the wild, each emulated by a front (test/support/wild-front.ts) before the real
 * Distribution registry, modelled on the registry the test names. Every case ends in the right image, loaded by
 * skopeo, or in one clear line with nothing written.
 */
const fixture = useFixtureRegistry();
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-wild-'));
let front: WildFront | undefined;

afterEach(async () => {
  await front?.stop();
  front = undefined;
});

async function start(options: WildFrontOptions): Promise<WildFront> {
  front = await startWildFront(fixture.registry.url, options);
  return front;
}

/** A pull of `image` through the front, with its own cache and no credential file of this machine's. */
async function pullThrough(wild: WildFront, extra: Partial<PullImagesOptions> = {}, image = 'one/app:1') {
  const parent = await tempDir();
  const output = join(parent, 'out');
  const authfile = join(await tempDir(), 'auth.json');
  await writeFile(authfile, '{}');
  const run = pull({
    images: [`${wild.host}/${image}`],
    output,
    cache: await tempDir(),
    platform: 'linux/amd64',
    authfile,
    daemonConfig: false,
    retryDelayMs: 1,
    ...extra,
  });
  return { run, output, parent };
}

async function expectPulled(wild: WildFront, extra: Partial<PullImagesOptions> = {}, image = 'one/app:1') {
  const { run, output } = await pullThrough(wild, extra, image);
  const result = await run;
  expect(result.images[0]!.imageId).toBe(fixture.images.one.config.digest);
  expect((await loadWithSkopeo(output)).imageId).toBe(fixture.images.one.config.digest);
}

async function expectRefused(wild: WildFront, message: RegExp, extra: Partial<PullImagesOptions> = {}) {
  const { run, parent } = await pullThrough(wild, extra);
  const error = await run.then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  expect(error?.message).toMatch(message);
  expect(error?.message).not.toContain('\n');
  expect(await readdir(parent)).toEqual([]);
}

const seen = (wild: WildFront, origin: string) =>
  wild.seen.filter((s) => s.origin === origin).map((s) => `${s.method} ${s.path.replace(/\?.*/, '')}`);

describe('token servers', () => {
  test('an OAuth2-style answer with access_token alone, no expires_in or issued_at (GitLab, Quay)', async () => {
    const wild = await start({ token: { field: 'access_token', methods: ['GET'] } });
    await expectPulled(wild);
  });

  test("distribution's own answer: token, expires_in and issued_at", async () => {
    const wild = await start({ token: { field: 'token', expiry: true, methods: ['GET'] } });
    await expectPulled(wild);
  });

  test('a token server that answers only GET, with credentials (distribution token spec, Docker Hub)', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'], credentials: 'ci:secret' } });
    await expectPulled(wild, { credentials: { username: 'ci', password: 'secret' } });
    expect(wild.seen.filter((s) => s.origin === 'token').map((s) => s.method)).toEqual(['GET']);
  });

  test('a token server that answers only POST: the password grant after its 405, as containerd falls back', async () => {
    const credentials = { username: 'robot$ci+builder', password: 'p:a$s' };
    const wild = await start({
      token: {
        field: 'access_token',
        methods: ['POST'],
        credentials: `${credentials.username}:${credentials.password}`,
      },
    });
    await expectPulled(wild, { credentials });
    expect(wild.seen.filter((s) => s.origin === 'token').map((s) => s.method)).toEqual(['GET', 'POST']);
  });
});

describe('challenges', () => {
  test('several challenges in one WWW-Authenticate, a lower-case scheme, quoted commas in realm and scope', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'] }, challenge: 'several' });
    await expectPulled(wild);
  });

  test('insufficient_scope on a blob mid-pull: the token is refreshed once and the pull completes', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'] }, insufficientScope: 'once' });
    await expectPulled(wild);
    expect(wild.seen.filter((s) => s.origin === 'token').length).toBe(2);
  });

  test('insufficient_scope every time: one line that says so, nothing written, no endless refreshing', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'] }, insufficientScope: 'always' });
    await expectRefused(
      wild,
      /unauthorized.*does not grant the scope repository:one\/app:pull,?\S* \(insufficient_scope\)/,
    );
    expect(wild.seen.filter((s) => s.origin === 'token').length).toBeLessThanOrEqual(3);
  });

  test('Basic only, never Bearer (Amazon ECR), with a Harbor robot account whose name and password hold $ and :', async () => {
    const credentials = { username: 'robot$project+ci', password: 'pa:ss$word' };
    const wild = await start({ basic: `${credentials.username}:${credentials.password}` });
    await expectPulled(wild, { credentials });
    expect(wild.seen.filter((s) => s.origin === 'token')).toEqual([]);
  });
});

describe('blobs on a storage host (S3, GCS and Artifact Registry redirect blob GETs with signed URLs)', () => {
  test('no Authorization goes there, and the signed query arrives byte for byte', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'] }, storage: {} });
    await expectPulled(wild);
    const storage = wild.seen.filter((s) => s.origin === 'storage');
    expect(storage.length).toBe(2); // the config and the layer, each once: the front refuses a re-encoded query
    expect(storage.every((s) => s.authorization === undefined)).toBe(true);
  });

  test('a download cut short, then a signed URL that has expired (403): the registry is asked again, the rest fetched with Range', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'] }, storage: { script: ['cut', 'expired'] } });
    await expectPulled(wild);
    const layer = fixture.images.one.layers[0]!.digest;
    const asked = seen(wild, 'front').filter((s) => s.endsWith(`/blobs/${layer}`));
    expect(asked.length).toBe(3); // each attempt asks the registry for a fresh URL
  });
});

describe('repository paths and manifests', () => {
  test('a repository prefix (a Harbor proxy-cache project, an Artifactory or Nexus repository key)', async () => {
    const wild = await start({ token: { field: 'token', methods: ['GET'] }, prefix: 'hub-proxy' });
    await expectPulled(wild, {}, 'hub-proxy/one/app:1');
  });

  test.each(['application/json', 'text/plain'])(
    'manifests without Docker-Content-Digest, sent chunked, as %s: classified from the body as the v2 script does',
    async (contentType) => {
      const wild = await start({ manifest: { noDigest: true, contentType, chunked: true } });
      await expectPulled(wild);
    },
  );

  test.each([404, 405])('a manifest HEAD answered %i while GET works: the tag is fetched with GET', async (status) => {
    const wild = await start({ manifest: { head: status } });
    const cache = await tempDir();
    await expectPulled(wild, { cache });
    await expectPulled(wild, { cache }); // a tag this cache has seen is asked with a HEAD first
    await expectPulled(wild, { mirrors: [`${wild.host}=http://127.0.0.1:1`] }); // a mirror that does not resolve tags
    expect(seen(wild, 'front')).toContain('HEAD /v2/one/app/manifests/1');
  });

  test.each([501, 505, 405])('%i is final: one request, no retries, one line', async (status) => {
    const wild = await start({ failWith: status });
    await expectRefused(wild, new RegExp(`manifest 1: registry answered ${status}`));
    expect(seen(wild, 'front').filter((s) => s.includes('/manifests/'))).toHaveLength(1);
  });
});

describe('round trips, counted', () => {
  test("--json ends with the run's summary: requests and connections per host, as the registry saw them (a Docker Hub-like token flow)", async () => {
    const wild = await start({ token: { field: 'token', expiry: true, methods: ['GET'] } });
    const output = join(await tempDir(), 'out');
    const result = await runCli(['pull', '--json', '--no-daemon-config', '-o', output, `${wild.host}/one/app:1`]);
    expect([result.code, result.stderr]).toEqual([0, '']);
    const lines = result.stdout.trimEnd().split('\n');
    const summary = JSON.parse(lines.at(-1)!) as {
      type: string;
      images: number;
      totals: { requests: Record<string, number>; connections: Record<string, number> };
    };
    expect(summary).toMatchObject({ type: 'summary', images: 1, failures: 0 });
    // Every request of a cold pull, none avoidable: the first one brings the challenge (no /v2/ ping), one token
    // for the repository's scope, then the manifest and the two blobs.
    const { one } = fixture.images;
    expect(wild.seen.slice(0, 3).map((s) => `${s.method} ${s.path.replace(/\?.*/, '')}`)).toEqual([
      'GET /v2/one/app/manifests/1',
      'GET /token',
      'GET /v2/one/app/manifests/1',
    ]);
    expect(
      wild.seen
        .slice(3)
        .map((s) => s.path)
        .sort(),
    ).toEqual([one.config, ...one.layers].map((b) => `/v2/one/app/blobs/${b.digest}`).sort());
    expect(summary.totals.requests).toEqual({ [wild.host]: wild.seen.length });
    const connections = summary.totals.connections[wild.host]!;
    expect(connections).toBeGreaterThanOrEqual(1);
    expect(connections).toBeLessThanOrEqual(wild.seen.length);
  });
});
