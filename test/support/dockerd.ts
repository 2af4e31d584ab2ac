import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { startDaemon } from './daemon.js';
import { stopProcess } from './registry.js';

const exec = promisify(execFile);

/**
 * A private Docker daemon (Debian's docker.io) for `docker load` proofs: vfs storage, no iptables, no bridge, its own
 * data root and socket, so it touches nothing else on the machine.
 */
export interface PrivateDockerd {
  readonly host: string; // unix:///…/docker.sock
  docker(args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export const DOCKERD = '/usr/sbin/dockerd';

/** dockerd runs where it is installed, and CI installs it and sets FROZEN_REQUIRE_DOCKERD=1. */
export const dockerdWanted = existsSync(DOCKERD) || process.env.FROZEN_REQUIRE_DOCKERD === '1';

export async function startDockerd(): Promise<PrivateDockerd> {
  // A short path: the daemon's sockets must fit in sun_path.
  const dir = await mkdtemp('/tmp/frozen-dk-');
  const host = `unix://${dir}/docker.sock`;
  const flags = [
    '--storage-driver=vfs',
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    `--data-root=${dir}/data`,
    `--exec-root=${dir}/exec`,
    `--pidfile=${dir}/docker.pid`,
    `--host=${host}`,
  ];
  const docker = (args: readonly string[]) => exec('docker', ['-H', host, ...args], { maxBuffer: 16 * 1024 * 1024 });
  const child = await startDaemon(
    'dockerd',
    DOCKERD,
    flags,
    () => docker(['version', '--format', '{{.Server.Version}}']),
    45_000,
  );
  return {
    host,
    docker,
    async stop() {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
