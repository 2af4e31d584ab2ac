import { describe, expect, test } from 'vitest';
import { Scheduler, SMALL_BLOB_BYTES } from '../../src/transfer/scheduler.js';

/** transfer/scheduler.ts: who may transfer when. */

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('Scheduler', () => {
  test('a small blob does not wait behind large ones that fill every slot', async () => {
    const scheduler = new Scheduler(2, 2);
    const gate = deferred();
    const large = [1, 2, 3].map(() => scheduler.run('registry', 100 * SMALL_BLOB_BYTES, () => gate.promise));
    let smallRan = false;
    await scheduler.run('registry', 1000, async () => {
      smallRan = true;
    });
    expect(smallRan).toBe(true);
    gate.resolve();
    await Promise.all(large);
  });

  test('large blobs respect the per-host cap and the global limit', async () => {
    const scheduler = new Scheduler(3, 2);
    const running = { a: 0, b: 0, max: { a: 0, b: 0, total: 0 } };
    const gate = deferred();
    const task = (host: 'a' | 'b') => async () => {
      running[host]++;
      running.max[host] = Math.max(running.max[host], running[host]);
      running.max.total = Math.max(running.max.total, running.a + running.b);
      await gate.promise;
      running[host]--;
    };
    const all = [...Array(4)].flatMap(() => [
      scheduler.run('a', 2 * SMALL_BLOB_BYTES, task('a')),
      scheduler.run('b', 2 * SMALL_BLOB_BYTES, task('b')),
    ]);
    await new Promise((r) => setTimeout(r, 20));
    gate.resolve();
    await Promise.all(all);
    expect(running.max.a).toBeLessThanOrEqual(2);
    expect(running.max.b).toBeLessThanOrEqual(2);
    expect(running.max.total).toBe(3);
  });

  test('small blobs from a host that multiplexes (HTTP/2) have four times the slots; from others, as many as large ones', async () => {
    const scheduler = new Scheduler(2, 2, (host) => host === 'h2-registry');
    const gate = deferred();
    const started = { 'h2-registry': 0, 'h1-registry': 0 };
    const all = (['h2-registry', 'h1-registry'] as const).flatMap((host) =>
      [...Array(12)].map(() =>
        scheduler.run(host, 1000, async () => {
          started[host]++;
          await gate.promise;
        }),
      ),
    );
    await new Promise((r) => setTimeout(r, 20));
    expect(started).toEqual({ 'h2-registry': 8, 'h1-registry': 2 });
    gate.resolve();
    await Promise.all(all);
  });
});
