import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startBearerFront, type BearerFront } from '../support/bearer-front.js';
import { runCli } from '../support/cli.js';
import { oneLayerImage, pushImage, type BuiltImage } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';
import { startTinyproxy, type RunningProxy } from '../support/tinyproxy.js';
import { makeCertificates, type TestCertificates } from '../support/tls.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-net-'));

let plain: RunningRegistry;
let img: BuiltImage;
beforeAll(async () => {
  plain = await startRegistry();
  img = await oneLayerImage('network');
  await pushImage({ url: plain.url }, 'one/app', img, '1');
});
afterAll(async () => plain?.stop());

async function expectPulled(args: string[], env: NodeJS.ProcessEnv = {}) {
  const output = await tempDir();
  const result = await runCli(['pull', '-o', output, ...args], { env });
  expect(result.stderr).not.toContain('error');
  expect(result.code).toBe(0);
  expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);
}

describe('a TLS registry with a self-signed CA', () => {
  let certs: TestCertificates;
  let secure: RunningRegistry;
  beforeAll(async () => {
    certs = await makeCertificates();
    secure = await startRegistry({
      tls: { certificate: certs.certificate, key: certs.key, ca: certs.ca },
      storage: plain.storage,
    });
  });
  afterAll(async () => secure?.stop());

  test('--ca-file trusts it', async () => {
    await expectPulled(['--ca-file', certs.ca, `${secure.host}/one/app:1`]);
  });

  test('NODE_EXTRA_CA_CERTS trusts it', async () => {
    await expectPulled([`${secure.host}/one/app:1`], { NODE_EXTRA_CA_CERTS: certs.ca });
  });

  test('--ca-file adds to NODE_EXTRA_CA_CERTS: registries signed by either CA are trusted in one run', async () => {
    const other = await makeCertificates();
    const second = await startRegistry({
      tls: { certificate: other.certificate, key: other.key, ca: other.ca },
      storage: plain.storage,
    });
    try {
      const output = await tempDir();
      const refs = [`${secure.host}/one/app:1`, `${second.host}/one/app:1`];
      const result = await runCli(['pull', '-q', '-o', output, '--ca-file', other.ca, ...refs], {
        env: { NODE_EXTRA_CA_CERTS: certs.ca },
      });
      expect([result.code, result.stderr]).toEqual([0, '']);
      const manifest = JSON.parse(await readFile(join(output, 'manifest.json'), 'utf8')) as { RepoTags: string[] }[];
      expect(manifest.flatMap((m) => m.RepoTags).sort()).toEqual([...refs].sort());
    } finally {
      await second.stop();
    }
  });

  test('without the CA: a clear error, and no silent fall back to plain http', async () => {
    const result = await runCli(['pull', '-o', await tempDir(), `${secure.host}/one/app:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `cannot reach ${secure.host.replace(/\./g, '\\.')}: its TLS certificate is not trusted \\([A-Z_]+\\); use --ca-file, or --insecure-registry ${secure.host.replace(/\./g, '\\.')}\\n$`,
      ),
    );
  });

  test('--insecure-registry: unverified TLS for that host only', async () => {
    await expectPulled(['--insecure-registry', secure.host, `${secure.host}/one/app:1`]);
  });
});

describe('an HTTP proxy (tinyproxy)', () => {
  let proxy: RunningProxy;
  beforeAll(async () => {
    proxy = await startTinyproxy();
  });
  afterAll(async () => proxy?.stop());

  test('HTTP_PROXY carries every request; NO_PROXY bypasses it', async () => {
    await expectPulled([`${plain.host}/one/app:1`], { HTTP_PROXY: proxy.url, HTTPS_PROXY: proxy.url });
    const seen = await proxy.requests();
    expect(seen).toContain(`GET http://${plain.host}/v2/one/app/manifests/1`);
    for (const blob of [img.config, ...img.layers])
      expect(seen).toContain(`GET http://${plain.host}/v2/one/app/blobs/${blob.digest}`);

    const before = seen.length;
    await expectPulled([`${plain.host}/one/app:1`], {
      HTTP_PROXY: proxy.url,
      HTTPS_PROXY: proxy.url,
      NO_PROXY: '127.0.0.1',
    });
    expect((await proxy.requests()).length).toBe(before);
  });

  test('proxy credentials in the proxy URL reach the proxy', async () => {
    const guarded = await startTinyproxy({ basicAuth: { user: 'frozen', password: 's3cret' } });
    try {
      const withCredentials = guarded.url.replace('http://', 'http://frozen:s3cret@');
      await expectPulled([`${plain.host}/one/app:1`], { HTTP_PROXY: withCredentials });
      expect(await guarded.requests()).toContain(`GET http://${plain.host}/v2/one/app/manifests/1`);
    } finally {
      await guarded.stop();
    }
  });

  test('a proxy that wants credentials: one line saying so, for http and for https (CONNECT), and no retries', async () => {
    const asked: string[] = [];
    const refusing = createServer((req, res) => {
      asked.push(`${req.method} ${req.url}`);
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="corp"' }).end();
    });
    refusing.on('connect', (req, socket: Socket) => {
      asked.push(`CONNECT ${req.url}`);
      socket.end(
        'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="corp"\r\nContent-Length: 0\r\n\r\n',
      );
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
    try {
      for (const [variable, ref, host] of [
        ['HTTP_PROXY', `${plain.host}/one/app:1`, plain.host],
        ['HTTPS_PROXY', 'registry.example/one/app:1', 'registry.example'],
      ] as const) {
        asked.length = 0;
        const result = await runCli(['pull', '-o', join(await tempDir(), 'out'), ref], { env: { [variable]: url } });
        expect([result.code, result.stderr]).toEqual([
          1,
          `frozen: error: ${ref}: the proxy refused the request for ${host} (407 Proxy Authentication Required): give its user and password in the proxy URL, http://user:password@proxy:port\n`,
        ]);
        expect(asked).toHaveLength(1);
      }
    } finally {
      refusing.closeAllConnections();
      await new Promise((resolve) => refusing.close(resolve));
    }
  });
});

describe('a plain-http registry not on loopback', () => {
  // [::ffff:7f00:1] is 127.0.0.1 to the socket but not a loopback name to frozen: a far plain-http registry.
  test('is not retried as a network error: one line says to pass --insecure-registry, which then works', async () => {
    const host = `[::ffff:7f00:1]:${plain.host.split(':')[1]}`;
    const started = Date.now();
    const refused = await runCli(['pull', '-o', join(await tempDir(), 'out'), `${host}/one/app:1`]);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `frozen: error: ${host}/one/app:1: cannot reach ${host}: it does not answer https (ERR_SSL_WRONG_VERSION_NUMBER); if it is a plain-http registry, pass --insecure-registry ${host}\n`,
    ]);
    expect(Date.now() - started).toBeLessThan(3_000); // no retries with back-off
    await expectPulled(['--insecure-registry', host, `${host}/one/app:1`]);
  });
});

describe('timeouts', () => {
  let stalling: BearerFront;
  beforeAll(async () => {
    stalling = await startBearerFront(plain.url, { stallBlobs: true });
  });
  afterAll(async () => stalling?.stop());

  test('a body that stalls is given up after --stall-timeout, retried, then reported', async () => {
    const started = Date.now();
    const result = await runCli([
      'pull',
      '-o',
      join(await tempDir(), 'out'),
      '--stall-timeout',
      '1',
      '--retries',
      '1',
      `${stalling.host}/one/app:1`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^retry .*: cannot reach 127\.0\.0\.2:\d+: timed out$/m);
    expect(result.stderr).toMatch(
      /frozen: error: .*one\/app:1: blob sha256:[0-9a-f]{64}: cannot reach 127\.0\.0\.2:\d+: timed out\n$/,
    );
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
