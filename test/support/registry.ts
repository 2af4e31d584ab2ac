import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnComponent } from './daemon.js';

/**
 * A real CNCF Distribution registry (Debian's `docker-registry`) on a free loopback port with its own storage.
 * Failing to start is an error, never a skip.
 */
export interface RunningRegistry {
  readonly host: string; // 127.0.0.1:PORT
  readonly url: string; // http://127.0.0.1:PORT
  readonly storage: string;
  /** The access log so far (Apache combined format, one line a request), when started with `accessLog`. */
  accessLog(): string;
  stop(): Promise<void>;
}

export const REGISTRY_BINARY = process.env.FROZEN_TEST_REGISTRY_BIN ?? '/usr/bin/docker-registry';

export interface RegistryOptions {
  /** htpasswd file contents (bcrypt lines) to require Basic auth. */
  readonly htpasswd?: string;
  /** Serve https with this certificate and key (PEM files), trusting `ca` to check it is up. */
  readonly tls?: { readonly certificate: string; readonly key: string; readonly ca: string };
  /** Run as a pull-through cache of this registry URL. */
  readonly proxyOf?: string;
  /** Serve this storage directory (another registry's) instead of a new one. */
  readonly storage?: string;
  /** Accept manifests whose descriptors list URLs matching this regular expression (foreign layers). */
  readonly allowUrls?: string;
  /** Keep the access log (its request lines name the protocol: `"GET /v2/ HTTP/2.0"`). */
  readonly accessLog?: boolean;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'frozen-registry-'));
  const storage = options.storage ?? join(dir, 'storage');
  const port = await freePort();
  const auth = options.htpasswd
    ? `auth:\n  htpasswd:\n    realm: frozen-test\n    path: ${join(dir, 'htpasswd')}\n`
    : '';
  if (options.htpasswd) await writeFile(join(dir, 'htpasswd'), options.htpasswd);
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    `    disabled: ${options.accessLog ? 'false' : 'true'}`,
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(options.tls ? ['  tls:', `    certificate: ${options.tls.certificate}`, `    key: ${options.tls.key}`] : []),
    auth,
    ...(options.proxyOf ? ['proxy:', `  remoteurl: ${options.proxyOf}`] : []),
    ...(options.allowUrls
      ? ['validation:', '  manifests:', '    urls:', '      allow:', `        - '${options.allowUrls}'`]
      : []),
  ].join('\n');
  const configPath = join(dir, 'config.yml');
  await writeFile(configPath, config);

  const { child, assertStarted } = spawnComponent('docker-registry', REGISTRY_BINARY, ['serve', configPath], {
    stdio: ['ignore', options.accessLog ? 'pipe' : 'ignore', 'pipe'],
  });
  let accessLog = '';
  child.stdout?.on('data', (chunk: Buffer) => (accessLog += chunk.toString()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  try {
    const ca = options.tls && (await readFile(options.tls.ca, 'utf8'));
    await waitUntilServing(url, child, () => stderr, ca, assertStarted);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host: `127.0.0.1:${port}`,
    url,
    storage,
    accessLog: () => accessLog,
    async stop() {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitUntilServing(
  url: string,
  child: ChildProcess,
  stderr: () => string,
  ca: string | undefined,
  assertStarted: () => void,
): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    assertStarted();
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    const status = await probe(`${url}/v2/`, ca).catch(() => 0);
    if (status === 200 || status === 401) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`docker-registry did not start within 15 s: ${stderr()}`);
}

function probe(url: string, ca?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https') ? httpsGet : httpGet)(url, ca ? { ca } : {}, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
