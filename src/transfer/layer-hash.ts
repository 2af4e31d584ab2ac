/**
 * The hash of a layer whose digest is not known before it arrives (v1 layers): its bytes' digest and its diff ID, in
 * one pass.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import { FrozenError } from '../errors.js';
import { compressionOf, type Compression } from './decompress.js';
import type { StreamHash } from './ingest.js';

/**
 * Hashes a layer of unknown digest while it downloads: sha256 of the bytes (its name in the cache) and sha256 of
 * the uncompressed tar (its diff ID). Gzip is decompressed as the bytes arrive, which also checks its CRC; plain
 * tar is its own diff ID; other compressions are refused, as no diff ID can be computed for them here.
 */
export class LayerHash implements StreamHash {
  private readonly raw = createHash('sha256');
  private readonly uncompressed = createHash('sha256');
  /** The first bytes, until there are enough to tell the format. */
  private head: Buffer | undefined = Buffer.alloc(0);
  private gunzip?: Gunzip;
  private failure?: Error;
  private diffIdHex?: string;

  update(chunk: Buffer): void | Promise<void> {
    this.raw.update(chunk);
    if (this.head === undefined) return this.feed(chunk);
    this.head = Buffer.concat([this.head, chunk]);
    if (this.head.length < SNIFF_BYTES) return undefined;
    return this.start();
  }

  /** The bytes' sha256 hex; `diffId` is known afterwards. Throws an integrity error for a corrupt gzip stream. */
  async finish(): Promise<string> {
    if (this.head !== undefined) await this.start();
    if (this.gunzip) {
      this.gunzip.end();
      await finished(this.gunzip).catch((error: Error) => (this.failure ??= error));
      this.assertHealthy();
    }
    this.diffIdHex = this.uncompressed.digest('hex');
    return this.raw.digest('hex');
  }

  /** `sha256:<hex>` of the uncompressed layer, after `finish`. */
  get diffId(): string {
    if (this.diffIdHex === undefined) throw new Error('LayerHash.diffId read before finish()');
    return `sha256:${this.diffIdHex}`;
  }

  /** True for gzip layers (after the first bytes). */
  get compressed(): boolean {
    return this.gunzip !== undefined;
  }

  private start(): void | Promise<void> {
    const head = this.head!;
    this.head = undefined;
    const format = sniff(head);
    if (format === 'gzip') {
      this.gunzip = createGunzip();
      this.gunzip.on('data', (data: Buffer) => this.uncompressed.update(data));
      this.gunzip.on('error', (error) => (this.failure = error));
    } else if (format !== 'tar') {
      throw new FrozenError('unsupported', `a ${format}-compressed layer: frozen cannot compute its diff ID`);
    }
    return this.feed(head);
  }

  private feed(chunk: Buffer): void | Promise<void> {
    if (!this.gunzip) {
      this.uncompressed.update(chunk);
      return undefined;
    }
    this.assertHealthy();
    // Wait for the decompressor to catch up, so a fast download does not pile up in memory.
    if (!this.gunzip.write(chunk)) return this.drained(this.gunzip);
    return undefined;
  }

  private async drained(gunzip: Gunzip): Promise<void> {
    await once(gunzip, 'drain').catch((error: Error) => (this.failure ??= error));
    this.assertHealthy();
  }

  private assertHealthy(): void {
    if (this.failure)
      throw new FrozenError('integrity', `corrupt gzip layer (${this.failure.message})`, { cause: this.failure });
  }
}

const SNIFF_BYTES = 6;

function sniff(head: Buffer): Compression | 'xz' | 'bzip2' | 'tar' {
  const compression = compressionOf(head);
  if (compression) return compression;
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  return 'tar';
}
