/** Layers decompressed (gzip, zstd) to their diff IDs: into the cache, or just hashed. */
import { createReadStream, createWriteStream } from 'node:fs';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { createDigester, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { BlobCache } from '../cache/blob-cache.js';
import { acquireLock } from '../util/file-lock.js';
import { createZstdDecompress } from './zstd.js';

/** The compressions a layer can have. */
export type Compression = 'gzip' | 'zstd';

/**
 * Layers read through a decompressor at once: each holds files open, and zlib's work runs on libuv's four
 * threads anyway.
 */
export const LAYERS_DECOMPRESSED_AT_ONCE = 4;

/** What the first bytes say: gzip, zstd, or neither (a plain tar). */
export function compressionOf(head: Uint8Array): Compression | undefined {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return undefined;
}

function decompressor(compression: Compression): Transform {
  return compression === 'gzip' ? createGunzip() : createZstdDecompress();
}

/** The bytes again, with the compression their first chunk shows (none: a plain tar). */
async function sniffed(
  input: AsyncIterable<Buffer>,
): Promise<{ bytes: Readable; compression: Compression | undefined }> {
  const iterator = input[Symbol.asyncIterator]();
  const first = await iterator.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : first.value;
  const bytes = Readable.from(
    (async function* () {
      if (head.length > 0) yield head;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    })(),
  );
  return { bytes, compression: compressionOf(head) };
}

/**
 * The uncompressed form of a layer (what `docker save` stores), kept in the cache under its own digest, the diff ID:
 * a gzip or zstd layer is decompressed and must hash to the config's diff ID; a plain tar layer already is its diff
 * ID.
 */
export async function decompressedLayer(
  store: BlobCache,
  blob: Digest,
  diffId: Digest,
  signal?: AbortSignal,
): Promise<string> {
  if (blob.value === diffId.value) return store.blobPath(diffId);
  if (await store.use(diffId)) return store.blobPath(diffId);
  await store.prepare(diffId);
  const release = await acquireLock(store.lockPath(diffId), signal ? { signal } : {});
  try {
    if (await store.has(diffId)) return store.blobPath(diffId);
    const hash = createDigester(diffId.algorithm);
    const hashing = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => (hash.update(chunk), callback(null, chunk)),
    });
    try {
      const { bytes, compression } = await sniffed(createReadStream(store.blobPath(blob)));
      const output = createWriteStream(store.partialPath(diffId));
      const options = signal ? { signal } : {};
      await (compression
        ? pipeline(bytes, decompressor(compression), hashing, output, options)
        : pipeline(bytes, hashing, output, options));
    } catch (error) {
      throw new FrozenError('integrity', `layer ${blob.value} cannot be decompressed: ${(error as Error).message}`, {
        cause: error,
      });
    }
    const hex = hash.digest('hex');
    if (hex !== diffId.hex) {
      throw new FrozenError(
        'integrity',
        `layer ${blob.value} decompresses to ${diffId.algorithm}:${hex}, not the config's diff ID ${diffId.value}`,
      );
    }
    await store.commitPartial(diffId);
    return store.blobPath(diffId);
  } finally {
    await release();
  }
}

/** The diff ID of a layer file: sha256 of its uncompressed bytes. Gzip and zstd are decompressed; plain tar is hashed as it is. */
export async function diffIdOf(input: AsyncIterable<Buffer>): Promise<string> {
  const { bytes, compression } = await sniffed(input);
  const hash = createHash('sha256');
  const sink = new Writable({ write: (chunk: Buffer, _encoding, callback) => (hash.update(chunk), callback()) });
  try {
    await (compression ? pipeline(bytes, decompressor(compression), sink) : pipeline(bytes, sink));
  } catch (error) {
    throw compression === 'gzip' ? new Error(`corrupt gzip (${(error as Error).message})`) : error;
  }
  return `sha256:${hash.digest('hex')}`;
}
