import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** A component's process, and why it could not be started, if it could not (a missing binary: ENOENT). */
export interface SpawnedComponent {
  readonly child: ChildProcess;
  /** Throws the reason it could not start, once Node has said so; a test that needs it then fails with that. */
  readonly assertStarted: () => void;
}

/**
 * Spawns a component a test needs (a registry, a proxy, a daemon). Node reports a binary that cannot be run as an
 * 'error' event, which would otherwise be an uncaught exception: here it becomes an error the caller throws, with
 * one line naming the component and how `npm test` gets it.
 */
export function spawnComponent(
  name: string,
  command: string,
  args: readonly string[],
  options: SpawnOptions,
): SpawnedComponent {
  const child = spawn(command, args, options);
  let failure: Error | undefined;
  child.on('error', (error) => {
    failure = new Error(
      `${name} could not be started (${error.message}): npm test installs the components it needs when run as root (scripts/test-components.mjs)`,
    );
  });
  return {
    child,
    assertStarted: () => {
      if (failure) throw failure;
    },
  };
}

/**
 * Starts a daemon and waits until `probe` succeeds. If it exits first, or does not answer in time (then it is
 * killed), the error says so with the end of what it wrote to stderr: a daemon that fails to start fails the test.
 */
export async function startDaemon(
  name: string,
  command: string,
  args: readonly string[],
  probe: () => Promise<unknown>,
  timeoutMs: number,
): Promise<ChildProcess> {
  const { child, assertStarted } = spawnComponent(name, command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    assertStarted();
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${log}`);
    try {
      await probe();
      return child;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`${name} did not answer within ${timeoutMs / 1000} s: ${log}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
