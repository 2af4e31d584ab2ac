/**
 * Retries with exponential backoff and full jitter, honouring `Retry-After`. Only network-kind errors are retried
 * (connection failures, resets, timeouts, 408, 429, 5xx); 400/401/403/404 and integrity failures are final.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isRetryable, type FrozenError } from '../errors.js';

/** How often, and after how long a first wait, a failure is retried. */
export interface RetryPolicy {
  /** Further attempts after the first. */
  readonly retries: number;
  /** The first backoff; each retry doubles it, up to MAX_DELAY_MS. */
  readonly baseDelayMs: number;
}

/** Told of each retry: the failure, the attempt about to be made (1 for the first retry), and the wait before it. */
export type RetryListener = (error: unknown, attempt: number, delayMs: number) => void;

/** Five retries, the first after about 250 ms. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 5, baseDelayMs: 250 };
const MAX_DELAY_MS = 10_000;
/**
 * A server that asks for a longer wait (Docker Hub's pull rate limit asks for hours) is not waited for: retrying
 * would only hold a build for `retries` × this long before failing anyway.
 */
const MAX_RETRY_AFTER_MS = 120_000;

/** How long to wait before retry `attempt`: the server's `Retry-After`, else a jittered exponential backoff. */
export function backoffDelay(policy: RetryPolicy, attempt: number, error: unknown, random = Math.random): number {
  const asked = retryAfterMs(error);
  if (asked !== undefined) return asked;
  const ceiling = Math.min(MAX_DELAY_MS, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Runs `task` until it succeeds, fails for good, or has used the policy's retries. */
export async function withRetries<T>(
  policy: RetryPolicy,
  task: (attempt: number) => Promise<T>,
  options: { readonly signal?: AbortSignal | undefined; readonly onRetry?: RetryListener | undefined } = {},
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await task(attempt);
    } catch (error) {
      if (!isRetryable(error) || attempt >= policy.retries || (retryAfterMs(error) ?? 0) > MAX_RETRY_AFTER_MS)
        throw error;
      const delay = backoffDelay(policy, attempt, error);
      options.onRetry?.(error, attempt + 1, delay);
      await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
    }
  }
}

function retryAfterMs(error: unknown): number | undefined {
  return (error as FrozenError | undefined)?.retryAfterMs;
}
