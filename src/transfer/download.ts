import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigester } from '../digest.js';
import { FrozenError, isAbortError } from '../errors.js';
import type { Descriptor } from '../manifest/index.js';
import type { RegistryClient } from '../registry/client.js';
import { networkError } from '../registry/transport.js';

/**
 * Streams a blob to `path` while hashing it. The file is kept only if its size and digest are exactly those the
 * manifest declared; on any failure it is removed. A body that runs past the declared size is cut off at once.
 */
export async function downloadBlob(
  client: RegistryClient,
  descriptor: Descriptor,
  path: string,
  options: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {},
): Promise<void> {
  const response = await client.getBlob(descriptor.digest.value, options.signal);
  const verifier = new VerifyingStream(descriptor, options.onBytes);
  try {
    await pipeline(response.body, verifier, createWriteStream(path), options.signal ? { signal: options.signal } : {});
  } catch (error) {
    await rm(path, { force: true });
    if (error instanceof FrozenError) throw error;
    if (isAbortError(error)) throw new FrozenError('aborted', 'aborted', { cause: error });
    throw networkError(error, response.url);
  }
}

/** Passes bytes through, counting and hashing them; fails on overflow and, at the end, on any mismatch. */
export class VerifyingStream extends Transform {
  private readonly hash;
  private received = 0;

  constructor(
    private readonly descriptor: Descriptor,
    private readonly onBytes?: (bytes: number) => void,
  ) {
    super();
    this.hash = createDigester(descriptor.digest.algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.descriptor.size) {
      callback(this.mismatch(`more than the declared ${this.descriptor.size} bytes`));
      return;
    }
    this.hash.update(chunk);
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.received !== this.descriptor.size) {
      callback(this.mismatch(`${this.received} bytes, declared ${this.descriptor.size}`));
      return;
    }
    const hex = this.hash.digest('hex');
    callback(hex === this.descriptor.digest.hex ? null : this.mismatch(`content hashes to ${this.descriptor.digest.algorithm}:${hex}`));
  }

  private mismatch(why: string): FrozenError {
    return new FrozenError('integrity', `blob ${this.descriptor.digest.value}: digest or size mismatch (${why})`);
  }
}

/** True when the file at `path` is exactly the blob `descriptor` names (size, then full hash). */
export async function fileMatches(path: string, descriptor: Descriptor): Promise<boolean> {
  try {
    const verifier = new VerifyingStream(descriptor);
    verifier.resume();
    await pipeline(createReadStream(path), verifier);
    return true;
  } catch {
    return false;
  }
}
