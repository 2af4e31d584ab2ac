/**
 * One manifest from one endpoint, verified before anything reads it: at most 4 MiB, and the exact bytes must hash
 * to the digest asked for and to the registry's `Docker-Content-Digest`. Only then is the body decoded.
 */
import { digestOf, parseDigest, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import { MANIFEST_SIZE_LIMIT } from '../manifest/cache.js';
import { decodeManifest, MANIFEST_ACCEPT, schema1Payload, type Manifest } from '../manifest/index.js';
import { readLimited } from '../util/read-limited.js';
import type { RegistryClient } from './client.js';
import { header } from './transport.js';

/** A manifest as served and verified: its digest, what it decodes to, and its bytes. */
export interface FetchedManifest {
  readonly digest: Digest;
  readonly manifest: Manifest;
  readonly bytes: Buffer;
}

/** GET a manifest by tag or digest from one endpoint, verified against `expected` when given. */
export async function fetchVerifiedManifest(
  client: RegistryClient,
  reference: string,
  expected: Digest | undefined,
  signal?: AbortSignal,
): Promise<FetchedManifest> {
  const response = await client.getManifest(reference, MANIFEST_ACCEPT, signal);
  const declared = Number(header(response.headers, 'content-length') ?? 0);
  if (declared > MANIFEST_SIZE_LIMIT) {
    await response.body.dump();
    throw new FrozenError('protocol', `manifest ${reference} is larger than 4 MiB`);
  }
  const served = await readLimited(response.body, MANIFEST_SIZE_LIMIT, `manifest ${reference}`);
  // A signed schema1 manifest's digest covers its JWS payload, not the bytes with the signatures.
  const bytes = served.includes('"signatures"') ? schema1Payload(served) : served;
  const claimed = header(response.headers, 'docker-content-digest');
  const servedDigest = claimed === undefined ? undefined : parseDigest(claimed.trim());
  for (const claim of [expected, servedDigest]) {
    if (claim && digestOf(bytes, claim.algorithm).value !== claim.value) {
      throw new FrozenError(
        'integrity',
        `manifest ${reference}: digest mismatch (content does not hash to ${claim.value})`,
      );
    }
  }
  const digest = expected ?? servedDigest ?? digestOf(bytes);
  const manifest: Manifest = decodeManifest(served, header(response.headers, 'content-type'));
  return { digest, manifest, bytes: served };
}

/** Kept bytes that are no manifest (a reference naming a config's digest) are no hit: the registry says what they are. */
export function decodeKept(bytes: Buffer): Manifest | undefined {
  try {
    return decodeManifest(bytes, undefined);
  } catch {
    return undefined;
  }
}
