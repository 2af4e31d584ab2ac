/** Errors as the CLI reports them: one line each, and the exit code they call for. */
import { asFrozenError, causeChain, PullFailures } from '../errors.js';
import { EXIT_FAILED, EXIT_USAGE, type Io } from './io.js';

/** One line per error (`frozen: error: …`), and the causes' stacks with --debug. Returns the exit code it calls for. */
export function reportError(error: unknown, io: Io, debug: boolean): number {
  const failure = asFrozenError(error);
  const errors = failure instanceof PullFailures ? failure.errors : [failure];
  for (const each of errors) io.stderr(`frozen: error: ${cliWording(each.message)}\n`);
  if (debug) io.stderr(`${errorChain(failure)}\n`);
  return failure.kind === 'reference' || failure.kind === 'usage' ? EXIT_USAGE : EXIT_FAILED;
}

function errorChain(error: unknown): string {
  return causeChain(error)
    .map((e) => e.stack ?? e.message)
    .join('\ncaused by: ');
}

/**
 * The library names its options as the API spells them (`format: 'oci'`, `insecureRegistries`); the command line
 * says the flags that set them.
 */
const FLAG_WORDING: readonly [RegExp, string][] = [
  [/\bformat: '(\w+)'/g, '--format $1'],
  [/\bprotocol: '(\w+)'/g, '--protocol $1'],
  [/\bthe decompress option\b/g, '--decompress'],
  [/\(the cache option, or \$FROZEN_CACHE\)/g, '(--cache DIR or $FROZEN_CACHE)'],
  [/\(cache: false\)/g, '(--no-cache)'],
  [/\bthe cache option\b/g, '--cache'],
  [/\(trustedMirrors\)/g, '(--trusted-mirror)'],
  [/\(verifyKeys\)/g, '(--verify-key)'],
  [/\bthe includeReferrers option\b/g, '--include-referrers'],
  [/trust its CA \(caFile\), or add (\S+) to insecureRegistries/g, 'use --ca-file, or --insecure-registry $1'],
  [/add (\S+) to insecureRegistries/g, 'pass --insecure-registry $1'],
  [/\binsecureRegistries\b/g, '--insecure-registry'],
  [/give credentials \(the credentials option\)/g, 'pass --creds user:password'],
  [/\bplatform does not apply\b/g, '--platform does not apply'],
];

/** A library message in the command line's words. */
export function cliWording(message: string): string {
  return FLAG_WORDING.reduce((text, [pattern, flag]) => text.replace(pattern, flag), message);
}
