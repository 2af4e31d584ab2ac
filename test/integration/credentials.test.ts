import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBearerFront, type BearerFront } from '../support/bearer-front.js';
import { runCli } from '../support/cli.js';
import { HTPASSWD_LINE, HTPASSWD_PASSWORD, HTPASSWD_USER } from '../support/htpasswd.js';
import { oneLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

/** Credentials from docker config.json / containers auth.json and credential helpers reach the right host. */
const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-creds-'));
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

let secured: RunningRegistry; // htpasswd Basic
let open: RunningRegistry; // behind the bearer front
let front: BearerFront;
let img: BuiltImage;

beforeAll(async () => {
  img = await oneLayerImage('creds');
  secured = await startRegistry({ htpasswd: HTPASSWD_LINE });
  for (const repository of ['private/app', 'team/app']) {
    await pushImage({ url: secured.url, authorization: basic(HTPASSWD_USER, HTPASSWD_PASSWORD) }, repository, img, '1');
  }
  open = await startRegistry();
  await pushImage({ url: open.url }, 'team/app', img, '1');
  front = await startBearerFront(open.url, { tokenCredentials: 'robot:t0ken', refreshToken: 'identity-secret' });
});
afterAll(async () => {
  await front?.stop();
  await open?.stop();
  await secured?.stop();
});

async function dockerConfig(config: object): Promise<string> {
  const dir = await tempDir();
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

async function pullOk(ref: string, env: NodeJS.ProcessEnv, ...flags: string[]) {
  const output = await tempDir();
  const result = await runCli(['pull', '-o', output, ...flags, ref], { env });
  expect(result.stderr).not.toContain('error');
  expect(result.code).toBe(0);
  expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);
  return result;
}

describe('docker config.json and auth.json', () => {
  test('an auths entry (base64 auth) for the registry host, found through $DOCKER_CONFIG', async () => {
    const dir = await dockerConfig({
      auths: { [secured.host]: { auth: Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString('base64') } },
    });
    await pullOk(`${secured.host}/private/app:1`, { DOCKER_CONFIG: dir });
  });

  test('--authfile and $REGISTRY_AUTH_FILE (containers auth.json, username/password keyed by URL)', async () => {
    const dir = await dockerConfig({
      auths: { [`http://${secured.host}/v2/`]: { username: HTPASSWD_USER, password: HTPASSWD_PASSWORD } },
    });
    const file = join(dir, 'config.json');
    await pullOk(`${secured.host}/private/app:1`, { DOCKER_CONFIG: await tempDir() }, '--authfile', file);
    await pullOk(`${secured.host}/private/app:1`, { DOCKER_CONFIG: await tempDir(), REGISTRY_AUTH_FILE: file });
  });

  test("podman login's file ($XDG_RUNTIME_DIR/containers/auth.json) and $XDG_CONFIG_HOME/containers/auth.json are read, before Docker's", async () => {
    const entry = { auth: Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString('base64') };
    const wrong = await dockerConfig({
      auths: { [secured.host]: { auth: Buffer.from(`${HTPASSWD_USER}:wrong`).toString('base64') } },
    });
    for (const variable of ['XDG_RUNTIME_DIR', 'XDG_CONFIG_HOME']) {
      const dir = await tempDir();
      await mkdir(join(dir, 'containers'));
      await writeFile(join(dir, 'containers', 'auth.json'), JSON.stringify({ auths: { [secured.host]: entry } }));
      await pullOk(`${secured.host}/private/app:1`, {
        DOCKER_CONFIG: wrong,
        XDG_RUNTIME_DIR: '',
        XDG_CONFIG_HOME: '',
        [variable]: dir,
      });
    }
  });

  test("a namespaced auths key (containers auth.json) is for the repositories under it; the host's entry for the rest", async () => {
    const auth = (password: string) => ({ auth: Buffer.from(`${HTPASSWD_USER}:${password}`).toString('base64') });
    const dir = await dockerConfig({
      auths: { [secured.host]: auth('wrong'), [`${secured.host}/team`]: auth(HTPASSWD_PASSWORD) },
    });
    const env = { DOCKER_CONFIG: dir };
    await pullOk(`${secured.host}/team/app:1`, env);
    // Both in one run: each repository gets its own credentials.
    const result = await runCli(
      ['pull', '-q', '-o', await tempDir(), `${secured.host}/team/app:1`, `${secured.host}/private/app:1`],
      { env },
    );
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^frozen: error: ${secured.host}/private/app:1: manifest 1: unauthorized`)),
    ]);
  });

  test('credentials for another host are not used', async () => {
    const dir = await dockerConfig({
      auths: {
        'other.example:5000': { auth: Buffer.from(`${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`).toString('base64') },
      },
    });
    const result = await runCli(['pull', '-o', await tempDir(), `${secured.host}/private/app:1`], {
      env: { DOCKER_CONFIG: dir },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/authentication required \(Basic\)/);
  });

  test('an unreadable --authfile is a usage error, and nothing is created', async () => {
    const output = join(await tempDir(), 'out');
    const result = await runCli([
      'pull',
      '-o',
      output,
      '--authfile',
      '/nonexistent/auth.json',
      `${secured.host}/private/app:1`,
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^frozen: error: cannot read credentials file \/nonexistent\/auth\.json/);
    expect(existsSync(output)).toBe(false);
  });
});

describe('credential helpers', () => {
  async function helperOnPath(name: string, answer: object): Promise<{ path: string; log: string }> {
    const dir = await tempDir();
    const log = join(dir, 'asked');
    const script = join(dir, `docker-credential-${name}`);
    await writeFile(
      script,
      `#!/bin/sh\n[ "$1" = get ] || exit 1\ncat >> '${log}'\necho >> '${log}'\ncat <<'JSON'\n${JSON.stringify(answer)}\nJSON\n`,
    );
    await chmod(script, 0o755);
    return { path: `${dir}:${process.env.PATH}`, log };
  }

  test('credHelpers: the helper is asked for the registry host and its answer reaches the registry', async () => {
    const helper = await helperOnPath('frozentest', {
      ServerURL: secured.host,
      Username: HTPASSWD_USER,
      Secret: HTPASSWD_PASSWORD,
    });
    const dir = await dockerConfig({ credHelpers: { [secured.host]: 'frozentest' } });
    await pullOk(`${secured.host}/private/app:1`, { DOCKER_CONFIG: dir, PATH: helper.path });
    expect((await readFile(helper.log, 'utf8')).trim().split('\n')).toEqual([secured.host]);
  });

  test('credsStore for every registry; the token server gets the Basic credentials, the CDN nothing', async () => {
    const helper = await helperOnPath('store', { ServerURL: front.host, Username: 'robot', Secret: 't0ken' });
    const dir = await dockerConfig({ credsStore: 'store' });
    front.seen.length = 0;
    await pullOk(`${front.host}/team/app:1`, { DOCKER_CONFIG: dir, PATH: helper.path });
    expect(front.seen.find((r) => r.origin === 'token')?.authorization).toBe(basic('robot', 't0ken'));
    const cdn = front.seen.filter((r) => r.origin === 'cdn');
    expect(cdn.length).toBeGreaterThan(0);
    for (const request of cdn) expect(request.authorization).toBeUndefined();
    expect(front.seen.filter((r) => r.origin === 'front').every((r) => !r.authorization?.startsWith('Basic'))).toBe(
      true,
    );
  });

  test('a credsStore helper that is not installed: anonymous pulls work; a registry that wants credentials says so', async () => {
    const dir = await dockerConfig({ credsStore: 'frozen-not-installed' });
    const anonymous = await startBearerFront(open.url);
    try {
      await pullOk(`${anonymous.host}/team/app:1`, { DOCKER_CONFIG: dir });
      expect(anonymous.seen.some((r) => r.origin === 'token' && r.authorization === undefined)).toBe(true);
    } finally {
      await anonymous.stop();
    }
    const started = Date.now();
    const refused = await runCli(['pull', '-o', join(await tempDir(), 'out'), `${secured.host}/private/app:1`], {
      env: { DOCKER_CONFIG: dir },
    });
    expect(Date.now() - started).toBeLessThan(10_000); // spawn's own timeout used to keep the process 30 s after a helper that never started
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `frozen: error: ${secured.host}/private/app:1: authentication required (Basic); pass --creds user:password or log in (docker config.json)\n`,
    ]);
  });

  test('an identity token (<token> user) is exchanged at the token server with a refresh-token POST', async () => {
    const helper = await helperOnPath('idtoken', {
      ServerURL: front.host,
      Username: '<token>',
      Secret: 'identity-secret',
    });
    const dir = await dockerConfig({ credHelpers: { [front.host]: 'idtoken' } });
    front.seen.length = 0;
    await pullOk(`${front.host}/team/app:1`, { DOCKER_CONFIG: dir, PATH: helper.path });
    const token = front.seen.filter((r) => r.origin === 'token');
    expect(token.map((r) => r.method)).toEqual(['POST']);
    expect(token[0]!.authorization).toBeUndefined();
  });

  test('secrets never reach the output, --debug included', async () => {
    const helper = await helperOnPath('wrong', {
      ServerURL: secured.host,
      Username: HTPASSWD_USER,
      Secret: 'hunter2-secret',
    });
    const dir = await dockerConfig({ credHelpers: { [secured.host]: 'wrong' } });
    const result = await runCli(['pull', '--debug', '-o', await tempDir(), `${secured.host}/private/app:1`], {
      env: { DOCKER_CONFIG: dir, PATH: helper.path },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/unauthorized/);
    expect(result.stderr + result.stdout).not.toContain('hunter2');
    expect(result.stderr + result.stdout).not.toContain(
      Buffer.from(`${HTPASSWD_USER}:hunter2-secret`).toString('base64'),
    );
  });
});
