import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { credentialFiles, CredentialStore } from '../../src/registry/credentials.js';
import { endpointsFor, loadMirrors } from '../../src/registry/mirrors.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-unit-'));
const b64 = (text: string) => Buffer.from(text).toString('base64');

async function storeWith(config: object, env: NodeJS.ProcessEnv = {}) {
  const dir = await tempDir();
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  return CredentialStore.load({ env: { DOCKER_CONFIG: dir, ...env } });
}

describe('CredentialStore', () => {
  test('Docker Hub is keyed https://index.docker.io/v1/, and its aliases find it', async () => {
    const store = await storeWith({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') } } });
    expect(await store.lookup('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await store.lookup('registry-1.docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await store.lookup('ghcr.io')).toBeUndefined();
  });

  test('identity tokens and username/password entries; a password may contain colons', async () => {
    const store = await storeWith({
      auths: { 'quay.io': { identitytoken: 'refresh-me' }, 'https://r.example:5000/v2/': { auth: b64('u:p:q') } },
    });
    expect(await store.lookup('quay.io')).toEqual({ identityToken: 'refresh-me' });
    expect(await store.lookup('r.example:5000')).toEqual({ username: 'u', password: 'p:q' });
  });

  test("the files read, in containers-auth.json(5) order, then Docker's", () => {
    const uid = process.getuid!();
    expect(credentialFiles({ XDG_RUNTIME_DIR: '/run/user/7', XDG_CONFIG_HOME: '/c', DOCKER_CONFIG: '/d' })).toEqual([
      '/run/user/7/containers/auth.json',
      '/c/containers/auth.json',
      '/d/config.json',
    ]);
    expect(
      credentialFiles({
        REGISTRY_AUTH_FILE: '/a.json',
        XDG_RUNTIME_DIR: '/run/user/7',
        XDG_CONFIG_HOME: '/c',
        DOCKER_CONFIG: '/d',
      })[0],
    ).toBe('/a.json');
    expect(credentialFiles({ XDG_CONFIG_HOME: '/c', DOCKER_CONFIG: '/d' })[0]).toBe(`/run/containers/${uid}/auth.json`);
    expect(credentialFiles({}).slice(1)).toEqual([
      join(homedir(), '.config/containers/auth.json'),
      join(homedir(), '.docker/config.json'),
    ]);
  });

  test('namespaced keys apply to the repositories under them, the longest first; the host key to the rest', async () => {
    const store = await storeWith({
      auths: {
        'quay.io': { auth: b64('host:1') },
        'quay.io/team': { auth: b64('team:2') },
        'quay.io/team/app': { auth: b64('app:3') },
        'docker.io/library/busybox': { auth: b64('hub:4') },
      },
    });
    expect(await store.lookup('quay.io', 'team/app')).toEqual({ username: 'app', password: '3' });
    expect(await store.lookup('quay.io', 'team/app/sub')).toEqual({ username: 'app', password: '3' });
    expect(await store.lookup('quay.io', 'team/other')).toEqual({ username: 'team', password: '2' });
    expect(await store.lookup('quay.io', 'teamx/app')).toEqual({ username: 'host', password: '1' }); // a path component, not a prefix
    expect(await store.lookup('quay.io')).toEqual({ username: 'host', password: '1' });
    expect(await store.lookup('docker.io', 'library/busybox')).toEqual({ username: 'hub', password: '4' });
    expect(await store.lookup('docker.io', 'library/alpine')).toBeUndefined();
    const apiPathKey = await storeWith({ auths: { 'r.example/v2/': { auth: b64('api:5') } } }); // Docker reads this as the host
    expect(await apiPathKey.lookup('r.example', 'any/repo')).toEqual({ username: 'api', password: '5' });
    expect([
      store.namespaceFor('quay.io', 'team/app'),
      store.namespaceFor('quay.io', 'team/x'),
      store.namespaceFor('quay.io', 'teamx/a'),
    ]).toEqual(['quay.io/team/app', 'quay.io/team', undefined]);
  });

  test('a credential helper is asked with the Docker Hub server URL', async () => {
    const dir = await tempDir();
    const log = join(dir, 'asked');
    await writeFile(
      join(dir, 'docker-credential-unit'),
      `#!/bin/sh\ncat > '${log}'\necho '{"Username":"h","Secret":"s"}'\n`,
    );
    await chmod(join(dir, 'docker-credential-unit'), 0o755);
    const previous = process.env.PATH;
    process.env.PATH = `${dir}:${previous}`;
    try {
      const store = await storeWith({ credsStore: 'unit' });
      expect(await store.lookup('docker.io')).toEqual({ username: 'h', password: 's' });
      expect(await readFile(log, 'utf8')).toBe('https://index.docker.io/v1/');
    } finally {
      process.env.PATH = previous;
    }
  });

  test('a helper that is not installed gives no credentials; one that cannot run, or a broken name, is refused', async () => {
    const store = await storeWith({ credHelpers: { 'x.example': 'definitely-not-installed' } });
    expect(await store.lookup('x.example')).toBeUndefined();
    const dir = await tempDir();
    await writeFile(join(dir, 'docker-credential-noexec'), '#!/bin/sh\n'); // no execute bit
    const previous = process.env.PATH;
    process.env.PATH = `${dir}:${previous}`;
    try {
      const broken = await storeWith({ credHelpers: { 'z.example': 'noexec' } });
      await expect(broken.lookup('z.example')).rejects.toThrow(
        /credential helper docker-credential-noexec cannot run: spawn docker-credential-noexec EACCES/,
      );
    } finally {
      process.env.PATH = previous;
    }
    const bad = await storeWith({ credHelpers: { 'y.example': '../evil' } });
    await expect(bad.lookup('y.example')).rejects.toThrow(/invalid credential helper name/);
  });

  test('a helper that does not answer in time is stopped, and that is an error', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'docker-credential-slow'), '#!/bin/sh\nexec sleep 30\n');
    await chmod(join(dir, 'docker-credential-slow'), 0o755);
    const config = await tempDir();
    await writeFile(join(config, 'config.json'), JSON.stringify({ credsStore: 'slow' }));
    const previous = process.env.PATH;
    process.env.PATH = `${dir}:${previous}`;
    try {
      const store = await CredentialStore.load({ env: { DOCKER_CONFIG: config }, helperTimeoutMs: 200 });
      const started = Date.now();
      await expect(store.lookup('slow.example')).rejects.toThrow(
        'credential helper docker-credential-slow did not answer within 0.2 s',
      );
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      process.env.PATH = previous;
    }
  });
});

describe('mirrors', () => {
  /** No config file (the default one does not exist) and no daemon.json. */
  const none = { daemonConfig: false as const, env: { XDG_CONFIG_HOME: '/nonexistent' } };

  test('the two prefix conventions', async () => {
    const mirrors = await loadMirrors({
      ...none,
      mirrors: ['https://m.example/some/path/', 'r.example:5000=https://harbor.example/v2/proxy/'],
    });
    expect(endpointsFor('docker.io', mirrors)[0]).toMatchObject({
      origin: 'https://m.example',
      pathPrefix: '/some/path',
      repositoryPrefix: '',
    });
    expect(endpointsFor('r.example:5000', mirrors)[0]).toMatchObject({
      origin: 'https://harbor.example',
      pathPrefix: '',
      repositoryPrefix: 'proxy',
    });
    expect(endpointsFor('r.example:5000', mirrors).at(-1)).toMatchObject({
      name: 'r.example:5000',
      mirror: false,
      resolveTags: true,
    });
    expect(endpointsFor('busybox.example', mirrors)).toHaveLength(1);
  });

  test('merge order: flags, $FROZEN_MIRRORS, config file, daemon.json (Docker Hub); duplicates once', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({
        mirrors: { 'index.docker.io': ['https://c.example', { url: 'https://t.example', resolveTags: true }] },
      }),
    );
    await writeFile(
      join(dir, 'daemon.json'),
      JSON.stringify({ 'registry-mirrors': ['https://d.example', 'https://a.example'] }),
    );
    const mirrors = await loadMirrors({
      mirrors: ['https://a.example'],
      configFile: join(dir, 'config.json'),
      daemonConfig: join(dir, 'daemon.json'),
      env: { FROZEN_MIRRORS: 'https://e.example, docker.io=https://f.example' },
    });
    const endpoints = endpointsFor('docker.io', mirrors);
    expect(endpoints.map((e) => e.name)).toEqual([
      'https://a.example',
      'https://e.example',
      'https://f.example',
      'https://c.example',
      'https://t.example',
      'https://d.example',
      'registry-1.docker.io',
    ]);
    expect(endpoints.map((e) => e.resolveTags)).toEqual([false, false, false, false, true, false, true]);
  });

  test.each(['ftp://m.example', 'https://m.example/?x=1', 'https://user:pw@m.example', 'm.example'])(
    'rejects %s',
    async (url) => {
      await expect(loadMirrors({ ...none, mirrors: [url] })).rejects.toThrow(/invalid mirror/);
    },
  );
});
