import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PullEvent } from '../../src/index.js';

export const FROZEN_BIN = fileURLToPath(new URL('../../bin/frozen.js', import.meta.url));

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built CLI as a user would: a separate node process, no TTY. Each run gets an empty cache of its own
 * unless `env.FROZEN_CACHE` names one, so runs are cold and independent by default.
 */
export async function runCli(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; openFiles?: number } = {},
): Promise<CliResult> {
  const cache = await mkdtemp(join(tmpdir(), 'frozen-cache-'));
  const command = [process.execPath, FROZEN_BIN, ...args];
  // `openFiles` runs it under `ulimit -n`, as on a system that allows a process few open files.
  const [program, ...rest] =
    options.openFiles === undefined
      ? command
      : ['sh', '-c', `ulimit -n ${options.openFiles} && exec "$@"`, 'sh', ...command];
  return new Promise((resolve, reject) => {
    const child = spawn(program!, rest, {
      cwd: options.cwd,
      env: { ...process.env, FROZEN_CACHE: cache, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs the built CLI with a terminal for stdin, stdout and stderr, as an interactive shell would: script(1) makes
 * the pseudo-terminal (one nobody has sized: it reports 0 × 0). What the terminal showed comes back as one text, with
 * its carriage returns.
 */
export function runCliInTerminal(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; screen: string }> {
  const quote = (word: string) => `'${word.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, FROZEN_BIN, ...args].map(quote).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, screen }));
  });
}

/** The events `--json` printed, one a line: every complete line, so a stream still being read may be given too. */
export function parseEvents(stdout: string): PullEvent[] {
  return stdout
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as PullEvent);
}
