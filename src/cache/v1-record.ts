/**
 * A v1 layer in the cache: its bytes' digest and size, and its diff ID. v1 layers have no digest before they
 * arrive, so each is kept as a record, `<cache>/v1/<registry>/<id>.json`, beside the blob it names.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseDigest } from '../digest.js';
import { writeFileAtomic } from '../util/files.js';
import { makeDirectory } from '../util/make-directory.js';

/** A v1 layer's record: the digest and size of its bytes, its diff ID, and whether it is gzip. */
export interface V1Layer {
  readonly digest: string;
  readonly size: number;
  readonly diffId: string;
  readonly compressed: boolean;
}

/** The record at `path`, or undefined when it is missing or damaged (the layer is fetched again then). */
export async function readV1Record(path: string): Promise<V1Layer | undefined> {
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as V1Layer;
    parseDigest(record.digest);
    parseDigest(record.diffId);
    return Number.isSafeInteger(record.size) && typeof record.compressed === 'boolean' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Writes a v1 layer's record (atomically). */
export async function writeV1Record(path: string, record: V1Layer): Promise<void> {
  await makeDirectory(dirname(path));
  await writeFileAtomic(path, `${JSON.stringify(record)}\n`);
}
