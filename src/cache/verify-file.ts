/** Whether a file on disk is exactly a blob: its size, then its full hash. */
import { createReadStream } from 'node:fs';
import { createDigester, type Digest } from '../digest.js';

/**
 * Hashes a file with `digest`'s algorithm. Returns the hasher and how many bytes it read, or undefined when the file
 * does not exist.
 */
async function hashFile(
  path: string,
  digest: Digest,
): Promise<{ hash: ReturnType<typeof createDigester>; size: number } | undefined> {
  const hash = createDigester(digest.algorithm);
  let size = 0;
  try {
    for await (const chunk of createReadStream(path)) {
      hash.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return { hash, size };
}

/** True when the file at `path` is exactly the blob: the declared size, then the full hash. */
export async function fileMatches(path: string, digest: Digest, size: number): Promise<boolean> {
  const hashed = await hashFile(path, digest).catch(() => undefined);
  return hashed !== undefined && hashed.size === size && hashed.hash.digest('hex') === digest.hex;
}
