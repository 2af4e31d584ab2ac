/** Single-flight: one download per blob in a run, however many images want it. */
import { asFrozenError } from '../errors.js';

/**
 * The one download of `key` in this run, shared by every image that wants it: its value, and whether this caller
 * started the download (the others joined it). A download that another image gave up on (it failed elsewhere and
 * stopped its work) is taken over by the next image that still wants it; the bytes it received wait in the
 * partial, so the new download resumes from there.
 */
export async function sharedFlight<T>(
  flights: Map<string, Promise<T>>,
  key: string,
  signal: AbortSignal | undefined,
  start: () => Promise<T>,
): Promise<{ value: T; started: boolean }> {
  for (;;) {
    const existing = flights.get(key);
    const pending = existing ?? start();
    if (!existing) flights.set(key, pending);
    try {
      return { value: await pending, started: !existing };
    } catch (error) {
      if (!existing || signal?.aborted || asFrozenError(error).kind !== 'aborted') throw error;
      if (flights.get(key) === pending) flights.delete(key);
    }
  }
}
