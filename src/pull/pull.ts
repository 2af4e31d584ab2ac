/**
 * `pull()`: the library's entry point. It checks the options, links the caller's AbortSignal and guards its
 * listener, opens the registry session and the output writer, and hands them to the run (run.ts).
 */
import { setMaxListeners } from 'node:events';
import type { PullEvent } from '../api/events.js';
import type { PullOptions } from '../api/options.js';
import type { PullResult } from '../api/results.js';
import { wantedPlatforms } from '../platform/index.js';
import { RegistrySession } from '../registry/session.js';
import { loadSignaturePolicy } from '../signature/policy.js';
import { chosenCache } from './cache.js';
import type { PullJob } from './context.js';
import { checkPullOptions, pullJobs } from './options.js';
import { openWriter } from './output.js';
import { runPull } from './run.js';

/**
 * Pulls every image into one docker-load-ready directory (or a tar, or an OCI layout). All references are checked
 * before any request; every blob is fetched (or found) in the cache and verified; only when every image succeeded
 * is the output written, from the cache by hard link. A failure or an abort leaves it as it was.
 *
 * @throws {FrozenError} `usage` or `reference` for options or references that are wrong (before any request); an
 * ImagePullError naming the image when one image failed; PullFailures when several did; `aborted` when the signal
 * fired; the listener's own error when `onEvent` threw.
 */
export async function pull(given: PullOptions): Promise<PullResult> {
  checkPullOptions(given);
  const run = new AbortController();
  setMaxListeners(0, run.signal); // one listener per request in flight: dozens at once, not the leak Node warns of
  const follow = () => run.abort(given.signal?.reason);
  if (given.signal?.aborted) follow();
  else given.signal?.addEventListener('abort', follow, { once: true });
  const listener = guardedListener(given.onEvent, run);
  const options: PullOptions = { ...given, signal: run.signal, onEvent: listener.onEvent };
  try {
    return await pullWith(options);
  } catch (error) {
    throw listener.failure ? listener.failure.error : error;
  } finally {
    given.signal?.removeEventListener('abort', follow);
  }
}

/** The images and platform are checked before the session reads its settings, and both before the output opens. */
async function pullWith(options: PullOptions): Promise<PullResult> {
  const jobs = pullJobs(options);
  const platforms = wantedPlatforms(options.platform);
  const signatures = await loadSignaturePolicy(options);
  const session = await RegistrySession.open(options, await surelyAsked(options, jobs));
  try {
    const writer = await openWriter(options);
    return await runPull(options, { jobs, platforms, session, writer, signatures });
  } finally {
    await session.close();
  }
}

/**
 * The registries this run asks something whatever happens: those of references by tag (a tag is always asked), and
 * of references by digest whose manifest the cache does not hold. Locked references are left out (a lock may need no
 * request), and so is everything offline or over the v1 protocol.
 */
async function surelyAsked(options: PullOptions, jobs: readonly PullJob[]): Promise<string[]> {
  if (options.offline || options.protocol === 'v1') return [];
  const cache = options.cache === false ? undefined : chosenCache(options);
  const asked = await Promise.all(
    jobs.map(async ({ ref, locked }) => {
      if (locked) return false;
      return !ref.digest || !(await cache?.has(ref.digest).catch(() => false));
    }),
  );
  return [...new Set(jobs.filter((_, i) => asked[i]).map((job) => job.ref.registry))];
}

/**
 * The caller's listener, guarded: if it throws, the run is aborted and `failure` holds what it threw, which the
 * pull then rejects with. It is the caller's bug, not a network failure to retry. No event follows a failure.
 */
function guardedListener(listener: PullOptions['onEvent'], run: AbortController) {
  const guarded = {
    failure: undefined as { error: unknown } | undefined,
    onEvent: (event: PullEvent) => {
      if (!listener || guarded.failure) return;
      try {
        listener(event);
      } catch (error) {
        guarded.failure = { error };
        run.abort(error);
      }
    },
  };
  return guarded;
}
