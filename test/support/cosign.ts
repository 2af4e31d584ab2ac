/**
 * Signatures in cosign's format, made with node:crypto, for the signature tests: a key pair as `cosign
 * generate-key-pair` makes (ECDSA P-256, the public key as PEM), a simple-signing payload as `cosign sign` writes it
 * (sigstore/cosign pkg/cosign/payload, `critical.identity.docker-reference`, `critical.image.docker-manifest-digest`,
 * `type`), and the signature manifest cosign pushes at `sha256-<hex>.sig` (pkg/oci/static: an OCI manifest whose
 * layers are the payloads, each with its base64 signature in the `dev.cosignproject.cosign/signature` annotation).
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { blob, descriptor, pushBlob, pushManifest, type Blob, type PushTarget } from './images.js';

export interface SigningKey {
  readonly privateKey: KeyObject;
  /** The public key as PEM, what `--verify-key` reads. */
  readonly publicPem: string;
  /** `sha256:<hex>` of the public key's DER form, as frozen names a key. */
  readonly fingerprint: string;
}

export function signingKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}`,
  };
}

/** Writes the public key where `--verify-key` can read it. */
export async function writePublicKey(dir: string, name: string, key: SigningKey): Promise<string> {
  const path = join(dir, `${name}.pub`);
  await writeFile(path, key.publicPem);
  return path;
}

/** The payload `cosign sign` signs for `repository` (registry/repository) at `manifestDigest`. */
export function simpleSigningPayload(repository: string, manifestDigest: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': repository },
        image: { 'docker-manifest-digest': manifestDigest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
}

/** One signed layer: the payload, and the signature over other bytes when `signedBytes` is given (a tampered one). */
export interface SignedPayload {
  readonly payload: Buffer;
  readonly key: SigningKey;
  readonly signedBytes?: Buffer;
}

/**
 * Pushes the signature manifest for `manifestDigest` into `repository` at `sha256-<hex>.sig`, holding `payloads`;
 * returns the manifest blob (its digest is what a lock file records).
 */
export async function pushSignature(
  target: PushTarget,
  repository: string,
  manifestDigest: string,
  payloads: readonly SignedPayload[],
): Promise<Blob> {
  const layers = payloads.map(({ payload, key, signedBytes }) => ({
    ...descriptor(blob(payload, 'application/vnd.dev.cosign.simplesigning.v1+json')),
    annotations: {
      'dev.cosignproject.cosign/signature': sign('sha256', signedBytes ?? payload, key.privateKey).toString('base64'),
    },
  }));
  const config = blob(
    Buffer.from(
      JSON.stringify({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: [{ created: '0001-01-01T00:00:00Z' }],
        os: '',
        rootfs: { type: 'layers', diff_ids: layers.map((layer) => layer.digest) },
        config: {},
      }),
    ),
    'application/vnd.oci.image.config.v1+json',
  );
  for (const b of [config, ...payloads.map((p) => blob(p.payload, 'application/octet-stream'))]) {
    await pushBlob(target, repository, b);
  }
  const manifest = blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: descriptor(config),
        layers,
      }),
    ),
    'application/vnd.oci.image.manifest.v1+json',
  );
  await pushManifest(target, repository, `sha256-${manifestDigest.slice('sha256:'.length)}.sig`, manifest);
  return manifest;
}
