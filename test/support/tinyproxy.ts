import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnComponent } from './daemon.js';
import { freePort, stopProcess } from './registry.js';

/** A real HTTP proxy (Debian's tinyproxy) on loopback, logging every request it forwards. */
export interface RunningProxy {
  readonly url: string;
  /** The requests the proxy received, as `METHOD target`. */
  requests(): Promise<string[]>;
  stop(): Promise<void>;
}

/** `basicAuth`: the proxy accepts only requests that carry these credentials. */
export async function startTinyproxy(
  options: { basicAuth?: { user: string; password: string } } = {},
): Promise<RunningProxy> {
  const dir = await mkdtemp(join(tmpdir(), 'frozen-proxy-'));
  const port = await freePort();
  const log = join(dir, 'tinyproxy.log');
  const auth = options.basicAuth ? [`BasicAuth ${options.basicAuth.user} ${options.basicAuth.password}`] : [];
  const config = [
    `Port ${port}`,
    'Listen 127.0.0.1',
    'Allow 127.0.0.1',
    'Timeout 60',
    `LogFile "${log}"`,
    'LogLevel Info',
    'MaxClients 50',
    'ConnectPort 443',
    ...auth,
  ].join('\n');
  await writeFile(join(dir, 'tinyproxy.conf'), config);
  const args = ['-d', '-c', join(dir, 'tinyproxy.conf')];
  const { child, assertStarted } = spawnComponent('tinyproxy', 'tinyproxy', args, { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await readFile(log, 'utf8').catch(() => '')).includes('listening') && !(await isListening(port))) {
    assertStarted();
    if (child.exitCode !== null) throw new Error(`tinyproxy exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('tinyproxy did not start within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    requests: async () =>
      (await readFile(log, 'utf8').catch(() => ''))
        .split('\n')
        .flatMap((line) => /Request \(file descriptor \d+\): (\S+ \S+)/.exec(line)?.[1] ?? []),
    stop: () => stopProcess(child),
  };
}

async function isListening(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.end();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
