/**
 * Typed errors: every failure a user can meet is one of these kinds, so the CLI can map it to one line and an
 * exit code without inspecting messages.
 */
export type ErrorKind =
  | 'reference' // an image reference is malformed
  | 'usage' // an option, a config, credential, CA or lock file, a platform or another input given is wrong
  | 'auth' // 401/403, missing or rejected credentials
  | 'not-found' // 404: repository, tag, manifest or blob unknown
  | 'integrity' // digest or size mismatch, pinned image ID mismatch
  | 'signature' // no signature by a key the policy requires covers the image
  | 'network' // connection refused, DNS, timeouts, resets, 408/429/5xx: worth retrying
  | 'tls' // a TLS certificate that is not trusted, or a host that does not answer https: not retried
  | 'protocol' // the registry answered something this client cannot use
  | 'unsupported' // a media type or feature frozen does not handle
  | 'platform' // no manifest in an index matches the wanted platform
  | 'output' // the output directory cannot be written, or holds files frozen must not overwrite
  | 'aborted'; // the caller's AbortSignal fired

/** Every error frozen throws on purpose: a message of one line, and a `kind` that says what went wrong. */
export class FrozenError extends Error {
  readonly kind: ErrorKind;
  /** How long the server asked us to wait before trying again (429/503 `Retry-After`). */
  readonly retryAfterMs?: number;
  /** A network failure another try would only repeat (a host name that does not exist). */
  readonly permanent?: boolean;

  constructor(
    kind: ErrorKind,
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number; permanent?: boolean },
  ) {
    super(message, options);
    this.name = 'FrozenError';
    this.kind = kind;
    if (options?.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
    if (options?.permanent) this.permanent = true;
  }
}

/**
 * Whether another try may succeed: network failures, timeouts, resets, 408, 429 and most 5xx; for PullFailures,
 * whether any of its failures is one. Nothing else is (a missing image, a wrong digest, refused credentials).
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof PullFailures) return error.retryable;
  return error instanceof FrozenError && error.kind === 'network' && !error.permanent;
}

/** Wraps an error with the image it belongs to, keeping its kind (and whether a retry may help). */
export class ImagePullError extends FrozenError {
  readonly image: string;

  constructor(image: string, cause: FrozenError) {
    super(cause.kind, `${image}: ${cause.message}`, { cause, ...(cause.permanent && { permanent: true }) });
    this.name = 'ImagePullError';
    this.image = image;
  }
}

/**
 * Kinds in the order PullFailures reports one as its own `kind`: what a retry cannot fix before what it may, and a
 * caller's mistake before the registry's, so the images' order changes nothing.
 */
const KIND_PRECEDENCE: readonly ErrorKind[] = [
  'aborted',
  'usage',
  'reference',
  'output',
  'auth',
  'not-found',
  'platform',
  'integrity',
  'signature',
  'unsupported',
  'protocol',
  'tls',
  'network',
];

/**
 * Several images failed (a pull, or a lock); each error names its image. `kind` is the first of `kinds` in a fixed
 * order (what a retry cannot fix first), whatever the order of the images.
 */
export class PullFailures extends FrozenError {
  /** Every kind among the failures, each once, in that fixed order. */
  readonly kinds: readonly ErrorKind[];
  /** Whether another try may help: some failure is one worth retrying (see `isRetryable`). */
  readonly retryable: boolean;

  constructor(readonly errors: readonly ImagePullError[]) {
    const kinds = KIND_PRECEDENCE.filter((kind) => errors.some((e) => e.kind === kind));
    super(kinds[0] ?? errors[0]!.kind, errors.map((e) => e.message).join('\n'));
    this.name = 'PullFailures';
    this.kinds = kinds;
    this.retryable = errors.some((e) => isRetryable(e));
  }
}

/** Errors that are not FrozenErrors are bugs or environment failures; classify them as well as we can. */
export function asFrozenError(error: unknown): FrozenError {
  if (error instanceof FrozenError) return error;
  if (isAbortError(error)) return new FrozenError('aborted', `aborted: ${(error as Error).message}`, { cause: error });
  // The network's system errors are wrapped where requests are made, so one that gets here is the disk's.
  if (isSystemError(error)) return new FrozenError('output', namingPath(error), { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new FrozenError('network', message, { cause: error });
}

/** An error and the causes below it, outermost first. */
export function causeChain(error: unknown): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) chain.push(e);
  return chain;
}

function isSystemError(error: unknown): error is NodeJS.ErrnoException {
  const { code, syscall } = error as NodeJS.ErrnoException;
  return error instanceof Error && typeof syscall === 'string' && typeof code === 'string';
}

/** Node names the path only for calls made with one (an open, not a write to an open file). */
function namingPath(error: NodeJS.ErrnoException): string {
  return error.path && !error.message.includes(error.path) ? `${error.path}: ${error.message}` : error.message;
}

/**
 * Stops work whose signal fired, with an `aborted` error whatever the signal's reason is (a caller may abort with
 * any value, and `AbortSignal.timeout` gives a TimeoutError).
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}

/**
 * The error of work stopped by `signal`: `aborted: <reason>`, the reason the signal was aborted with (for
 * `AbortSignal.timeout`, that it timed out), whatever the stopped work threw (`cause`, kept).
 */
export function abortedError(signal: AbortSignal | undefined, cause?: unknown): FrozenError {
  const reason: unknown = signal?.reason;
  const why =
    reason instanceof Error
      ? reason.message
      : typeof reason === 'string' || typeof reason === 'number'
        ? String(reason)
        : 'the signal fired';
  return new FrozenError('aborted', `aborted: ${why}`, { cause: cause ?? reason });
}

function isAbortError(error: unknown): boolean {
  // TimeoutError: the reason `AbortSignal.timeout` gives (undici's own timeouts have other names).
  return (
    error instanceof Error &&
    (error.name === 'AbortError' || error.name === 'TimeoutError' || (error as { code?: string }).code === 'ABORT_ERR')
  );
}
