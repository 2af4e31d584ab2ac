/**
 * Manifests: media types, decoding and classifying what a registry served (index, image manifest, schema1), and
 * descriptors.
 */
import { parseDigest, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import { parseJson } from '../util/json-file.js';
import type { IndexEntry } from '../platform/index.js';

/** The largest image config frozen takes: it is read into memory whole, and copied into the top layer's json. */
export const CONFIG_SIZE_LIMIT = 16 * 1024 * 1024;

/** Refuses, before anything is downloaded, an image config too large to hold in memory (a broken or hostile registry). */
export function assertConfigSize(config: Descriptor): void {
  if (config.size > CONFIG_SIZE_LIMIT) {
    throw new FrozenError(
      'protocol',
      `image config ${config.digest.value} is ${config.size} bytes, more than the 16 MiB an image config may be`,
    );
  }
}

/** The media types of manifests and configs frozen reads. */
export const MediaType = {
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
} as const;

/** What frozen asks registries for, in order of preference. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
  MediaType.dockerSchema1Signed,
  MediaType.dockerSchema1,
];

/** zstd layers: written decompressed into docker-archive output, since not every loader reads zstd. */
export const ZSTD_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  // BuildKit's zstd layers under Docker media types (oci-mediatypes=false), which containerd also names.
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
]);

/** Foreign (Docker) and non-distributable (OCI) layers: Windows base layers, which only their `urls` may serve. */
export const FOREIGN_LAYER_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
]);

/** Layer formats frozen pulls: gzip (Docker and OCI), plain tar and zstd, foreign ones included. */
const LAYER_MEDIA_TYPES = new Set([
  ...ZSTD_LAYER_MEDIA_TYPES,
  ...FOREIGN_LAYER_MEDIA_TYPES,
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  // Uncompressed Docker layers, as containerd and containers/image name them (pushed by tools that skip gzip).
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
]);
const CONFIG_MEDIA_TYPES = new Set<string>([MediaType.dockerConfig, MediaType.ociConfig]);

/** A descriptor: what a manifest says of a blob (digest, size, media type, and `urls` for foreign layers). */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  /** Other places the blob can be fetched from (foreign layers): the http(s) ones the descriptor lists. */
  readonly urls?: readonly URL[];
  /** The descriptor's string annotations (a cosign signature layer carries its signature in one). */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** An image manifest (Docker schema2 or OCI): its config and its layers, base first. */
export interface ImageManifest {
  readonly kind: 'manifest';
  readonly mediaType: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** An index (OCI image index or Docker manifest list): the manifests it offers, each with its platform. */
export interface ImageIndex {
  readonly kind: 'index';
  readonly mediaType: string;
  readonly manifests: readonly (IndexEntry & { readonly descriptor: Descriptor })[];
}

/** A deprecated schema1 manifest (top layer first), converted to an image when pulled. */
export interface Schema1Manifest {
  readonly kind: 'schema1';
  readonly mediaType: string;
  /** Layer blobs, top first. */
  readonly fsLayers: readonly Digest[];
  /** `v1Compatibility` JSON strings, top first, one per fsLayer. */
  readonly history: readonly string[];
}

/** Any manifest a registry may serve for a reference. */
export type Manifest = ImageManifest | ImageIndex | Schema1Manifest;

const INDEX_TYPES = new Set<string>([MediaType.ociIndex, MediaType.dockerList]);
const MANIFEST_TYPES = new Set<string>([MediaType.ociManifest, MediaType.dockerManifest]);
const SCHEMA1_TYPES = new Set<string>([MediaType.dockerSchema1, MediaType.dockerSchema1Signed]);

/**
 * Decides what a manifest is from the response `Content-Type`, then the body's `mediaType`, then its shape (an OCI
 * index or manifest may omit `mediaType`), and validates every descriptor in it. Whether a manifest is a container
 * image is `checkContainerImage`'s question.
 */
export function decodeManifest(bytes: Uint8Array, contentType: string | undefined): Manifest {
  const body = parseJsonObject(bytes);
  const headerType = contentType?.split(';')[0]?.trim().toLowerCase();
  const bodyType = typeof body.mediaType === 'string' ? body.mediaType : undefined;
  const mediaType = [headerType, bodyType].find((t) => t && isKnownManifestType(t)) ?? shapeType(body);

  if (SCHEMA1_TYPES.has(mediaType) || body.schemaVersion === 1) return decodeSchema1(body, mediaType);
  if (INDEX_TYPES.has(mediaType)) return decodeIndex(body, mediaType);
  if (MANIFEST_TYPES.has(mediaType)) return decodeImageManifest(body, mediaType);
  throw new FrozenError('unsupported', `unsupported manifest media type "${mediaType}"`);
}

function isKnownManifestType(type: string): boolean {
  return INDEX_TYPES.has(type) || MANIFEST_TYPES.has(type) || SCHEMA1_TYPES.has(type);
}

function shapeType(body: Record<string, unknown>): string {
  if (Array.isArray(body.manifests)) return MediaType.ociIndex;
  if (Array.isArray(body.layers) && body.config) return MediaType.ociManifest;
  if (body.schemaVersion === 1) return MediaType.dockerSchema1;
  throw new FrozenError('protocol', 'the registry returned something that is not an image manifest or index');
}

function decodeIndex(body: Record<string, unknown>, mediaType: string): ImageIndex {
  if (!Array.isArray(body.manifests)) throw new FrozenError('protocol', 'image index has no "manifests" array');
  const manifests = body.manifests.map((raw: unknown) => {
    const entry = asObject(raw, 'index entry');
    return { ...(entry as unknown as IndexEntry), descriptor: decodeDescriptor(entry, 'index entry') };
  });
  return { kind: 'index', mediaType, manifests };
}

function decodeImageManifest(body: Record<string, unknown>, mediaType: string): ImageManifest {
  const config = decodeDescriptor(asObject(body.config, 'config'), 'config');
  if (!Array.isArray(body.layers)) throw new FrozenError('protocol', 'image manifest has no "layers" array');
  const layers = body.layers.map((raw: unknown) => decodeDescriptor(asObject(raw, 'layer'), 'layer'));
  return { kind: 'manifest', mediaType, config, layers };
}

/**
 * Refuses a manifest that is no container image: an artifact's (a cosign signature, a Helm chart) config or
 * layer media types. Decoding leaves this to the caller, since signatures and referrers are artifacts read too.
 *
 * @throws {FrozenError} `unsupported`, naming the media type.
 */
export function checkContainerImage(manifest: ImageManifest): void {
  if (!CONFIG_MEDIA_TYPES.has(manifest.config.mediaType)) {
    throw new FrozenError('unsupported', `not a container image: config media type "${manifest.config.mediaType}"`);
  }
  for (const layer of manifest.layers) {
    if (!LAYER_MEDIA_TYPES.has(layer.mediaType)) {
      throw new FrozenError('unsupported', `unsupported layer media type "${layer.mediaType}" (${layer.digest.value})`);
    }
  }
}

function decodeSchema1(body: Record<string, unknown>, mediaType: string): Schema1Manifest {
  const { fsLayers, history } = body as {
    fsLayers?: { blobSum?: unknown }[];
    history?: { v1Compatibility?: unknown }[];
  };
  if (
    !Array.isArray(fsLayers) ||
    !Array.isArray(history) ||
    fsLayers.length !== history.length ||
    fsLayers.length === 0
  ) {
    throw new FrozenError('protocol', 'schema1 manifest needs as many history entries as fsLayers');
  }
  return {
    kind: 'schema1',
    mediaType: SCHEMA1_TYPES.has(mediaType) ? mediaType : MediaType.dockerSchema1,
    fsLayers: fsLayers.map((layer) => parseDigest(String(layer?.blobSum))),
    history: history.map((entry) => {
      if (typeof entry?.v1Compatibility !== 'string')
        throw new FrozenError('protocol', 'schema1 history entry without v1Compatibility');
      return entry.v1Compatibility;
    }),
  };
}

/**
 * The bytes a schema1 manifest's digest covers: for a signed (prettyjws) manifest, the payload the signature's
 * protected header describes (`formatLength` bytes, then `formatTail`); otherwise the bytes as served.
 */
export function schema1Payload(bytes: Buffer): Buffer {
  let body: { signatures?: { protected?: string }[] };
  try {
    body = JSON.parse(bytes.toString('utf8')) as typeof body;
  } catch {
    return bytes;
  }
  const protectedHeader = body.signatures?.[0]?.protected;
  if (!protectedHeader) return bytes;
  const header = JSON.parse(Buffer.from(protectedHeader, 'base64url').toString('utf8')) as {
    formatLength?: unknown;
    formatTail?: unknown;
  };
  if (typeof header.formatLength !== 'number' || typeof header.formatTail !== 'string')
    throw new FrozenError('protocol', 'schema1 signature header lacks formatLength/formatTail');
  return Buffer.concat([bytes.subarray(0, header.formatLength), Buffer.from(header.formatTail, 'base64url')]);
}

function decodeDescriptor(raw: Record<string, unknown>, what: string): Descriptor {
  const { mediaType, digest, size } = raw;
  if (typeof digest !== 'string') throw new FrozenError('protocol', `${what} descriptor has no digest`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new FrozenError('protocol', `${what} descriptor ${digest} has an invalid size`);
  }
  const urls = fetchableUrls(raw.urls);
  const annotations = stringAnnotations(raw.annotations);
  return {
    mediaType: typeof mediaType === 'string' ? mediaType : '',
    digest: parseDigest(digest),
    size,
    ...(urls.length > 0 && { urls }),
    ...(annotations && { annotations }),
  };
}

/** A descriptor's annotations with string values; undefined when there are none. */
function stringAnnotations(raw: unknown): Record<string, string> | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const entries = Object.entries(raw).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

/** The http(s) URLs of a descriptor's `urls`; anything else there is ignored, as containerd does. */
export function fetchableUrls(urls: unknown): URL[] {
  if (!Array.isArray(urls)) return [];
  return urls.flatMap((text: unknown) => {
    const url = typeof text === 'string' && URL.canParse(text) ? new URL(text) : undefined;
    return url && (url.protocol === 'http:' || url.protocol === 'https:') ? [url] : [];
  });
}

function parseJsonObject(bytes: Uint8Array): Record<string, unknown> {
  return asObject(parseJson(bytes, 'the manifest'), 'manifest');
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new FrozenError('protocol', `${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}
