/** Errors as the CLI reports them: one line each, and the exit code they call for. */
import { asFrozenError, causeChain, PullFailures } from '../errors.js';
import { EXIT_FAILED, EXIT_USAGE, type Io } from './io.js';

/** One line per error (`frozen: error: …`), and the causes' stacks with --debug. Returns the exit code it calls for. */
export function reportError(error: unknown, io: Io, debug: boolean): number {
  const failure = asFrozenError(error);
  const errors = failure instanceof PullFailures ? failure.errors : [failure];
  for (const each of errors) io.stderr(`frozen: error: ${each.message}\n`);
  if (debug) io.stderr(`${errorChain(failure)}\n`);
  return failure.kind === 'reference' || failure.kind === 'usage' ? EXIT_USAGE : EXIT_FAILED;
}

function errorChain(error: unknown): string {
  return causeChain(error)
    .map((e) => e.stack ?? e.message)
    .join('\ncaused by: ');
}
