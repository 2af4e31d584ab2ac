import { type FrozenError } from '../errors.js';
import { PullFailures } from '../pull.js';
import type { Io } from './io.js';

/** One line per error (`frozen: error: …`), and the causes' stacks with --debug. */
export function reportError(error: FrozenError, io: Io, debug: boolean): void {
  const errors = error instanceof PullFailures ? error.errors : [error];
  for (const each of errors) io.stderr(`frozen: error: ${each.message}\n`);
  if (debug) io.stderr(`${errorChain(error)}\n`);
}

function errorChain(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) parts.push(e.stack ?? e.message);
  return parts.join('\ncaused by: ');
}
