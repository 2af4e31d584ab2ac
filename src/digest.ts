/** Content digests (`algorithm:hex`): parsed strictly, computed, and streamed. */
import { createHash, type Hash } from 'node:crypto';
import { FrozenError } from './errors.js';

/** The algorithms frozen can verify, with the exact hex length each produces. */
const HEX_LENGTH = { sha256: 64, sha512: 128 } as const;
/** The digest algorithms frozen verifies. */
export type DigestAlgorithm = keyof typeof HEX_LENGTH;

/** A parsed digest: its algorithm, its hex and the two as `algorithm:hex`. */
export interface Digest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** `algorithm:hex`, the canonical string form. */
  readonly value: string;
}

/**
 * Parses and validates a digest. Only validated digests may name files, so the hex is checked for exact length
 * and lowercase hex characters: no separators, no dots, nothing a path could be built from.
 */
export function parseDigest(value: string): Digest {
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const hex = value.slice(colon + 1);
  if (colon < 0 || !(algorithm in HEX_LENGTH)) {
    throw new FrozenError('unsupported', `unsupported digest algorithm in "${truncate(value)}"`);
  }
  const length = HEX_LENGTH[algorithm as DigestAlgorithm];
  if (hex.length !== length || !/^[0-9a-f]+$/.test(hex)) {
    throw new FrozenError('protocol', `malformed digest "${truncate(value)}"`);
  }
  return { algorithm: algorithm as DigestAlgorithm, hex, value };
}

/** The digest of bytes. */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hex = createHash(algorithm).update(bytes).digest('hex');
  return { algorithm, hex, value: `${algorithm}:${hex}` };
}

/** The sha256 hex of text or bytes. */
export function sha256Hex(text: string | Uint8Array): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A hash of the algorithm, to update as bytes stream. */
export function createDigester(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}

function truncate(value: string): string {
  return value.length > 80 ? `${value.slice(0, 77)}...` : value;
}
