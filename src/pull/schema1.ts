/**
 * A schema1 image becomes a modern one: its layers are sized (HEAD) and fetched, their diff IDs computed, and a
 * config made from the history (convert/schema1.ts); the config enters the cache like any verified blob.
 */
import { createReadStream } from 'node:fs';
import pLimit from 'p-limit';
import { historyImage, schema1Entries, schema1Layers } from '../convert/schema1.js';
import { parseDigest } from '../digest.js';
import type { ImageManifest, Schema1Manifest } from '../manifest/index.js';
import type { ImageReference } from '../reference/index.js';
import type { Remote } from '../registry/remote.js';
import { diffIdOf, LAYERS_DECOMPRESSED_AT_ONCE } from '../transfer/decompress.js';
import { allOrStop, allSettledOrThrow } from '../util/settle.js';
import { fetchBlob } from './blobs.js';
import type { PullContext } from './context.js';
import { keepConvertedImage, type KeptManifest } from './stage.js';

/** The converted image, and its manifest as kept in the cache. */
export interface ConvertedPull {
  readonly image: ImageManifest;
  readonly manifest: KeptManifest;
}

/** Converts a schema1 image (its layers fetched through the run) into an image with a config. */
export async function convertSchema1(
  manifest: Schema1Manifest,
  ref: ImageReference,
  remote: Remote,
  context: PullContext,
): Promise<ConvertedPull> {
  context.emit({ type: 'converted', image: ref.original, from: 'schema1' });
  const entries = schema1Entries(manifest);
  const blobs = [...new Set(entries.filter((entry) => !entry.v1.throwaway).map((entry) => entry.blob.value))];
  const sizes = new Map(
    await allOrStop(context.signal, (signal) =>
      blobs.map(async (digest) => [digest, await remote.blobSize(digest, signal)] as const),
    ),
  );
  const layers = schema1Layers(entries, sizes);
  await allOrStop(context.signal, (signal) =>
    layers.map((layer) =>
      fetchBlob(layer, 'layer', undefined, { image: ref.original, remote, context: { ...context, signal } }),
    ),
  );
  const limit = pLimit(LAYERS_DECOMPRESSED_AT_ONCE);
  const layerFile = (digest: ImageManifest['layers'][number]['digest']) =>
    createReadStream(context.cache.blobPath(digest)) as AsyncIterable<Buffer>;
  const diffIds = await allSettledOrThrow(
    layers.map((layer) => limit(async () => parseDigest(await diffIdOf(layerFile(layer.digest))))),
  );
  const converted = historyImage(entries, layers, diffIds);
  return { image: converted.manifest, manifest: await keepConvertedImage(context.cache, converted) };
}
