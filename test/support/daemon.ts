import { spawn, type ChildProcess } from 'node:child_process';

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
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
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
