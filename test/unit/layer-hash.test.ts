import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { LayerHash } from '../../src/transfer/layer-hash.js';

const hex = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function hashInPieces(bytes: Buffer, pieces: number[]): Promise<LayerHash> {
  const hash = new LayerHash();
  let offset = 0;
  for (const size of [...pieces, bytes.length]) {
    if (offset >= bytes.length) break;
    await hash.update(bytes.subarray(offset, offset + size));
    offset += size;
  }
  expect(await hash.finish()).toBe(hex(bytes));
  return hash;
}

describe('LayerHash', () => {
  const tar = Buffer.concat([Buffer.from('a tar, as far as hashing goes'), Buffer.alloc(2000, 7)]);

  test('gzip: the diff ID is the hash of the decompressed bytes, however the bytes arrive', async () => {
    const gzip = gzipSync(tar);
    for (const pieces of [[], [1], [1, 1, 3], [5, 100]]) {
      const hash = await hashInPieces(gzip, pieces);
      expect(hash.diffId).toBe(`sha256:${hex(tar)}`);
      expect(hash.compressed).toBe(true);
    }
  });

  test('plain tar is its own diff ID', async () => {
    const hash = await hashInPieces(tar, [3]);
    expect(hash.diffId).toBe(`sha256:${hex(tar)}`);
    expect(hash.compressed).toBe(false);
  });

  test('a gzip stream with a bad CRC is an integrity error', async () => {
    const gzip = gzipSync(tar);
    gzip[gzip.length - 6]! ^= 0xff; // inside the CRC32 trailer
    const hash = new LayerHash();
    await hash.update(gzip);
    await expect(hash.finish()).rejects.toMatchObject({
      kind: 'integrity',
      message: expect.stringMatching(/corrupt gzip layer/),
    });
  });

  test('xz and bzip2 layers are refused: no diff ID can be computed for them', () => {
    for (const head of [Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]), Buffer.from('BZh91AY&SY')]) {
      expect(() => new LayerHash().update(head)).toThrow(/compressed layer: frozen cannot compute its diff ID/);
    }
  });
});
