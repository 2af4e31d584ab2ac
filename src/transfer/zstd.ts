/** zstd decompression as a Node stream (fzstd: Node 20 has none). */
import { Decompress } from 'fzstd';
import { Transform } from 'node:stream';

/**
 * A zstd-decompressing stream. Node 20 has no zstd in zlib, so fzstd (pure JS, no dependencies) does the work.
 * fzstd does not check zstd's optional content checksum; frozen checks every result against its diff ID instead.
 */
export function createZstdDecompress(): Transform {
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      push(chunk, false, callback);
    },
    flush(callback) {
      push(new Uint8Array(0), true, callback);
    },
  });
  const decoder = new Decompress((data) => stream.push(Buffer.from(data)));
  const push = (chunk: Uint8Array, final: boolean, callback: (error?: Error | null) => void) => {
    try {
      decoder.push(chunk, final);
    } catch (error) {
      callback(new Error(`corrupt zstd (${(error as Error).message})`));
      return;
    }
    callback();
  };
  return stream;
}
