/** A response body read whole, up to a limit. */
import { FrozenError } from '../errors.js';

/** Reads a whole response body of at most `limit` bytes; a larger one is refused (registries are not trusted). */
export async function readLimited(body: AsyncIterable<Uint8Array>, limit: number, what: string): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new FrozenError('protocol', `${what} is larger than ${limit / (1024 * 1024)} MiB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
