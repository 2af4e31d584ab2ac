import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, test } from 'vitest';
import { FrozenError } from '../../src/errors.js';
import { sharedFlight } from '../../src/transfer/single-flight.js';
import { allOrStop, allSettledOrThrow } from '../../src/util/settle.js';

/** Resolves after `ms`, or rejects as aborted when `signal` fires first; records when it stopped. */
function work(ms: number, signal: AbortSignal, log: string[], name: string): Promise<string> {
  return sleep(ms, name, { signal }).finally(() => log.push(`${name} stopped`));
}

describe('allOrStop and allSettledOrThrow', () => {
  test('the first failure stops the others through the signal, and is thrown only once they have stopped', async () => {
    const log: string[] = [];
    const failing = async () => {
      await sleep(5);
      throw new FrozenError('not-found', 'blob gone');
    };
    const run = allOrStop(undefined, (signal) => [
      work(10_000, signal, log, 'big'),
      failing(),
      work(10_000, signal, log, 'other'),
    ]);
    await expect(run.finally(() => log.push('thrown'))).rejects.toThrow('blob gone');
    expect(log).toEqual(['big stopped', 'other stopped', 'thrown']);
  });

  test('the caller’s signal stops them all; with no failure the values come back in order', async () => {
    const caller = new AbortController();
    const log: string[] = [];
    const run = allOrStop(caller.signal, (signal) => [work(10_000, signal, log, 'a'), work(10_000, signal, log, 'b')]);
    caller.abort();
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(log.sort()).toEqual(['a stopped', 'b stopped']);
    expect(await allSettledOrThrow([sleep(5, 'slow'), Promise.resolve('fast')])).toEqual(['slow', 'fast']);
  });
});

describe('sharedFlight', () => {
  const aborted = () => Promise.reject(new FrozenError('aborted', 'aborted'));

  test('one start for every caller; a failure of the download itself is everyone’s', async () => {
    const flights = new Map<string, Promise<string>>();
    let starts = 0;
    const start = async () => {
      starts++;
      await sleep(5);
      throw new FrozenError('integrity', 'digest mismatch');
    };
    const results = await Promise.allSettled([
      sharedFlight(flights, 'k', undefined, start),
      sharedFlight(flights, 'k', undefined, start),
    ]);
    expect(starts).toBe(1);
    expect(results.map((r) => (r as PromiseRejectedResult).reason.message)).toEqual([
      'digest mismatch',
      'digest mismatch',
    ]);
  });

  test('a download another caller gave up on is started again by one that still wants it; its own abort is thrown', async () => {
    const flights = new Map<string, Promise<string>>();
    flights.set('k', aborted()); // another image's download, stopped because that image failed
    const still = new AbortController();
    expect(await sharedFlight(flights, 'k', still.signal, async () => 'fetched again')).toEqual({
      value: 'fetched again',
      started: true, // the caller that took it over started it
    });

    flights.set('k', aborted());
    still.abort(); // this caller has given up too: no new download for it
    await expect(sharedFlight(flights, 'k', still.signal, async () => 'never')).rejects.toThrow('aborted');
    flights.delete('k');
    await expect(sharedFlight(flights, 'k', undefined, aborted)).rejects.toThrow('aborted'); // its own, not retried
  });
});
