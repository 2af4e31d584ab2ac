/**
 * cosign's key-based signatures, checked with node:crypto: a signature manifest at the tag `sha256-<hex>.sig` beside
 * the image, whose layers are simple-signing payloads (`application/vnd.dev.cosign.simplesigning.v1+json`), each
 * with its ECDSA signature (base64 DER, over the payload's bytes, SHA-256) in the annotation
 * `dev.cosignproject.cosign/signature`. A payload vouches for the manifest digest in
 * `critical.image.docker-manifest-digest`, of the repository in `critical.identity.docker-reference`.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import type { Descriptor, ImageManifest } from '../manifest/index.js';

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

/** A public key trusted to sign images, and how it is named to the user. */
export interface TrustedKey {
  readonly key: KeyObject;
  /** `sha256:<hex>` of the key's DER (SubjectPublicKeyInfo) form. */
  readonly fingerprint: string;
  /** Where it came from (a file path), for messages. */
  readonly source: string;
}

/**
 * A public key from PEM, as `cosign generate-key-pair` writes `cosign.pub`: an ECDSA P-256 key (other EC curves,
 * RSA and Ed25519 keys verify too, with their own algorithms).
 *
 * @throws {FrozenError} `usage` for text that is no public key.
 */
export function trustedKey(pem: string, source: string): TrustedKey {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (error) {
    throw new FrozenError('usage', `${source} is not a PEM public key (${(error as Error).message})`);
  }
  const der = key.export({ type: 'spki', format: 'der' });
  return { key, fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}`, source };
}

/** The tag cosign stores an image's signatures under: `sha256-<hex>.sig`. */
export function signatureTag(digest: Digest): string {
  return `${digest.algorithm}-${digest.hex}.sig`;
}

/** The signed layers of a signature manifest: each payload's descriptor and its signature. */
export function signedPayloads(
  manifest: ImageManifest,
): { readonly payload: Descriptor; readonly signature: Buffer }[] {
  return manifest.layers.flatMap((layer) => {
    const signature = layer.annotations?.[SIGNATURE_ANNOTATION];
    if (layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE || !signature) return [];
    return [{ payload: layer, signature: Buffer.from(signature, 'base64') }];
  });
}

/** What a payload must vouch for: one of these manifest digests, of one of these repository names. */
export interface SignatureClaim {
  readonly digests: readonly string[];
  readonly repositories: readonly string[];
}

/**
 * Why `payload` with `signature` does not prove `claim` by `key`, or undefined when it does. The signature is
 * checked first: a payload no trusted key signed says nothing.
 */
export function whyNotSigned(
  payload: Buffer,
  signature: Buffer,
  key: TrustedKey,
  claim: SignatureClaim,
): string | undefined {
  const algorithm = key.key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  if (!signatureVerifies(algorithm, payload, key.key, signature)) return 'its signature does not verify with the key';
  const critical = parsedCritical(payload);
  if (!critical) return 'its payload is not a cosign simple-signing payload';
  if (!claim.digests.includes(critical.digest)) return `it signs ${critical.digest}, not this image`;
  if (!claim.repositories.includes(critical.reference)) return `it signs the repository ${critical.reference}`;
  return undefined;
}

/** node:crypto throws on a signature that is no DER at all: that is a signature that does not verify. */
function signatureVerifies(algorithm: string | null, payload: Buffer, key: KeyObject, signature: Buffer): boolean {
  try {
    return verify(algorithm, payload, key, signature);
  } catch {
    return false;
  }
}

function parsedCritical(payload: Buffer): { digest: string; reference: string } | undefined {
  try {
    const { critical } = JSON.parse(payload.toString('utf8')) as {
      critical?: { identity?: { 'docker-reference'?: unknown }; image?: { 'docker-manifest-digest'?: unknown } };
    };
    const digest = critical?.image?.['docker-manifest-digest'];
    const reference = critical?.identity?.['docker-reference'];
    return typeof digest === 'string' && typeof reference === 'string' ? { digest, reference } : undefined;
  } catch {
    return undefined;
  }
}
