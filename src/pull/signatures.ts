/**
 * Signature verification before an image is frozen: when the policy (signature/policy.ts) names keys for the image,
 * a cosign signature by one of them must cover the image manifest (or the index the reference names) and name its
 * repository; otherwise the image fails, before any of its blobs is fetched. Signatures may come from mirrors, as
 * any manifest may: the key decides, never the endpoint. Verified payloads are kept in the cache, so an offline
 * pull from a lock file that recorded the signature verifies again there.
 */
import { FrozenError, asFrozenError } from '../errors.js';
import { parseDigest, type Digest } from '../digest.js';
import type { Descriptor } from '../manifest/index.js';
import type { ImageReference } from '../reference/index.js';
import type { Remote } from '../registry/remote.js';
import type { BlobCache } from '../cache/blob-cache.js';
import { signatureTag, signedPayloads, whyNotSigned, type TrustedKey } from '../signature/cosign.js';
import type { SignaturePolicy } from '../signature/policy.js';

/** Which key verified an image, and the signature manifest it did so with. */
export interface Verification {
  /** The key's fingerprint, `sha256:<hex>` of its DER form. */
  readonly key: string;
  /** The digest of the signature manifest (`sha256-<hex>.sig`) that held the signature. */
  readonly signature: string;
}

/** What a verification needs: the policy, the cache for payloads, the abort signal. */
export interface VerifyContext {
  readonly signatures: SignaturePolicy;
  /** Where payloads are kept (and found, offline); none for a run without a cache. */
  readonly cache?: BlobCache | undefined;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The verification of the image `ref` names, whose manifest is `manifestDigest` (from an index `digest`), or
 * undefined when no key applies to it. `known` is a signature manifest recorded before (a lock file's), looked up by
 * digest instead of by tag.
 *
 * @throws {FrozenError} `signature` when no signature by a key that applies covers the image: why, for each.
 */
export async function verifyImage(
  ref: ImageReference,
  digests: { readonly digest: Digest; readonly manifestDigest: Digest },
  remote: Remote,
  context: VerifyContext,
  known?: string,
): Promise<Verification | undefined> {
  const name = `${ref.registry}/${ref.repository}`;
  const keys = context.signatures.keysFor(name);
  if (keys.length === 0) return undefined;
  const claim = { digests: [digests.manifestDigest.value, digests.digest.value], repositories: namesOf(ref) };
  const reasons: string[] = [];
  for (const digest of uniqueDigests(digests)) {
    const tag = signatureTag(digest);
    const found = await signatureManifest(remote, tag, known, context.signal).catch((error: unknown) => {
      const cause = asFrozenError(error);
      if (cause.kind === 'aborted') throw cause;
      reasons.push(cause.kind === 'not-found' ? `no signature at ${tag}` : `${tag}: ${cause.message}`);
      return undefined;
    });
    if (!found) continue;
    for (const { payload, signature } of found.payloads) {
      const bytes = await payloadBytes(payload, remote, context);
      for (const key of keys) {
        const why = whyNotSigned(bytes, signature, key, claim);
        if (!why) return { key: key.fingerprint, signature: found.digest };
        reasons.push(`the signature in ${tag} for ${keyName(key)}: ${why}`);
      }
    }
    if (found.payloads.length === 0) reasons.push(`${tag} holds no cosign signature`);
  }
  throw new FrozenError('signature', `not signed by a trusted key (${[...new Set(reasons)].join('; ')})`);
}

/** The names a payload may give the repository: Docker Hub's under either of its names, as cosign writes them. */
function namesOf(ref: ImageReference): string[] {
  const name = `${ref.registry}/${ref.repository}`;
  return ref.registry === 'docker.io' ? [name, `index.docker.io/${ref.repository}`] : [name];
}

function uniqueDigests(digests: { readonly digest: Digest; readonly manifestDigest: Digest }): Digest[] {
  return digests.digest.value === digests.manifestDigest.value
    ? [digests.manifestDigest]
    : [digests.manifestDigest, digests.digest];
}

async function signatureManifest(remote: Remote, tag: string, known: string | undefined, signal?: AbortSignal) {
  const served = known
    ? await remote.manifest(known, parseDigest(known), signal)
    : await remote.manifest(tag, undefined, signal);
  const payloads = served.manifest.kind === 'manifest' ? signedPayloads(served.manifest) : [];
  return { digest: served.digest.value, payloads };
}

/** A payload's verified bytes: from the cache, else fetched (digest and size checked) and kept there. */
async function payloadBytes(payload: Descriptor, remote: Remote, context: VerifyContext): Promise<Buffer> {
  const kept = await context.cache?.readSmall(payload.digest, payload.size);
  if (kept) return kept;
  const bytes = await remote.configBlob(payload, context.signal);
  await context.cache?.putBytes(payload.digest, bytes).catch(() => undefined);
  return bytes;
}

function keyName(key: TrustedKey): string {
  return `${key.source} (${key.fingerprint.slice(0, 'sha256:'.length + 12)})`;
}
