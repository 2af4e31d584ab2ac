/**
 * Pulls an image from a v1 registry: tag → image ID (or the `@<id>` given), its ancestry, every image's json, and
 * the layers, in parallel, resumable and through the cache like v2 blobs (the same path: blobs.ts). The output
 * keeps the v1 directories (named by the v1 IDs, holding the registry's json) and adds what current loaders need:
 * an image config made from the jsons with the diff IDs computed while the layers downloaded, and a manifest.json
 * entry.
 */
import pLimit from 'p-limit';
import type { PulledImage } from '../api/results.js';
import type { V1Layer } from '../cache/v1-record.js';
import { historyImage } from '../convert/schema1.js';
import { parseDigest } from '../digest.js';
import { asFrozenError, FrozenError } from '../errors.js';
import type { Descriptor } from '../manifest/index.js';
import { canonicalReference, familiarTag, type ImageReference } from '../reference/index.js';
import type { V1ImageJson, V1Registry } from '../registry/v1.js';
import { ingestInto } from '../transfer/ingest.js';
import { v1LayerTarget } from '../transfer/v1-layer.js';
import { allOrStop } from '../util/settle.js';
import { fetchOnce, reportDone, type Fetched } from './blobs.js';
import type { PullContext, StagedPull } from './context.js';
import { countEndpoints, downloadEvents } from './events.js';
import { keepConvertedImage, stageImage } from './stage.js';

const GZIP_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const TAR_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
const JSON_REQUESTS_AT_ONCE = 8;

/**
 * An image's v1 metadata: its ID, ancestry (top first), each image's json and each layer's size, where the
 * registry said it (`X-Docker-Size`, else a HEAD of the layer).
 */
interface V1Image {
  readonly id: string;
  readonly ancestry: readonly string[];
  readonly jsons: readonly V1ImageJson[];
  readonly sizes: readonly (number | undefined)[];
}

/** One image from a v1 registry, staged for the writer. */
export async function pullV1Image(
  ref: ImageReference,
  registry: V1Registry,
  context: PullContext,
): Promise<StagedPull> {
  if (context.offline)
    throw new FrozenError('unsupported', 'a v1 image cannot be pulled offline: lock files hold v2 images only');
  if (ref.digest)
    throw new FrozenError(
      'reference',
      `${ref.registry} is a v1 registry, which has no manifest digests: pin a v1 image ID with name:tag@<64 hex>`,
    );
  if (context.signatures.keysFor(`${ref.registry}/${ref.repository}`).length > 0) {
    throw new FrozenError('signature', 'a v1 image has no manifest digest a signature could cover');
  }
  const v1 = await describeV1Image(ref, registry, context.signal);
  const { id, ancestry, jsons, sizes } = v1;
  const identity = { digest: `v1:${id}`, manifestDigest: `v1:${id}`, layers: ancestry.length, endpoint: ref.registry };
  // What is known before the download: a layer whose size the registry did not say counts once it is here.
  const bytes = sizes.reduce<number>((a, b) => a + (b ?? 0), 0);
  context.emit({ type: 'resolved', image: ref.original, ...identity, imageId: `v1:${id}`, bytes });
  const fetched = await allOrStop(context.signal, (stop) =>
    jsons.map((json, i) => fetchLayer(json.id, sizes[i], ref, registry, { ...context, signal: stop })),
  );
  const { staged, config } = await stageV1Image(ref, v1, fetched, context);
  const repoTag = familiarTag(ref);
  const pulled: PulledImage = {
    reference: ref.original,
    canonical: canonicalReference(ref),
    ...(repoTag && { repoTag }),
    ...identity,
    imageId: config.digest,
    protocol: 'v1',
    configBytes: config.size,
    bytes: config.size + fetched.reduce((sum, f) => sum + f.layer.size, 0),
    downloadedBytes: fetched.reduce((sum, f) => sum + f.bytes, 0),
    blobEndpoints: countEndpoints(fetched),
  };
  const blobs = [config, ...fetched.map((f) => f.layer)].map(({ digest, size }) => ({ digest, size }));
  return { staged, pulled, blobs };
}

/** The image ID a reference names, its ancestry, every json (checked to form that chain) and every layer's size. */
async function describeV1Image(ref: ImageReference, registry: V1Registry, signal?: AbortSignal): Promise<V1Image> {
  const id = ref.imageId ?? (await registry.tag(ref.tag!, signal));
  const ancestry = await registry.ancestry(id, signal);
  const limit = pLimit(JSON_REQUESTS_AT_ONCE);
  const jsons = await allOrStop(signal, (stop) =>
    ancestry.map((imageId) => limit(() => registry.imageJson(imageId, stop))),
  );
  assertChain(ancestry, jsons);
  // A HEAD only learns a size for progress: a registry that cannot answer it (501, no Content-Length) is fine.
  const sizeOf = (layer: string, stop: AbortSignal) =>
    registry.layerSize(layer, stop).catch((error: unknown) => {
      if (asFrozenError(error).kind === 'aborted') throw error;
      return undefined;
    });
  const sizes = await allOrStop(signal, (stop) =>
    jsons.map(async (json) => json.layerSize ?? limit(() => sizeOf(json.id, stop))),
  );
  return { id, ancestry, jsons, sizes };
}

/** The layers, base first, as the writers take them, with a config made from the jsons and kept in the cache. */
async function stageV1Image(ref: ImageReference, v1: V1Image, fetched: readonly FetchedLayer[], context: PullContext) {
  const layers = fetched.map((f) => f.layer).reverse();
  const descriptors: Descriptor[] = layers.map((layer) => ({
    digest: parseDigest(layer.digest),
    size: layer.size,
    mediaType: layer.compressed ? GZIP_LAYER : TAR_LAYER,
  }));
  const jsons = [...v1.jsons].reverse();
  const entries = jsons.map((json, i) => ({ blob: descriptors[i]!.digest, v1: json.fields }));
  const diffIds = layers.map((layer) => parseDigest(layer.diffId));
  const image = historyImage(entries, descriptors, diffIds);
  const staged = await stageImage(ref, context, {
    config: image.manifest.config,
    layers: descriptors,
    manifest: await keepConvertedImage(context.cache, image),
    legacy: { ids: [...v1.ancestry].reverse(), json: jsons.map((json) => json.bytes) },
  });
  return { staged, config: { digest: image.manifest.config.digest.value, size: image.config.length } };
}

/** Each json names its parent as the next image of the ancestry; the base has none. */
function assertChain(ancestry: readonly string[], jsons: readonly V1ImageJson[]): void {
  jsons.forEach((json, i) => {
    const expected = ancestry[i + 1];
    if (json.parent !== expected) {
      throw new FrozenError(
        'integrity',
        `image ${json.id}: its json names parent ${json.parent ?? 'none'}, its ancestry ${expected ?? 'none'}`,
      );
    }
  });
}

/** A v1 layer in the cache, and what fetching it took. */
interface FetchedLayer extends Fetched {
  readonly layer: V1Layer;
}

/** One layer, on the path every blob takes: once per run however many images share it, through the scheduler. */
async function fetchLayer(
  id: string,
  size: number | undefined,
  ref: ImageReference,
  registry: V1Registry,
  context: PullContext,
): Promise<FetchedLayer> {
  // Events say 0 for a size nobody said until the layer is here; the scheduler counts it as a large blob.
  const blob = { image: ref.original, kind: 'layer' as const, digest: `v1:${id}`, size: size ?? 0 };
  const wanted = { ...blob, key: `v1:${ref.registry}/${id}`, host: ref.registry, size: size ?? Infinity };
  const result = await fetchOnce(context, wanted, () => downloadLayer(id, size, ref, registry, context));
  // A layer downloaded now is fresh; one found in the cache was marked used, for prune, as it was found.
  reportDone(context, { ...blob, size: result.layer.size }, result);
  return result;
}

async function downloadLayer(
  id: string,
  size: number | undefined,
  ref: ImageReference,
  registry: V1Registry,
  context: PullContext,
): Promise<FetchedLayer> {
  const { signal } = context;
  const target = v1LayerTarget(context.cache, ref.registry, id, size);
  if (await target.done()) return { layer: target.layer(), source: 'cache', bytes: 0 };
  const reported = { image: ref.original, kind: 'layer' as const, digest: `v1:${id}`, size: size ?? 0 };
  const events = downloadEvents(context.emit, reported, signal);
  const result = await ingestInto(target, await registry.layerEndpoints(id, signal), events.options);
  events.flush();
  const { endpoint } = result;
  return {
    layer: target.layer(),
    // ingestInto says `cache` when another process finished the layer while this one waited for its lock.
    source: endpoint ? 'registry' : 'cache',
    bytes: result.received,
    ...(endpoint && { endpoint: endpoint.name }),
  };
}
