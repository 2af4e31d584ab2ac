/**
 * From verified blobs to what the writers take (StagedImage): the config checked against the layers, layers
 * decompressed where the output wants them so, and the manifests frozen made for converted images kept.
 */
import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import type { ConvertedImage } from '../convert/schema1.js';
import { digestOf, parseDigest, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { StagedImage } from '../layout/writer.js';
import type { SourcedLayer } from '../layout/docker-format.js';
import { FOREIGN_LAYER_MEDIA_TYPES, ZSTD_LAYER_MEDIA_TYPES, type Descriptor } from '../manifest/index.js';
import type { ImageReference } from '../reference/index.js';
import type { BlobCache } from '../cache/blob-cache.js';
import { decompressedLayer, LAYERS_DECOMPRESSED_AT_ONCE } from '../transfer/decompress.js';
import { counted } from '../util/counted.js';
import { parseJson } from '../util/json-file.js';
import { allOrStop } from '../util/settle.js';

/** An image manifest kept in the cache, as the writers take it (OCI layouts need it). */
export type KeptManifest = NonNullable<StagedImage['manifest']>;

/** An image whose config and layers are verified in the cache, as the output writers need it. */
export interface ImageParts {
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly manifest?: StagedImage['manifest'];
  readonly legacy?: StagedImage['legacy'];
}

/**
 * A config and manifest frozen made (for schema1 and v1 images) enter the cache like verified blobs: the config for
 * the writers, the manifest for OCI layouts. Returns the manifest as the writers take it.
 */
export async function keepConvertedImage(cache: BlobCache, converted: ConvertedImage): Promise<KeptManifest> {
  await cache.putBytes(converted.manifest.config.digest, converted.config);
  const digest = digestOf(converted.manifestBytes);
  await cache.putBytes(digest, converted.manifestBytes);
  return { digest, mediaType: converted.manifest.mediaType, path: cache.blobPath(digest) };
}

/** Which layers are written uncompressed (checked against their diff IDs): all, the zstd ones, or none. */
export type LayerDecompression = 'all' | 'zstd' | 'none';

/**
 * Checks the config against the layers (docker load refuses a mismatch) and describes the image for the writers:
 * tag, files in the cache (some layers decompressed first, see `decompress`), manifest.
 */
export async function stageImage(
  ref: ImageReference,
  context: { readonly cache: BlobCache; readonly decompress: LayerDecompression; readonly signal?: AbortSignal },
  parts: ImageParts,
): Promise<StagedImage> {
  const { cache, decompress } = context;
  const { config, layers } = parts;
  const { text, diffIds } = await readConfig(cache.blobPath(config.digest), layers.length);
  const plain = (layer: Descriptor) =>
    decompress === 'all' || (decompress === 'zstd' && ZSTD_LAYER_MEDIA_TYPES.has(layer.mediaType));
  // A few at a time: each holds two files open, and decompression has only so many threads anyway.
  const limit = pLimit(LAYERS_DECOMPRESSED_AT_ONCE);
  const layerPaths = await allOrStop(context.signal, (signal) =>
    layers.map((layer, i) =>
      plain(layer)
        ? limit(() => decompressedLayer(cache, layer.digest, diffIds[i]!, signal))
        : Promise.resolve(cache.blobPath(layer.digest)),
    ),
  );
  return {
    ...(ref.tag !== undefined && { tag: { name: ref.familiarName, tag: ref.tag } }),
    canonical: `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}`,
    ...(parts.manifest && { manifest: parts.manifest }),
    ...(parts.legacy && { legacy: parts.legacy }),
    config: { digest: config.digest, text, path: cache.blobPath(config.digest) },
    layers: layers.map((layer, i) => ({
      digest: layer.digest,
      path: layerPaths[i]!,
      ...foreignSource(layer, diffIds[i]!),
    })),
  };
}

/**
 * A foreign layer with `urls` is kept with its descriptor for `LayerSources` (docker-format.ts), as `docker pull`
 * keeps it; its blob may have come from the registry or a mirror all the same.
 */
function foreignSource(layer: Descriptor, diffId: Digest): SourcedLayer {
  if (!FOREIGN_LAYER_MEDIA_TYPES.has(layer.mediaType) || !layer.urls) return {};
  const descriptor = {
    mediaType: layer.mediaType,
    size: layer.size,
    digest: layer.digest.value,
    urls: layer.urls.map((url) => url.href),
  };
  return { source: { diffId: diffId.value, descriptor } };
}

/** The config must be JSON whose `rootfs.diff_ids` match the layers one to one, or `docker load` will refuse it. */
async function readConfig(path: string, layerCount: number): Promise<{ text: string; diffIds: Digest[] }> {
  const text = await readFile(path, 'utf8');
  const config = parseJson(text, 'image config') as { rootfs?: { diff_ids?: unknown } } | null;
  if (typeof config !== 'object' || config === null || Array.isArray(config))
    throw new FrozenError('protocol', 'image config is not a JSON object');
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layerCount) {
    throw new FrozenError(
      'protocol',
      `image config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff IDs for ${counted(layerCount, 'layer')}; docker load would refuse it`,
    );
  }
  return { text, diffIds: diffIds.map((id) => parseDigest(String(id))) };
}
