import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { BlobCache } from '../../src/cache/blob-cache.js';
import { digestOf } from '../../src/digest.js';
import type { Descriptor } from '../../src/manifest/index.js';
import type { BlobEndpoint } from '../../src/registry/remote.js';
import type { HttpResponse } from '../../src/registry/transport.js';
import { ingest } from '../../src/transfer/ingest.js';

/**
 * transfer/ingest.ts against fake endpoints: what a server can do to a download (reset it, ignore Range, answer
 * Range with the wrong bytes, serve other content, send too much) and what must come of it: the verified blob in
 * the cache, or an error and nothing kept; never a byte fetched twice that was already on disk, unless the server
 * forces it.
 */
const SIZE = 64 * 1024;

function reset(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/** A response with `chunks` as its body; `failAfter` ends the body with a connection reset. */
function response(statusCode: number, chunks: Buffer[], headers: Record<string, string> = {}, failAfter = false) {
  const body = Readable.from(
    (async function* () {
      for (const chunk of chunks) yield chunk;
      if (failAfter) throw reset();
    })(),
  );
  return {
    statusCode,
    headers,
    body: Object.assign(body, { dump: async () => void body.resume() }) as unknown as HttpResponse['body'],
    url: new URL('https://registry.test/v2/team/app/blobs/x'),
  } satisfies HttpResponse;
}

/** An endpoint whose every open is recorded and answered by `answer` (the nth open, and the offset asked for). */
function endpoint(name: string, answer: (offset: number, attempt: number) => HttpResponse) {
  const offsets: number[] = [];
  const failures: string[] = [];
  const fake: BlobEndpoint = {
    name,
    mirror: false,
    open: (offset) => {
      offsets.push(offset);
      return Promise.resolve(answer(offset, offsets.length));
    },
    retry: { retries: 4, baseDelayMs: 1 },
    failed: () => void failures.push(name),
  };
  return { fake, offsets, failures };
}

async function newCache(): Promise<BlobCache> {
  const cache = new BlobCache(await mkdtemp(join(tmpdir(), 'frozen-ingest-')));
  await cache.createFolder();
  return cache;
}

function blobOf(bytes: Buffer): Descriptor {
  return { digest: digestOf(bytes), size: bytes.length, mediaType: 'application/octet-stream' };
}

const range = (from: number, size: number) => ({ 'content-range': `bytes ${from}-${size - 1}/${size}` });

describe('ingest', () => {
  test('a reset mid-body is resumed with Range from the bytes on disk; the blob enters the cache whole', async () => {
    const bytes = randomBytes(SIZE);
    const half = SIZE / 2;
    const server = endpoint('registry', (offset) =>
      offset === 0
        ? response(200, [bytes.subarray(0, half)], {}, true)
        : response(206, [bytes.subarray(offset)], range(offset, SIZE)),
    );
    const cache = await newCache();
    const resumes: number[] = [];
    const result = await ingest(cache, blobOf(bytes), [server.fake], { onResume: (offset) => resumes.push(offset) });
    expect(server.offsets).toEqual([0, half]);
    expect(resumes).toEqual([half]);
    expect(result).toMatchObject({ source: 'registry', received: SIZE, endpoint: { name: 'registry' } });
    expect((await readFile(cache.blobPath(blobOf(bytes).digest))).equals(bytes)).toBe(true);
  });

  test('a server that answers a Range with 200 gets one whole stream: the bytes on disk are dropped, not doubled', async () => {
    const bytes = randomBytes(SIZE);
    const half = SIZE / 2;
    const server = endpoint('registry', (offset) =>
      offset === 0 && server.offsets.length === 1
        ? response(200, [bytes.subarray(0, half)], {}, true)
        : response(200, [bytes]),
    );
    const cache = await newCache();
    const result = await ingest(cache, blobOf(bytes), [server.fake], {});
    expect(server.offsets).toEqual([0, half]);
    expect(result.received).toBe(half + SIZE);
    expect((await readFile(cache.blobPath(blobOf(bytes).digest))).equals(bytes)).toBe(true);
  });

  test('a lying Content-Range is refused: the partial is emptied and the blob fetched again from 0, without Range', async () => {
    const bytes = randomBytes(SIZE);
    const half = SIZE / 2;
    const server = endpoint('registry', (offset, attempt) => {
      if (attempt === 1) return response(200, [bytes.subarray(0, half)], {}, true);
      if (attempt === 2) return response(206, [bytes.subarray(0, half)], range(0, SIZE)); // says 0-, was asked half-
      return response(200, [bytes]);
    });
    const cache = await newCache();
    const retries: string[] = [];
    await ingest(cache, blobOf(bytes), [server.fake], { onRetry: (error) => retries.push((error as Error).message) });
    expect(server.offsets).toEqual([0, half, 0]);
    expect(retries[1]).toMatch(
      /answered Range: bytes=32768- with 206 \(Content-Range: bytes 0-65535\/65536\); starting over/,
    );
    expect((await readFile(cache.blobPath(blobOf(bytes).digest))).equals(bytes)).toBe(true);
  });

  test('resets again and again: each attempt resumes where the last one stopped, and no byte is fetched twice', async () => {
    const bytes = randomBytes(SIZE);
    const quarter = SIZE / 4;
    const server = endpoint('registry', (offset) => {
      const chunk = bytes.subarray(offset, offset + quarter);
      const last = offset + quarter >= SIZE;
      const status = offset === 0 ? 200 : 206;
      return response(status, [chunk], offset === 0 ? {} : range(offset, SIZE), !last);
    });
    const cache = await newCache();
    const result = await ingest(cache, blobOf(bytes), [server.fake], {});
    expect(server.offsets).toEqual([0, quarter, 2 * quarter, 3 * quarter]);
    expect(result.received).toBe(SIZE);
  });

  test('an endpoint serving other content is refused (integrity, not retried) and the next endpoint serves the blob', async () => {
    const bytes = randomBytes(SIZE);
    const liar = endpoint('mirror', () => response(200, [randomBytes(SIZE)]));
    const honest = endpoint('registry', () => response(200, [bytes]));
    const cache = await newCache();
    const fallbacks: string[] = [];
    const result = await ingest(cache, blobOf(bytes), [liar.fake, honest.fake], {
      onFallback: (name, error) => fallbacks.push(`${name}: ${(error as Error).message}`),
    });
    expect(liar.offsets).toEqual([0]); // an integrity failure is not retried at the same endpoint
    expect(liar.failures).toEqual(['mirror']);
    expect(fallbacks).toEqual([expect.stringMatching(/^mirror: blob sha256:[0-9a-f]{64}: digest or size mismatch/)]);
    expect(result.endpoint?.name).toBe('registry');
  });

  test('other content from the only endpoint: an integrity error, nothing in the cache, the partial emptied', async () => {
    const bytes = randomBytes(SIZE);
    const server = endpoint('registry', () => response(200, [randomBytes(SIZE)]));
    const cache = await newCache();
    const blob = blobOf(bytes);
    await expect(ingest(cache, blob, [server.fake], {})).rejects.toMatchObject({ kind: 'integrity' });
    expect(await cache.has(blob.digest)).toBe(false);
    expect((await stat(cache.partialPath(blob.digest))).size).toBe(0);
  });

  test('a body longer than the declared size is refused as soon as it overflows, and nothing is kept', async () => {
    const bytes = randomBytes(SIZE);
    const server = endpoint('registry', () => response(200, [bytes, Buffer.from('more')]));
    const cache = await newCache();
    const blob = blobOf(bytes);
    await expect(ingest(cache, blob, [server.fake], {})).rejects.toMatchObject({
      kind: 'integrity',
      message: expect.stringMatching(/more than the declared 65536 bytes/),
    });
    expect(await cache.has(blob.digest)).toBe(false);
  });

  test('a blob already in the cache is not fetched', async () => {
    const bytes = randomBytes(SIZE);
    const server = endpoint('registry', () => response(200, [bytes]));
    const cache = await newCache();
    await ingest(cache, blobOf(bytes), [server.fake], {});
    const again = await ingest(cache, blobOf(bytes), [server.fake], {});
    expect(again).toEqual({ source: 'cache', received: 0 });
    expect(server.offsets).toEqual([0]);
  });
});
