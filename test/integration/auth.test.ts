import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBearerFront, type BearerFront } from '../support/bearer-front.js';
import { runCli } from '../support/cli.js';
import { HTPASSWD_LINE, HTPASSWD_PASSWORD, HTPASSWD_USER } from '../support/htpasswd.js';
import { multiLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-auth-'));
const basicHeader = `Basic ${Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString('base64')}`;

describe('a real registry with htpasswd Basic auth', () => {
  let registry: RunningRegistry;
  let img: BuiltImage;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: HTPASSWD_LINE });
    img = await multiLayerImage();
    await pushImage({ url: registry.url, authorization: basicHeader }, 'private/app', img, '1');
  });
  afterAll(async () => registry?.stop());

  test('--creds pulls a loadable image', async () => {
    const output = await tempDir();
    const result = await runCli([
      'pull',
      '-o',
      output,
      '--creds',
      `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`,
      `${registry.host}/private/app:1`,
    ]);
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);
  });

  test('no credentials: exit 1, one line that says how to give them, nothing written', async () => {
    const output = join(await tempDir(), 'out');
    const result = await runCli(['pull', '-o', output, `${registry.host}/private/app:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `frozen: error: ${registry.host}/private/app:1: authentication required (Basic); pass --creds user:password or log in (docker config.json)\n`,
    );
    expect(existsSync(output)).toBe(false);
  });

  test('wrong credentials: exit 1 with the 401 named', async () => {
    const output = join(await tempDir(), 'out');
    const result = await runCli([
      'pull',
      '-o',
      output,
      '--creds',
      `${HTPASSWD_USER}:wrong`,
      `${registry.host}/private/app:1`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^frozen: error: .*private\/app:1: manifest 1: unauthorized: .*\n$/);
    expect(result.stderr).not.toContain('wrong'); // no secret in output
    expect(existsSync(output)).toBe(false);
  });
});

describe('a Docker-Hub-like front: Bearer tokens and blobs redirected to a CDN origin', () => {
  let registry: RunningRegistry;
  let front: BearerFront;
  let img: BuiltImage;
  beforeAll(async () => {
    registry = await startRegistry();
    img = await multiLayerImage();
    await pushImage({ url: registry.url }, 'library/busybox', img, 'latest');
    front = await startBearerFront(registry.url, { tokenCredentials: 'robot:t0ken' });
  });
  afterAll(async () => {
    await front?.stop();
    await registry?.stop();
  });

  test('challenge → token → manifest; blobs follow the 307 without Authorization', async () => {
    front.seen.length = 0;
    const output = await tempDir();
    const result = await runCli([
      'pull',
      '-o',
      output,
      '--creds',
      'robot:t0ken',
      `${front.host}/library/busybox:latest`,
    ]);
    expect(result.stderr).not.toContain('error');
    expect(result.code).toBe(0);
    expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);

    const tokenRequests = front.seen.filter((r) => r.origin === 'token');
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]!.path).toContain('scope=repository%3Alibrary%2Fbusybox%3Apull');
    expect(tokenRequests[0]!.authorization).toBe(`Basic ${Buffer.from('robot:t0ken').toString('base64')}`);

    const unauthorized = front.seen.filter((r) => r.origin === 'front' && !r.authorization);
    expect(unauthorized).toHaveLength(1); // only the first manifest request, before the challenge
    const cdn = front.seen.filter((r) => r.origin === 'cdn');
    expect(cdn.map((r) => r.path.split('/blobs/')[1]!.split('?')[0]).sort()).toEqual(
      [img.config.digest, ...img.layers.map((l) => l.digest)].sort(),
    );
    for (const request of cdn) expect(request.authorization).toBeUndefined();
  });

  test('the token server refusing the credentials is an auth error', async () => {
    const output = join(await tempDir(), 'out');
    const result = await runCli([
      'pull',
      '-o',
      output,
      '--creds',
      'robot:nope',
      `${front.host}/library/busybox:latest`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/token server 127\.0\.0\.1:\d+ rejected the credentials \(401\)\n$/);
    expect(existsSync(output)).toBe(false);
  });
});
