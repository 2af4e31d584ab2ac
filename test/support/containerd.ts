import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  const child: ChildProcess = spawn(CONTAINERD, ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const ctr = (args: readonly string[]) => exec('ctr', ['--address', socket, '--namespace', 'frozen-test', ...args], { maxBuffer: 16 * 1024 * 1024 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}: ${log}`);
    try {
      await ctr(['version']);
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`containerd did not answer within 30 s: ${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    ctr,
    async stop() {
      await stopProcess(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
