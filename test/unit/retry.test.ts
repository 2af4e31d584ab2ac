import { describe, expect, test } from 'vitest';
import { FrozenError } from '../../src/errors.js';
import { parseRetryAfter } from '../../src/registry/client.js';
import { backoffDelay, withRetries } from '../../src/registry/retry.js';

describe('Retry-After', () => {
  test('seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(' 0 ')).toBe(0);
    const now = Date.parse('Sun, 22 Nov 2026 10:00:00 GMT');
    expect(parseRetryAfter('Sun, 22 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 22 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('backoff', () => {
  const policy = { retries: 5, baseDelayMs: 100 };

  test('doubles with jitter between half and all of the ceiling, capped at 10 s', () => {
    expect(backoffDelay(policy, 0, undefined, () => 0)).toBe(50);
    expect(backoffDelay(policy, 0, undefined, () => 1)).toBe(100);
    expect(backoffDelay(policy, 3, undefined, () => 1)).toBe(800);
    expect(backoffDelay(policy, 20, undefined, () => 1)).toBe(10_000);
  });

  test('Retry-After wins', () => {
    expect(backoffDelay(policy, 0, new FrozenError('network', 'x', { retryAfterMs: 7000 }))).toBe(7000);
    expect(backoffDelay(policy, 0, new FrozenError('network', 'x', { retryAfterMs: 120_000 }))).toBe(120_000);
  });

  test('a Retry-After over two minutes (a rate limit for hours) fails at once instead of holding the run', async () => {
    let calls = 0;
    const limited = () => {
      calls++;
      return Promise.reject(
        new FrozenError('network', 'rate limited, retry after 21600', { retryAfterMs: 21_600_000 }),
      );
    };
    const started = Date.now();
    await expect(withRetries(policy, limited)).rejects.toThrow('rate limited, retry after 21600');
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  test('only network-kind errors are retried, and only `retries` times', async () => {
    let calls = 0;
    const failing = (kind: 'network' | 'not-found') => () => {
      calls++;
      return Promise.reject(new FrozenError(kind, kind));
    };
    await expect(withRetries({ retries: 2, baseDelayMs: 1 }, failing('network'))).rejects.toThrow('network');
    expect(calls).toBe(3);
    calls = 0;
    await expect(withRetries({ retries: 2, baseDelayMs: 1 }, failing('not-found'))).rejects.toThrow('not-found');
    expect(calls).toBe(1);
  });
});
