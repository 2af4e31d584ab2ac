import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import type { Dispatcher } from 'undici';
import pLimit, { type LimitFunction } from 'p-limit';
import type { Digest } from './digest.js';
import { asFrozenError, FrozenError, ImagePullError } from './errors.js';
import { DockerDirectory, type StagedImage } from './layout/docker-dir.js';
import type { Descriptor } from './manifest/index.js';
import { defaultPlatform, parsePlatform, type Platform } from './platform/index.js';
import { canonicalReference, familiarTag, parseReference, type ImageReference } from './reference/index.js';
import { Authorizer, type Credentials } from './registry/auth.js';
import { RegistryClient } from './registry/client.js';
import { Transport } from './registry/transport.js';
import { resolveImage, type ResolvedImage } from './resolve.js';
import { downloadBlob, fileMatches } from './transfer/download.js';

export interface PullOptions {
  /** Image references, e.g. `busybox:latest`, `localhost:5000/team/app:1.2@sha256:…`. */
  readonly images: readonly string[];
  /** The output directory (default `./frozen-images`). */
  readonly output?: string;
  /** `os/arch[/variant]` or a Platform; default: TARGETPLATFORM/TARGETARCH, else the host. */
  readonly platform?: string | Platform;
  /** Credentials sent when a registry or its token server asks for them. */
  readonly credentials?: Credentials;
  /** Hosts that may be reached over plain http besides loopback. */
  readonly insecureRegistries?: readonly string[];
  /** Blobs downloaded at once (default 4). */
  readonly concurrency?: number;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
  /** The undici dispatcher to use (tests, proxies). */
  readonly dispatcher?: Dispatcher;
}

export type BlobKind = 'config' | 'layer';

export type PullEvent =
  | { type: 'resolved'; image: string; digest: string; manifestDigest: string; imageId: string; platform?: string; layers: number; bytes: number }
  | { type: 'blob-start'; image: string; kind: BlobKind; digest: string; size: number }
  | { type: 'blob-done'; image: string; kind: BlobKind; digest: string; size: number; source: 'registry' | 'output' }
  | { type: 'image-done'; image: PulledImage };

export interface PulledImage {
  /** The reference as given. */
  readonly reference: string;
  /** The fully qualified reference. */
  readonly canonical: string;
  /** `name:tag` written to RepoTags, if the reference had a tag. */
  readonly repoTag?: string;
  /** Digest of the manifest the reference names (the index, for multi-platform tags). */
  readonly digest: string;
  /** Digest of the image manifest pulled. */
  readonly manifestDigest: string;
  /** The image ID: the config digest. */
  readonly imageId: string;
  readonly platform?: string;
  readonly layers: number;
  /** Config plus layer bytes. */
  readonly bytes: number;
  /** Bytes fetched from the registry in this run (the rest was already in the output directory). */
  readonly downloadedBytes: number;
}

export interface PullResult {
  readonly output: string;
  readonly images: readonly PulledImage[];
}

const DEFAULT_CONCURRENCY = 4;

/**
 * Pulls every image into one docker-load-ready directory. All references are checked before any request; all
 * images are downloaded and verified into a staging area; only when every one succeeded is the directory updated.
 * A failure or an abort leaves it as it was. Throws a FrozenError: an ImagePullError naming the image when one
 * image failed, PullFailures when several did.
 */
export async function pull(options: PullOptions): Promise<PullResult> {
  const refs = options.images.map((image) => parseReference(image));
  if (refs.length === 0) throw new FrozenError('reference', 'no image given');
  const platform = typeof options.platform === 'string' ? parsePlatform(options.platform) : options.platform ?? defaultPlatform();
  const directory = await DockerDirectory.open(resolvePath(options.output ?? 'frozen-images'));
  const transport = new Transport({
    ...(options.dispatcher && { dispatcher: options.dispatcher }),
    ...(options.insecureRegistries && { insecureRegistries: options.insecureRegistries }),
  });
  const authorizer = new Authorizer(transport, options.credentials);
  const context: PullContext = {
    transport,
    authorizer,
    directory,
    platform,
    limit: pLimit(options.concurrency ?? DEFAULT_CONCURRENCY),
    inFlight: new Map(),
    emit: options.onEvent ?? (() => undefined),
    ...(options.signal && { signal: options.signal }),
  };
  try {
    const settled = await Promise.allSettled(refs.map((ref) => pullOne(ref, context)));
    const failures = settled.flatMap((s, i) => (s.status === 'rejected' ? [new ImagePullError(refs[i]!.original, asFrozenError(s.reason))] : []));
    options.signal?.throwIfAborted();
    if (failures.length > 0) throw failures.length === 1 ? failures[0]! : new PullFailures(failures);
    const staged = settled.map((s) => (s as PromiseFulfilledResult<{ staged: StagedImage; pulled: PulledImage }>).value);
    await directory.commit(staged.map((s) => s.staged));
    for (const { pulled } of staged) context.emit({ type: 'image-done', image: pulled });
    return { output: directory.root, images: staged.map((s) => s.pulled) };
  } catch (error) {
    await directory.discard();
    throw error instanceof FrozenError ? error : asFrozenError(error);
  } finally {
    await transport.close();
  }
}

/** Several images failed; each error names its image. */
export class PullFailures extends FrozenError {
  constructor(readonly errors: readonly ImagePullError[]) {
    super(errors[0]!.kind, errors.map((e) => e.message).join('\n'));
    this.name = 'PullFailures';
  }
}

interface PullContext {
  readonly transport: Transport;
  readonly authorizer: Authorizer;
  readonly directory: DockerDirectory;
  readonly platform: Platform;
  readonly limit: LimitFunction;
  /** Single-flight: a digest wanted by several images downloads once. */
  readonly inFlight: Map<string, Promise<void>>;
  readonly emit: (event: PullEvent) => void;
  readonly signal?: AbortSignal;
}

async function pullOne(ref: ImageReference, context: PullContext): Promise<{ staged: StagedImage; pulled: PulledImage }> {
  const client = new RegistryClient(ref.registry, ref.repository, context.transport, context.authorizer);
  const resolved = await resolveImage(ref, client, context.platform, context.signal);
  assertImageId(ref, resolved);
  const { config, layers } = resolved.manifest;
  const identity = {
    digest: resolved.digest.value,
    manifestDigest: resolved.manifestDigest.value,
    imageId: config.digest.value,
    ...(resolved.platform && { platform: resolved.platform }),
    layers: layers.length,
    bytes: [config, ...layers].reduce((sum, blob) => sum + blob.size, 0),
  };
  context.emit({ type: 'resolved', image: ref.original, ...identity });

  const existing = context.directory.layerPaths(layers.map((layer) => layer.digest.value));
  const blobs = [
    { descriptor: config, kind: 'config' as const, present: undefined },
    ...layers.map((layer, i) => ({ descriptor: layer, kind: 'layer' as const, present: existing[i] })),
  ];
  const sources = await Promise.all(blobs.map((b) => fetchOnce(b.descriptor, b.kind, ref.original, client, context, b.present)));
  const downloadedBytes = blobs.reduce((sum, b, i) => sum + (sources[i] === 'registry' ? b.descriptor.size : 0), 0);
  const configPath = context.directory.stagingPath(config.digest);
  const configText = await readConfig(configPath, layers.length);

  const tag = ref.tag === undefined ? undefined : { name: ref.familiarName, tag: ref.tag };
  const repoTag = familiarTag(ref);
  return {
    staged: {
      ...(tag && { tag }),
      config: { digest: config.digest, text: configText, path: configPath },
      layers: layers.map((layer, i) => ({
        digest: layer.digest,
        ...(sources[i + 1] === 'registry' && { path: context.directory.stagingPath(layer.digest) }),
      })),
    },
    pulled: {
      reference: ref.original,
      canonical: canonicalReference(ref),
      ...(repoTag && { repoTag }),
      ...identity,
      downloadedBytes,
    },
  };
}

/**
 * Gets a blob into staging unless the output directory already holds it verified (`present`), and says where it
 * came from. Both steps run under the concurrency limit; the download is single-flight per digest, so a blob
 * several images want is fetched once.
 */
async function fetchOnce(
  descriptor: Descriptor,
  kind: BlobKind,
  image: string,
  client: RegistryClient,
  context: PullContext,
  present?: string,
): Promise<'registry' | 'output'> {
  const reusable = present !== undefined && (await context.limit(() => fileMatches(present, descriptor)));
  if (!reusable) {
    const key = descriptor.digest.value;
    let download = context.inFlight.get(key);
    if (!download) {
      download = context.limit(async () => {
        context.signal?.throwIfAborted();
        context.emit({ type: 'blob-start', image, kind, digest: key, size: descriptor.size });
        const options = context.signal ? { signal: context.signal } : {};
        await downloadBlob(client, descriptor, context.directory.stagingPath(descriptor.digest), options);
      });
      context.inFlight.set(key, download);
    }
    await download;
  }
  const source = reusable ? 'output' : 'registry';
  context.emit({ type: 'blob-done', image, kind, digest: descriptor.digest.value, size: descriptor.size, source });
  return source;
}

/** The seed's `name:tag@<64 hex>` pins an image ID: the config digest, or a manifest digest, must have that hex. */
function assertImageId(ref: ImageReference, resolved: ResolvedImage): void {
  if (!ref.imageId) return;
  const candidates: Digest[] = [resolved.manifest.config.digest, resolved.manifestDigest, resolved.digest];
  if (!candidates.some((digest) => digest.hex === ref.imageId)) {
    throw new FrozenError(
      'integrity',
      `image ID mismatch: wanted ${ref.imageId}, the tag resolves to image ${resolved.manifest.config.digest.value} (manifest ${resolved.manifestDigest.value})`,
    );
  }
}

/** The config must be JSON whose `rootfs.diff_ids` match the layers one to one, or `docker load` will refuse it. */
async function readConfig(path: string, layerCount: number): Promise<string> {
  const text = await readFile(path, 'utf8');
  let config: { rootfs?: { diff_ids?: unknown } };
  try {
    config = JSON.parse(text) as typeof config;
  } catch {
    throw new FrozenError('protocol', 'image config is not valid JSON');
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layerCount) {
    throw new FrozenError(
      'protocol',
      `image config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff IDs for ${layerCount} layers; docker load would refuse it`,
    );
  }
  return text;
}

