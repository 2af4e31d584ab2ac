import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import pLimit from 'p-limit';
import { historyImage } from './convert/schema1.js';
import { parseDigest, type Digest } from './digest.js';
import { FrozenError } from './errors.js';
import type { Descriptor } from './manifest/index.js';
import type { BlobSource, PullContext, PulledImage, StagedPull } from './pull.js';
import { canonicalReference, familiarTag, type ImageReference } from './reference/index.js';
import type { V1ImageJson, V1Registry } from './registry/v1.js';
import { countEndpoints, downloadEvents } from './pull-events.js';
import { keepConvertedImage, stageImage } from './stage.js';
import type { BlobStore } from './store/blob-store.js';
import { readV1Record, writeV1Record, type V1Layer } from './store/v1-record.js';
import { ingestInto, rejectPartial, type IngestTarget } from './transfer/ingest.js';
import { LayerHash } from './transfer/layer-hash.js';
import { makeDirectory } from './util/make-directory.js';
import { allOrStop } from './util/settle.js';
import { sharedFlight } from './transfer/single-flight.js';

/**
 * Pulls an image from a v1 registry: tag → image ID (or the `@<id>` given), its ancestry, every image's json, and
 * the layers, in parallel, resumable and through the cache like v2 blobs. The output keeps the v1 directories
 * (named by the v1 IDs, holding the registry's json) and adds what current loaders need: an image config made from
 * the jsons with the diff IDs computed while the layers downloaded, and a manifest.json entry.
 */
const GZIP_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const TAR_LAYER = 'application/vnd.docker.image.rootfs.diff.tar';
const JSON_REQUESTS_AT_ONCE = 8;

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
  const { signal } = context;
  const id = ref.imageId ?? (await registry.tag(ref.tag!, signal));
  const ancestry = await registry.ancestry(id, signal);
  const limit = pLimit(JSON_REQUESTS_AT_ONCE);
  const jsons = await allOrStop(signal, (stop) =>
    ancestry.map((imageId) => limit(() => registry.imageJson(imageId, stop))),
  );
  assertChain(ancestry, jsons);
  const sizes = await allOrStop(signal, (stop) =>
    jsons.map(async (json) => json.layerSize ?? limit(() => registry.layerSize(json.id, stop))),
  );
  const identity = {
    digest: `v1:${id}`,
    manifestDigest: `v1:${id}`,
    layers: ancestry.length,
    endpoint: ref.registry,
  };
  context.emit({
    type: 'resolved',
    image: ref.original,
    ...identity,
    imageId: `v1:${id}`,
    bytes: sizes.reduce((a, b) => a + b, 0),
  });

  const fetched = await allOrStop(signal, (stop) =>
    jsons.map((json, i) => fetchLayer(json.id, sizes[i]!, ref, registry, { ...context, signal: stop })),
  );
  // Base first from here on, as manifests list layers.
  const layers = fetched.map((f) => f.layer).reverse();
  const descriptors: Descriptor[] = layers.map((layer) => ({
    digest: parseDigest(layer.digest),
    size: layer.size,
    mediaType: layer.compressed ? GZIP_LAYER : TAR_LAYER,
  }));
  const entries = [...jsons].reverse().map((json, i) => ({ blob: descriptors[i]!.digest, v1: json.fields }));
  const image = historyImage(
    entries,
    descriptors,
    layers.map((layer) => parseDigest(layer.diffId)),
  );
  const staged = await stageImage(ref, context, {
    config: image.manifest.config,
    layers: descriptors,
    manifest: await keepConvertedImage(context.store, image),
    legacy: { ids: [...ancestry].reverse(), json: [...jsons].reverse().map((json) => json.bytes) },
  });
  const repoTag = familiarTag(ref);
  const pulled: PulledImage = {
    reference: ref.original,
    canonical: canonicalReference(ref),
    ...(repoTag && { repoTag }),
    ...identity,
    imageId: image.manifest.config.digest.value,
    protocol: 'v1',
    bytes: image.config.length + sizes.reduce((a, b) => a + b, 0),
    downloadedBytes: fetched.reduce((sum, f) => sum + f.bytes, 0),
    blobEndpoints: countEndpoints(fetched),
  };
  return { staged, pulled };
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
export interface FetchedLayer {
  readonly layer: V1Layer;
  readonly bytes: number;
  readonly endpoint?: string;
}

/** One layer, once per run however many images share it (single-flight), through the scheduler. */
function fetchLayer(
  id: string,
  size: number,
  ref: ImageReference,
  registry: V1Registry,
  context: PullContext,
): Promise<FetchedLayer> {
  const key = `v1:${ref.registry}/${id}`;
  const pending = sharedFlight(context.v1Layers, key, context.signal, () =>
    context.scheduler.run(ref.registry, size, () => downloadLayer(id, size, ref, registry, context)),
  );
  return pending.then((result) => {
    // A layer downloaded now is fresh; one found in the cache was marked used, for prune, as it was found.
    const source: BlobSource = result.endpoint ? 'registry' : 'cache';
    context.emit({
      type: 'blob-done',
      image: ref.original,
      kind: 'layer',
      digest: `v1:${id}`,
      size,
      source,
      bytes: result.bytes,
      ...(result.endpoint && { endpoint: result.endpoint }),
    });
    return result;
  });
}

async function downloadLayer(
  id: string,
  size: number,
  ref: ImageReference,
  registry: V1Registry,
  context: PullContext,
): Promise<FetchedLayer> {
  const { signal } = context;
  const target = v1LayerTarget(context.store, ref.registry, id, size);
  if (await target.done()) return { layer: target.layer(), bytes: 0 };
  const events = downloadEvents(context.emit, { image: ref.original, kind: 'layer', digest: `v1:${id}`, size }, signal);
  const result = await ingestInto(target, await registry.layerEndpoints(id, signal), events.options);
  events.flush();
  return { layer: target.layer(), bytes: result.received, ...(result.endpoint && { endpoint: result.endpoint.name }) };
}

/**
 * A v1 layer has no digest to check before it arrives: its partial and lock are named by registry and image ID,
 * its bytes enter the cache under the digest they hash to, and a record maps the image ID to that digest and to
 * the diff ID computed on the way. A gzip layer's CRC is checked; the size must be the one the registry gave.
 */
function v1LayerTarget(
  store: BlobStore,
  registry: string,
  id: string,
  size: number,
): IngestTarget<LayerHash> & { layer(): V1Layer } {
  // The registry host was validated by the reference grammar; ':' and brackets are not wanted in a file name.
  const base = join(store.root, 'v1', registry.replace(/[^A-Za-z0-9.-]/g, '_'), id);
  const partial = `${base}.partial`;
  const name = `layer of v1 image ${id}`;
  let known: V1Layer | undefined;
  return {
    name,
    partial,
    lock: `${base}.lock`,
    size,
    newHash: () => new LayerHash(),
    prepare: async () => void (await makeDirectory(dirname(base))),
    done: async () => {
      const record = await readV1Record(`${base}.json`);
      if (record && record.size === size && (await store.use(parseDigest(record.digest), size))) known = record;
      return known !== undefined;
    },
    complete: async (hash, resumed) => {
      let hex: string;
      try {
        hex = await hash.finish();
      } catch (error) {
        return rejectPartial(partial, `${name}: ${(error as Error).message}`, resumed);
      }
      const digest: Digest = parseDigest(`sha256:${hex}`);
      await store.adopt(partial, digest);
      await rm(partial, { force: true });
      known = { digest: digest.value, size, diffId: hash.diffId, compressed: hash.compressed };
      await writeV1Record(`${base}.json`, known);
    },
    layer: () => {
      if (!known) throw new Error(`${name}: not in the cache`);
      return known;
    },
  };
}
