/**
 * A v1 layer as a download target. It has no digest to check before it arrives: its partial and lock are named by
 * registry and image ID (the cache says where), its bytes enter the cache under the digest they hash to, and a
 * record maps the image ID to that digest and to the diff ID computed on the way. A gzip layer's CRC is checked;
 * the size must be the one the registry gave.
 */
import { rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { BlobCache } from '../cache/blob-cache.js';
import { readV1Record, writeV1Record, type V1Layer } from '../cache/v1-record.js';
import { parseDigest } from '../digest.js';
import { makeDirectory } from '../util/make-directory.js';
import { rejectPartial, type IngestTarget } from './ingest.js';
import { LayerHash } from './layer-hash.js';

/** The target, and the layer it holds once `done` or `complete` found or put it in the cache. */
export type V1LayerTarget = IngestTarget<LayerHash> & { layer(): V1Layer };

/** The download target of the v1 layer `id` of `registry`, of `size` bytes. */
/** `size`: the layer's size when the registry said it (`X-Docker-Size`, or a HEAD); undefined when it did not. */
export function v1LayerTarget(cache: BlobCache, registry: string, id: string, size: number | undefined): V1LayerTarget {
  const files = cache.v1LayerFiles(registry, id);
  const name = `layer of v1 image ${id}`;
  let known: V1Layer | undefined;
  return {
    name,
    partial: files.partial,
    lock: files.lock,
    size,
    newHash: () => new LayerHash(),
    prepare: async () => void (await makeDirectory(dirname(files.partial))),
    done: async () => {
      const record = await readV1Record(files.record);
      const sized = record && (size === undefined || record.size === size);
      if (record && sized && (await cache.use(parseDigest(record.digest), record.size))) known = record;
      return known !== undefined;
    },
    complete: async (hash, resumed) => {
      let hex: string;
      try {
        hex = await hash.finish();
      } catch (error) {
        return rejectPartial(files.partial, `${name}: ${(error as Error).message}`, resumed);
      }
      const digest = parseDigest(`sha256:${hex}`);
      const received = (await stat(files.partial)).size;
      await cache.adopt(files.partial, digest);
      await rm(files.partial, { force: true });
      known = { digest: digest.value, size: received, diffId: hash.diffId, compressed: hash.compressed };
      await writeV1Record(files.record, known);
    },
    layer: () => {
      if (!known) throw new Error(`${name}: not in the cache`);
      return known;
    },
  };
}
