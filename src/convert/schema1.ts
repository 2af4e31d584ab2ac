/**
 * schema1 → an image with a config, as containers/image converts it, so the result loads on current Docker:
 * layers base first without the empty ("throwaway") ones, history from each `v1Compatibility`, the top entry's
 * fields as the config, and `rootfs.diff_ids` computed from the layers. The image ID is the new config's digest.
 */
import { digestOf, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import { MediaType, type Descriptor, type ImageManifest, type Schema1Manifest } from '../manifest/index.js';

/** The fields of a schema1 history entry (`v1Compatibility`) that the conversion reads. */
interface V1Compatibility {
  readonly created?: string;
  readonly author?: string;
  readonly comment?: string;
  readonly throwaway?: boolean;
  readonly container_config?: { readonly Cmd?: readonly string[] };
  readonly [key: string]: unknown;
}

const LAYER_MEDIA_TYPE = 'application/vnd.docker.image.rootfs.diff.tar.gzip';

/** An image frozen made: its config bytes, and a Docker schema2 manifest as an object and as bytes. */
export interface ConvertedImage {
  readonly config: Buffer;
  readonly manifest: ImageManifest;
  readonly manifestBytes: Buffer;
}

/** One history entry of a schema1 manifest: its layer blob and its `v1Compatibility` fields. */
export interface Schema1Entry {
  readonly blob: Digest;
  readonly v1: V1Compatibility;
}

/** History entries base first, with their blobs. */
export function schema1Entries(manifest: Schema1Manifest): Schema1Entry[] {
  return manifest.history
    .map((text, i) => {
      try {
        return { blob: manifest.fsLayers[i]!, v1: JSON.parse(text) as V1Compatibility };
      } catch {
        throw new FrozenError('protocol', `schema1 history entry ${i} is not JSON`);
      }
    })
    .reverse();
}

/** The layers that carry content (throwaway entries are empty), base first, sized by the caller. */
export function schema1Layers(entries: readonly Schema1Entry[], sizes: ReadonlyMap<string, number>): Descriptor[] {
  return entries
    .filter((entry) => !entry.v1.throwaway)
    .map((entry) => ({ digest: entry.blob, size: sizes.get(entry.blob.value)!, mediaType: LAYER_MEDIA_TYPE }));
}

/**
 * The config (bytes) and a Docker schema2 manifest (object and bytes) for v1 history entries, base first: a schema1
 * manifest's, or a v1 registry's image jsons (each of which has a layer).
 */
export function historyImage(
  entries: readonly Schema1Entry[],
  layers: readonly Descriptor[],
  diffIds: readonly Digest[],
): ConvertedImage {
  const top = entries.at(-1)!.v1;
  const {
    id: _id,
    parent: _parent,
    Size: _size,
    throwaway: _throwaway,
    parent_id: _parentId,
    layer_id: _layerId,
    ...fields
  } = top as Record<string, unknown>;
  const config = Buffer.from(
    JSON.stringify({
      ...fields,
      rootfs: { type: 'layers', diff_ids: diffIds.map((d) => d.value) },
      history: entries.map(({ v1 }) => ({
        ...(v1.created && { created: v1.created }),
        ...(v1.author && { author: v1.author }),
        created_by: (v1.container_config?.Cmd ?? []).join(' '),
        ...(v1.comment && { comment: v1.comment }),
        ...(v1.throwaway && { empty_layer: true }),
      })),
    }),
  );
  const configDescriptor = { mediaType: MediaType.dockerConfig, digest: digestOf(config), size: config.length };
  const manifestBytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: describe(configDescriptor),
      layers: layers.map(describe),
    }),
  );
  return {
    config,
    manifest: { kind: 'manifest', mediaType: MediaType.dockerManifest, config: configDescriptor, layers },
    manifestBytes,
  };
}

function describe(descriptor: Descriptor) {
  return { mediaType: descriptor.mediaType, size: descriptor.size, digest: descriptor.digest.value };
}
