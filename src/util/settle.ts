import { setMaxListeners } from 'node:events';

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
