/**
 * The one path every blob of a pull takes, v2 blobs and v1 layers alike: fetched once per run however many images
 * want it (single-flight), in a slot of the scheduler, and reported with `blob-done` to each image that wanted it.
 * `fetchBlob` is that path for a v2 blob: found in the cache, or in the output (re-verified), or downloaded.
 */
import type { BlobKind } from '../api/events.js';
import { fileMatches } from '../cache/verify-file.js';
import { FrozenError, throwIfAborted } from '../errors.js';
import type { Descriptor } from '../manifest/index.js';
import type { Remote } from '../registry/remote.js';
import { ingest } from '../transfer/ingest.js';
import { sharedFlight } from '../transfer/single-flight.js';
import type { Fetched, PullContext } from './context.js';
import { downloadEvents, type ReportedBlob } from './events.js';

export type { Fetched } from './context.js';

/** A blob one image wants: as events name it, the key that names it in the run, and the host it counts against. */
export interface WantedBlob extends ReportedBlob {
  /** Its digest, or `v1:<registry>/<image ID>` for a v1 layer. */
  readonly key: string;
  readonly host: string;
}

/**
 * Gets the blob through `obtain` once per run (the first image to want it starts it; the others wait for it), in a
 * slot of the scheduler. An image that joined another's download gets it as `shared`, with no bytes of its own:
 * the bytes count once, with the image that started it. Reporting it done is the caller's, once it has done what
 * it must with the result.
 */
export async function fetchOnce<F extends Fetched>(
  context: PullContext,
  blob: WantedBlob,
  obtain: () => Promise<F>,
): Promise<F> {
  const start = () => context.scheduler.run(blob.host, blob.size, obtain);
  // The key names one kind of blob: a digest is always a v2 blob's, a `v1:` key a v1 layer's.
  const { value, started } = await sharedFlight(context.inFlight, blob.key, context.signal, start);
  const downloaded = value.source === 'registry' || value.source === 'mirror';
  if (started || !downloaded) return value as F;
  const { endpoint: _endpoint, ...shared } = value;
  return { ...shared, source: 'shared', bytes: 0 } as F;
}

/** `blob-done` for the image that wanted the blob. */
export function reportDone(context: PullContext, blob: ReportedBlob, fetched: Fetched): void {
  const { source, bytes, endpoint } = fetched;
  context.downloaded.bytes += bytes;
  context.emit({ type: 'blob-done', ...blob, source, bytes, ...(endpoint && { endpoint }) });
}

/** Who wants a v2 blob: an image, pulled from `remote`. */
export interface BlobOwner {
  readonly image: string;
  readonly remote: Remote;
  readonly context: PullContext;
}

/**
 * Makes sure a verified v2 blob is in the cache: it is there already, or the output holds it at `present`
 * (verified, then linked in), or it is downloaded. The cache's lock does across processes what single-flight does
 * within this one.
 */
export async function fetchBlob(
  descriptor: Descriptor,
  kind: BlobKind,
  present: string | undefined,
  owner: BlobOwner,
): Promise<Fetched> {
  const { context, image } = owner;
  const blob = { image, kind, digest: descriptor.digest.value, size: descriptor.size };
  const wanted = { ...blob, key: blob.digest, host: owner.remote.host };
  const result = await fetchOnce(context, wanted, () => obtain(descriptor, kind, present, owner));
  // A blob downloaded now is fresh, and one found in the cache was marked used as it was found; one taken from the
  // output keeps that file's time, so it is marked now, for prune.
  if (result.source === 'output') await context.cache.touch(descriptor.digest);
  reportDone(context, blob, result);
  return result;
}

async function obtain(
  descriptor: Descriptor,
  kind: BlobKind,
  present: string | undefined,
  owner: BlobOwner,
): Promise<Fetched> {
  const { context, image, remote } = owner;
  const { cache } = context;
  const digest = descriptor.digest.value;
  throwIfAborted(context.signal);
  if (await cache.use(descriptor.digest, descriptor.size)) return { source: 'cache', bytes: 0 };
  if (present && (await fileMatches(present, descriptor.digest, descriptor.size))) {
    await cache.adopt(present, descriptor.digest);
    return { source: 'output', bytes: 0 };
  }
  if (context.offline) throw new FrozenError('not-found', `offline: blob ${digest} is not in the cache`);
  const events = downloadEvents(context.emit, { image, kind, digest, size: descriptor.size }, context.signal);
  const endpoints = remote.blobEndpoints(digest, context.signal, descriptor.urls);
  const result = await ingest(cache, descriptor, endpoints, { ...events.options, segments: context.segments });
  events.flush();
  const { endpoint } = result;
  return {
    source: endpoint?.mirror ? 'mirror' : result.source,
    bytes: result.received,
    ...(endpoint && { endpoint: endpoint.name }),
  };
}
