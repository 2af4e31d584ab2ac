/**
 * Waiting for many promises so that no work outlives its caller: all-or-stop, all-settled-or-throw, and every image
 * of a run with each failure named.
 */
import { setMaxListeners } from 'node:events';
import { asFrozenError, ImagePullError, PullFailures, throwIfAborted } from '../errors.js';

/**
 * `Promise.all` that settles only when every promise has: the first failure is thrown once none of the others is
 * still running, so no work outlives its caller. `onFirstFailure` can tell the others to stop.
 */
export async function allSettledOrThrow<T>(promises: readonly Promise<T>[], onFirstFailure?: () => void): Promise<T[]> {
  let failure: { readonly error: unknown } | undefined;
  const settled = await Promise.allSettled(
    promises.map((promise) =>
      promise.catch((error: unknown) => {
        if (!failure) {
          failure = { error };
          onFirstFailure?.();
        }
        throw error;
      }),
    ),
  );
  if (failure) throw failure.error;
  return settled.map((result) => (result as PromiseFulfilledResult<T>).value);
}

/**
 * Starts tasks that share a signal, and stops the rest (through that signal) as soon as one fails; the failure is
 * thrown once they have all stopped.
 */
export function allOrStop<T>(
  signal: AbortSignal | undefined,
  start: (signal: AbortSignal) => readonly Promise<T>[],
): Promise<T[]> {
  const stop = new AbortController();
  const shared = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
  setMaxListeners(0, shared); // one listener per request in flight: dozens at once, not the leak Node warns of
  return allSettledOrThrow(start(shared), () => stop.abort());
}

/** Every image's outcome: the values of those that succeeded, in order, and the failures, in order. */
export interface EveryImage<I, T> {
  readonly succeeded: readonly { readonly item: I; readonly value: T }[];
  readonly failures: readonly ImagePullError[];
}

/**
 * Runs `work` for every image and waits for all of them, so that each one that fails is reported (`onFailure` hears
 * it as it happens, wrapped as an ImagePullError naming the image). An abort of `signal` is thrown instead of the
 * failures it caused.
 */
export async function settleEveryImage<I, T>(
  items: readonly I[],
  image: (item: I) => string,
  work: (item: I) => Promise<T>,
  options: { readonly signal?: AbortSignal | undefined; readonly onFailure?: (failure: ImagePullError) => void } = {},
): Promise<EveryImage<I, T>> {
  const settled = await Promise.allSettled(
    items.map((item) =>
      work(item).catch((error: unknown) => {
        const failure = new ImagePullError(image(item), asFrozenError(error));
        options.onFailure?.(failure);
        throw failure;
      }),
    ),
  );
  throwIfAborted(options.signal);
  return {
    succeeded: settled.flatMap((s, i) => (s.status === 'fulfilled' ? [{ item: items[i]!, value: s.value }] : [])),
    failures: settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as ImagePullError] : [])),
  };
}

/** The failures of a run as one error: the image's own when one failed, PullFailures when several did. */
export function failureOf(failures: readonly ImagePullError[]): ImagePullError | PullFailures {
  return failures.length === 1 ? failures[0]! : new PullFailures(failures);
}

/** `settleEveryImage`, all or nothing: the values in order, or the failures (`failureOf`). */
export async function forEveryImage<I, T>(
  items: readonly I[],
  image: (item: I) => string,
  work: (item: I) => Promise<T>,
  options: { readonly signal?: AbortSignal | undefined; readonly onFailure?: (failure: ImagePullError) => void } = {},
): Promise<T[]> {
  const { succeeded, failures } = await settleEveryImage(items, image, work, options);
  if (failures.length > 0) throw failureOf(failures);
  return succeeded.map((s) => s.value);
}
