import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startDaemon } from './daemon.js';
import { stopProcess } from './registry.js';

const exec = promisify(execFile);

/**
 * A private containerd (Debian's, which docker.io depends on) for `ctr images import` proofs: the importer behind
 * `docker load` with Docker's containerd image store (the default since Docker 29), nerdctl and k3s. Its own root,
 * state and socket, the CRI plugin off, so it touches nothing else on the machine.
 */
export interface PrivateContainerd {
  /** Runs `ctr` against this containerd, in a namespace of its own. */
  ctr(args: readonly string[]): Promise<{ stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

export const CONTAINERD = '/usr/bin/containerd';

/** containerd runs where it is installed, and CI (which installs it with docker.io) sets FROZEN_REQUIRE_DOCKERD=1. */
export const containerdWanted = existsSync(CONTAINERD) || process.env.FROZEN_REQUIRE_DOCKERD === '1';

export async function startContainerd(): Promise<PrivateContainerd> {
  // A short path: the socket must fit in sun_path.
  const dir = await mkdtemp('/tmp/frozen-ctd-');
  const socket = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  await writeFile(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '',
    ].join('\n'),
  );
  const ctr = (args: readonly string[]) =>
    exec('ctr', ['--address', socket, '--namespace', 'frozen-test', ...args], { maxBuffer: 16 * 1024 * 1024 });
  const child = await startDaemon('containerd', CONTAINERD, ['--config', config], () => ctr(['version']), 30_000);
  return {
    ctr,
    async stop() {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
