import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createDigester, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { BlobStore } from '../store/blob-store.js';
import { acquireLock } from '../store/lock.js';

/**
 * The uncompressed form of a layer (what `docker save` stores), kept in the cache under its own digest, the diff ID:
 * a gzip layer is decompressed and must hash to the config's diff ID; a plain tar layer already is its diff ID.
 */
export async function decompressedLayer(store: BlobStore, blob: Digest, diffId: Digest, signal?: AbortSignal): Promise<string> {
  if (blob.value === diffId.value || (await store.has(diffId))) return store.blobPath(diffId);
  await store.prepare(diffId);
  const release = await acquireLock(store.lockPath(diffId), signal ? { signal } : {});
  try {
    if (await store.has(diffId)) return store.blobPath(diffId);
    const hash = createDigester(diffId.algorithm);
    const hashing = new Transform({ transform: (chunk: Buffer, _encoding, callback) => (hash.update(chunk), callback(null, chunk)) });
    try {
      await pipeline(createReadStream(store.blobPath(blob)), createGunzip(), hashing, createWriteStream(store.partialPath(diffId)), signal ? { signal } : {});
    } catch (error) {
      throw new FrozenError('integrity', `layer ${blob.value} cannot be decompressed: ${(error as Error).message}`, { cause: error });
    }
    const hex = hash.digest('hex');
    if (hex !== diffId.hex) {
      throw new FrozenError('integrity', `layer ${blob.value} decompresses to ${diffId.algorithm}:${hex}, not the config's diff ID ${diffId.value}`);
    }
    await store.commitPartial(diffId);
    return store.blobPath(diffId);
  } finally {
    await release();
  }
}
