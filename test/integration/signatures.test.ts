/**
 * Signature verification before freezing (`--verify-key`, the config file's `signatures` policy), against a real
 * registry holding images signed in the test setup in cosign's format (test/support/cosign.ts): what cosign's
 * `verify` accepts passes, and every way a signature can fail to vouch for an image exits 1 with nothing written.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LockFile, PullEvent } from '../../src/index.js';
import { parseEvents, runCli } from '../support/cli.js';
import { pushSignature, signingKey, simpleSigningPayload, writePublicKey, type SigningKey } from '../support/cosign.js';
import { index, oneLayerImage, pushImage, pushManifest, type Blob, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-signed-'));

let registry: RunningRegistry;
let mirror: RunningRegistry;
let keys: { trusted: SigningKey; other: SigningKey };
let keyFiles: { trusted: string; other: string };
let img: BuiltImage;
let multiIndex: Blob;

/** Pushes `img` to `repository:1` and, unless `sign` is false, a signature made by `sign(name, digest)`. */
async function pushSigned(
  target: RunningRegistry,
  repository: string,
  payload: (name: string) => { payload: Buffer; key: SigningKey; signedBytes?: Buffer } | undefined,
): Promise<Blob | undefined> {
  await pushImage({ url: target.url }, repository, img, '1');
  const signed = payload(`${registry.host}/${repository}`);
  return signed && pushSignature({ url: target.url }, repository, img.manifest.digest, [signed]);
}

beforeAll(async () => {
  [registry, mirror] = await Promise.all([startRegistry(), startRegistry()]);
  keys = { trusted: signingKey(), other: signingKey() };
  const dir = await tempDir();
  keyFiles = {
    trusted: await writePublicKey(dir, 'trusted', keys.trusted),
    other: await writePublicKey(dir, 'other', keys.other),
  };
  img = await oneLayerImage('signed');
  const digest = img.manifest.digest;
  const right = (name: string) => ({ payload: simpleSigningPayload(name, digest), key: keys.trusted });
  await pushSigned(registry, 'signed/app', right);
  await pushSigned(registry, 'unsigned/app', () => undefined);
  await pushSigned(registry, 'otherkey/app', (name) => ({ ...right(name), key: keys.other }));
  const elsewhere = `sha256:${'e'.repeat(64)}`;
  await pushSigned(registry, 'otherdigest/app', (name) => ({
    ...right(name),
    payload: simpleSigningPayload(name, elsewhere),
  }));
  await pushSigned(registry, 'otherrepo/app', () => right(`${registry.host}/elsewhere/app`));
  // Tampered: the payload names this image, but the signature was made over a payload naming another one.
  await pushSigned(registry, 'tampered/app', (name) => ({
    ...right(name),
    signedBytes: simpleSigningPayload(name, elsewhere),
  }));
  await pushSigned(registry, 'prod/app', () => undefined);
  await pushSigned(registry, 'prod/signed', right);
  await pushSigned(registry, 'dev/app', () => undefined);
  // The same image at the mirror, signed there by another key (with the registry's own signature upstream).
  await pushSigned(mirror, 'signed/app', (name) => ({ ...right(name), key: keys.other }));
  await pushSigned(mirror, 'mirrored/app', right);
  await pushSigned(registry, 'mirrored/app', right);
  // A multi-platform reference whose index is what was signed.
  multiIndex = index([img]);
  await pushImage({ url: registry.url }, 'multi/app', img);
  await pushManifest({ url: registry.url }, 'multi/app', '1', multiIndex);
  await pushSignature({ url: registry.url }, 'multi/app', multiIndex.digest, [
    { payload: simpleSigningPayload(`${registry.host}/multi/app`, multiIndex.digest), key: keys.trusted },
  ]);
});
afterAll(async () => Promise.all([registry?.stop(), mirror?.stop()]));

async function pullSigned(repository: string, ...args: string[]) {
  const out = join(await tempDir(), 'out');
  const result = await runCli(['pull', '-o', out, ...args, `${registry.host}/${repository}:1`]);
  return { ...result, out };
}

function imageDone(stdout: string): Extract<PullEvent, { type: 'image-done' }> {
  return parseEvents(stdout).find((e) => e.type === 'image-done') as Extract<PullEvent, { type: 'image-done' }>;
}

describe('--verify-key: a cosign signature by a trusted key must cover the image', () => {
  test('the right key passes: the summary and --json name its fingerprint, and the image loads', async () => {
    const pulled = await pullSigned('signed/app', '--verify-key', keyFiles.other, '--verify-key', keyFiles.trusted);
    expect(pulled.stderr).not.toContain('error');
    expect(pulled.code).toBe(0);
    expect(pulled.stdout).toContain(`  signed    by ${keys.trusted.fingerprint}\n`);
    expect((await loadWithSkopeo(pulled.out, 0)).imageId).toBe(img.config.digest);

    const json = await pullSigned('signed/app', '--json', '--verify-key', keyFiles.trusted);
    expect(json.code).toBe(0);
    expect(imageDone(json.stdout).result.signedBy).toBe(keys.trusted.fingerprint);
  });

  test('a signature over the index of a multi-platform reference covers the platform image picked from it', async () => {
    const pulled = await pullSigned('multi/app', '--json', '--verify-key', keyFiles.trusted);
    expect(pulled.stderr).toBe('');
    expect(imageDone(pulled.stdout).result).toMatchObject({
      digest: multiIndex.digest,
      manifestDigest: img.manifest.digest,
      signedBy: keys.trusted.fingerprint,
    });
  });

  const refusals: [string, string, RegExp][] = [
    [
      'a wrong key',
      'otherkey/app',
      /the signature in sha256-[0-9a-f]{64}\.sig for .*trusted\.pub .*: its signature does not verify with the key/,
    ],
    ['an unsigned image', 'unsigned/app', /no signature at sha256-[0-9a-f]{64}\.sig/],
    ['a payload naming another digest', 'otherdigest/app', /it signs sha256:e{64}, not this image/],
    [
      'a payload naming another repository',
      'otherrepo/app',
      /it signs the repository 127\.0\.0\.1:\d+\/elsewhere\/app/,
    ],
    ['a tampered payload', 'tampered/app', /its signature does not verify with the key/],
  ];
  test.each(refusals)('%s: exit 1, one line saying which check failed, nothing written', async (_, repository, why) => {
    const pulled = await pullSigned(repository, '--verify-key', keyFiles.trusted);
    expect(pulled.code).toBe(1);
    const lines = pulled.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^frozen: error: .*${repository}:1: not signed by a trusted key \\(`));
    expect(lines[0]).toMatch(why);
    expect(existsSync(pulled.out)).toBe(false);
  });

  test('one unsigned image among others fails the run; with --keep-going the signed one is written', async () => {
    const out = join(await tempDir(), 'out');
    const refs = [`${registry.host}/signed/app:1`, `${registry.host}/unsigned/app:1`];
    const strict = await runCli(['pull', '-o', out, '--verify-key', keyFiles.trusted, ...refs]);
    expect(strict.code).toBe(1);
    expect(existsSync(out)).toBe(false);
    const partial = await runCli(['pull', '-o', out, '--keep-going', '--verify-key', keyFiles.trusted, ...refs]);
    expect(partial.code).toBe(1);
    expect(partial.stderr).toMatch(/unsigned\/app:1: not signed by a trusted key/);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as { RepoTags: string[] }[];
    expect(manifest.flatMap((m) => m.RepoTags)).toEqual([`${registry.host}/signed/app:1`]);
  });

  test('a key file that holds no public key is a usage error before any request', async () => {
    const dir = await tempDir();
    const bad = join(dir, 'bad.pub');
    await writeFile(bad, 'not a key\n');
    const pulled = await pullSigned('signed/app', '--verify-key', bad);
    expect(pulled.code).toBe(2);
    expect(pulled.stderr).toMatch(/^frozen: error: .*bad\.pub is not a PEM public key/);
    expect(existsSync(pulled.out)).toBe(false);
  });
});

describe('mirrors serve signatures but never decide trust', () => {
  test('a trusted mirror serving a signature made with another key: exit 1, nothing written', async () => {
    const pulled = await pullSigned(
      'signed/app',
      '--trusted-mirror',
      `${registry.host}=${mirror.url}`,
      '--verify-key',
      keyFiles.trusted,
    );
    expect(pulled.code).toBe(1);
    expect(pulled.stderr).toMatch(
      /signed\/app:1: not signed by a trusted key \(.*its signature does not verify with the key/,
    );
    expect(existsSync(pulled.out)).toBe(false);
  });

  test('a mirror serving a signature by the trusted key: the pull passes, verified by the key', async () => {
    const pulled = await pullSigned(
      'mirrored/app',
      '--json',
      '--trusted-mirror',
      `${registry.host}=${mirror.url}`,
      '--verify-key',
      keyFiles.trusted,
    );
    expect(pulled.code).toBe(0);
    expect(imageDone(pulled.stdout).result).toMatchObject({
      endpoint: mirror.url,
      signedBy: keys.trusted.fingerprint,
    });
  });
});

describe("the config file's policy: keys per registry or repository prefix", () => {
  async function withPolicy(): Promise<string> {
    const config = join(await tempDir(), 'config.json');
    await writeFile(
      config,
      JSON.stringify({ signatures: [{ prefix: `${registry.host}/prod/`, keys: [keyFiles.trusted] }] }),
    );
    return config;
  }

  test('an image under the prefix must be signed; one outside it need not be', async () => {
    const config = await withPolicy();
    const unsigned = await pullSigned('prod/app', '--config', config);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toMatch(/prod\/app:1: not signed by a trusted key \(no signature at sha256-/);
    expect(existsSync(unsigned.out)).toBe(false);

    const signed = await pullSigned('prod/signed', '--json', '--config', config);
    expect(signed.code).toBe(0);
    expect(imageDone(signed.stdout).result.signedBy).toBe(keys.trusted.fingerprint);

    const outside = await pullSigned('dev/app', '--json', '--config', config);
    expect(outside.code).toBe(0);
    expect(imageDone(outside.stdout).result.signedBy).toBeUndefined();
  });

  test('a policy of the wrong shape is one usage line', async () => {
    const config = join(await tempDir(), 'config.json');
    await writeFile(config, JSON.stringify({ signatures: [{ prefix: 'x/' }] }));
    const pulled = await pullSigned('dev/app', '--config', config);
    expect(pulled.code).toBe(2);
    expect(pulled.stderr).toMatch(/"signatures" must be a list of \{ "prefix": …, "keys": \[key files\] \}\n$/);
  });
});

describe('lock files record the verification, and an offline pull verifies again from the cache', () => {
  test('lock --verify-key records key and signature manifest; pull --lock --offline checks them again', async () => {
    // A registry of its own, stopped before the offline pulls: what they verify can only come from the cache.
    const own = await startRegistry();
    const ref = `${own.host}/signed/app:1`;
    await pushImage({ url: own.url }, 'signed/app', img, '1');
    const payload = simpleSigningPayload(`${own.host}/signed/app`, img.manifest.digest);
    const signature = await pushSignature({ url: own.url }, 'signed/app', img.manifest.digest, [
      { payload, key: keys.trusted },
    ]);
    const dir = await tempDir();
    const path = join(dir, 'frozen.lock.json');
    const env = { env: { FROZEN_CACHE: join(dir, 'cache') } };
    try {
      const locked = await runCli(['lock', '-o', path, '--verify-key', keyFiles.trusted, ref], env);
      expect(locked.stderr).toBe('');
      expect(locked.stdout).toContain(`, signed by ${keys.trusted.fingerprint}\n`);
      const file = JSON.parse(await readFile(path, 'utf8')) as LockFile;
      expect(file.images[0]!.signedBy).toEqual({ key: keys.trusted.fingerprint, signature: signature.digest });
      const online = ['pull', '--lock', path, '-o', join(dir, 'online'), '--verify-key', keyFiles.trusted];
      expect((await runCli(online, env)).code).toBe(0);
    } finally {
      await own.stop();
    }

    const offline = (out: string, ...keyArgs: string[]) =>
      runCli(['pull', '--offline', '--json', '--lock', path, '-o', join(dir, out), ...keyArgs], env);
    const verified = await offline('offline', '--verify-key', keyFiles.trusted);
    expect(verified.stderr).toBe('');
    expect(imageDone(verified.stdout).result.signedBy).toBe(keys.trusted.fingerprint);

    const wrongKey = await offline('wrong', '--verify-key', keyFiles.other);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(/not signed by a trusted key \(.*other\.pub.*its signature does not verify/);
    const noKey = await offline('nokey');
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/the lock file records a signature by sha256:[0-9a-f]{64}: give that key/);
    expect([existsSync(join(dir, 'wrong')), existsSync(join(dir, 'nokey'))]).toEqual([false, false]);
  });
});
