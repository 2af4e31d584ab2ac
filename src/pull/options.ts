/**
 * `pull()`'s options checked before anything starts (JavaScript callers get no type checks), and the images they
 * name, as jobs.
 */
import type { Writable } from 'node:stream';
import type { PullOptions } from '../api/options.js';
import { FrozenError } from '../errors.js';
import { assertImageList, distinctReferences, parseReference } from '../reference/index.js';
import type { LockedImage } from '../lockfile/index.js';
import type { PullJob } from './context.js';

/** Options of the wrong shape, or that contradict each other, are refused with one line. */
export function checkPullOptions(options: PullOptions): void {
  const refuse = (what: string) => {
    throw new FrozenError('usage', what);
  };
  if (!options.lock || options.images !== undefined) assertImageList(options.images);
  const { output, format, protocol, concurrency, perHostConcurrency, segments, segmentThreshold, onEvent } = options;
  if (output !== undefined && typeof output !== 'string' && typeof (output as Partial<Writable>).write !== 'function')
    refuse('output must be a path or a writable stream');
  if (format !== undefined && !['dir', 'tar', 'oci'].includes(format))
    refuse(`format must be dir, tar or oci, not ${JSON.stringify(format)}`);
  if (protocol !== undefined && !['v1', 'v2', 'auto'].includes(protocol))
    refuse(`protocol must be v1, v2 or auto, not ${JSON.stringify(protocol)}`);
  for (const [name, value] of Object.entries({ concurrency, perHostConcurrency, segments, segmentThreshold })) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0))
      refuse(`${name} must be a positive integer, not ${JSON.stringify(value)}`);
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') refuse('onEvent must be a function');
  if (format === 'oci' && options.decompress)
    refuse("format: 'oci' keeps blobs as the registry serves them; the decompress option does not apply");
  if (options.includeReferrers && format !== 'oci')
    refuse("referrers are kept in OCI layouts: the includeReferrers option needs format: 'oci'");
  if (options.includeReferrers && options.offline)
    refuse('referrers are found by asking the registry: the includeReferrers option does not apply offline');
  if (options.lock && (options.images?.length ?? 0) > 0) refuse('give images or a lock file, not both');
  if (options.lock && options.platform !== undefined)
    refuse('a lock file pins the platform of each image: platform does not apply');
  if (options.lock && protocol === 'v1') refuse("lock files hold v2 images: protocol: 'v1' does not apply");
  if (options.offline && protocol === 'v1')
    refuse("offline pulls read v2 images from the cache: protocol: 'v1' does not apply");
}

/** The images to pull, each once: from the lock file, or the references given. */
export function pullJobs(options: PullOptions): PullJob[] {
  const wanted: PullJob[] = options.lock
    ? lockedJobs(options.lock.images)
    : (options.images ?? []).map((image) => ({ ref: parseReference(image) }));
  const undigested = options.offline && !options.lock && wanted.find((job) => !job.ref.digest);
  if (undigested) {
    throw new FrozenError(
      'usage',
      `offline pulls need a lock file or references with a digest (${undigested.ref.original} has none)`,
    );
  }
  const jobs = distinctReferences(wanted, (job) => job.ref);
  if (jobs.length === 0) throw new FrozenError('usage', 'no image given');
  return jobs;
}

/** A lock file's images, one job per reference: the entries of one reference are its platforms, pulled together. */
function lockedJobs(images: readonly LockedImage[]): PullJob[] {
  const byReference = new Map<string, [LockedImage, ...LockedImage[]]>();
  for (const image of images) {
    const same = byReference.get(image.reference);
    if (same) same.push(image);
    else byReference.set(image.reference, [image]);
  }
  return [...byReference.values()].map((locked) => ({ ref: parseReference(locked[0].reference), locked }));
}
