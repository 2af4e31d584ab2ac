import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';

/**
 * Builds images in memory (tar-stream + gzip) and pushes them over the distribution API, so the tests need nothing
 * from the internet. Everything is deterministic: the same call gives the same digests.
 */
export type Entry =
  | { type: 'file'; name: string; content: string | Buffer; mode?: number }
  | { type: 'dir'; name: string }
  | { type: 'symlink'; name: string; target: string }
  | { type: 'link'; name: string; target: string };

export interface Blob {
  readonly bytes: Buffer;
  readonly digest: string;
  readonly size: number;
  readonly mediaType: string;
  /** Where else the blob can be fetched (a foreign layer's descriptor lists them). */
  readonly urls?: readonly string[];
}

export interface Layer extends Blob {
  /** sha256 of the uncompressed tar. */
  readonly diffId: string;
}

export function sha256(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blob(bytes: Buffer, mediaType: string): Blob {
  return { bytes, digest: sha256(bytes), size: bytes.length, mediaType };
}

const MTIME = new Date('2024-01-01T00:00:00Z');

export async function tarOf(entries: readonly Entry[]): Promise<Buffer> {
  const stream = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
  })();
  for (const entry of entries) {
    const common = { name: entry.name, mtime: MTIME, uid: 0, gid: 0 };
    if (entry.type === 'file') {
      const content = Buffer.from(entry.content);
      stream.entry({ ...common, type: 'file', mode: entry.mode ?? 0o644, size: content.length }, content);
    } else if (entry.type === 'dir') {
      stream.entry({ ...common, type: 'directory', mode: 0o755 });
    } else if (entry.type === 'symlink') {
      stream.entry({ ...common, type: 'symlink', linkname: entry.target, mode: 0o777 });
    } else {
      stream.entry({ ...common, type: 'link', linkname: entry.target, mode: 0o644 });
    }
  }
  stream.finalize();
  await done;
  return Buffer.concat(chunks);
}

export type LayerFormat = 'docker-gzip' | 'docker-tar' | 'docker-zstd' | 'oci-gzip' | 'oci-tar' | 'zstd';

const LAYER_TYPES: Record<LayerFormat, string> = {
  'docker-gzip': 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'docker-tar': 'application/vnd.docker.image.rootfs.diff.tar',
  'docker-zstd': 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  'oci-gzip': 'application/vnd.oci.image.layer.v1.tar+gzip',
  'oci-tar': 'application/vnd.oci.image.layer.v1.tar',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
};

export async function layer(entries: readonly Entry[], format: LayerFormat = 'docker-gzip'): Promise<Layer> {
  const tar = await tarOf(entries);
  const bytes =
    format === 'oci-tar' || format === 'docker-tar'
      ? tar
      : format === 'zstd' || format === 'docker-zstd'
        ? zstd(tar)
        : gzipSync(tar, { level: 6 });
  return { ...blob(bytes, LAYER_TYPES[format]), diffId: sha256(tar) };
}

/** zstd-compressed by the zstd tool (Debian `zstd`), so the decompressor is tested on a real encoder's output. */
function zstd(bytes: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c', '-3'], { input: bytes, maxBuffer: 1024 ** 3 });
}

export interface ImageSpec {
  readonly layers: readonly Layer[];
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
  /** `oci` builds an OCI manifest and config; `docker` the schema2 ones. */
  readonly format?: 'docker' | 'oci';
  /** Extra config fields, e.g. `config: { Labels: {...} }`. */
  readonly extraConfig?: Record<string, unknown>;
  /** Rewrites the config JSON text, for key orders a JS object cannot hold (integer-like keys go first). */
  readonly rewriteConfig?: (json: string) => string;
}

export interface BuiltImage {
  readonly config: Blob;
  readonly layers: readonly Layer[];
  readonly manifest: Blob;
}

export function image(spec: ImageSpec): BuiltImage {
  const oci = spec.format === 'oci';
  const configObject = {
    architecture: spec.architecture ?? 'amd64',
    ...(spec.variant && { variant: spec.variant }),
    os: spec.os ?? 'linux',
    created: '2024-01-01T00:00:00Z',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    ...spec.extraConfig,
    rootfs: { type: 'layers', diff_ids: spec.layers.map((l) => l.diffId) },
    history: spec.layers.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `layer ${i}` })),
  };
  const configText = JSON.stringify(configObject);
  const config = blob(
    Buffer.from(spec.rewriteConfig ? spec.rewriteConfig(configText) : configText),
    oci ? 'application/vnd.oci.image.config.v1+json' : 'application/vnd.docker.container.image.v1+json',
  );
  const manifestObject = {
    schemaVersion: 2,
    mediaType: oci
      ? 'application/vnd.oci.image.manifest.v1+json'
      : 'application/vnd.docker.distribution.manifest.v2+json',
    config: descriptor(config),
    layers: spec.layers.map(descriptor),
  };
  return {
    config,
    layers: spec.layers,
    manifest: blob(Buffer.from(JSON.stringify(manifestObject, null, 3)), manifestObject.mediaType),
  };
}

export function descriptor(b: Blob): { mediaType: string; digest: string; size: number; urls?: readonly string[] } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size, ...(b.urls && { urls: b.urls }) };
}

/** The layer as a Docker foreign layer: registries do not hold it, and clients fetch it from `urls`. */
export function foreignLayer(base: Layer, urls: readonly string[]): Layer {
  return { ...base, mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', urls };
}

/**
 * An OCI index over images, each with its config's platform, plus a BuildKit-style attestation entry; or, with
 * `docker`, a Docker manifest list (what moby's script reads).
 */
export function index(
  images: readonly BuiltImage[],
  options: { mediaType?: boolean; attestation?: Blob; docker?: boolean } = {},
): Blob {
  const manifests: object[] = images.map((img) => {
    const cfg = JSON.parse(img.config.bytes.toString()) as { os: string; architecture: string; variant?: string };
    const platform = { architecture: cfg.architecture, os: cfg.os, ...(cfg.variant && { variant: cfg.variant }) };
    return { ...descriptor(img.manifest), platform };
  });
  if (options.attestation) {
    manifests.push({
      ...descriptor(options.attestation),
      platform: { architecture: 'unknown', os: 'unknown' },
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
    });
  }
  const mediaType = options.docker
    ? 'application/vnd.docker.distribution.manifest.list.v2+json'
    : 'application/vnd.oci.image.index.v1+json';
  const body = { schemaVersion: 2, ...(options.mediaType !== false && { mediaType }), manifests };
  return blob(Buffer.from(JSON.stringify(body)), mediaType);
}

export interface PushTarget {
  readonly url: string; // http://127.0.0.1:PORT
  readonly authorization?: string;
}

export async function pushBlob(target: PushTarget, repository: string, b: Blob): Promise<void> {
  const headers: Record<string, string> = target.authorization ? { authorization: target.authorization } : {};
  const start = await fetch(`${target.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location')!, target.url);
  location.searchParams.set('digest', b.digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: b.bytes,
  });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
}

/** Pushes a blob that lives in a file (too big for memory), streamed. */
export async function pushBlobFile(
  target: PushTarget,
  repository: string,
  path: string,
  digest: string,
): Promise<void> {
  const headers: Record<string, string> = target.authorization ? { authorization: target.authorization } : {};
  const start = await fetch(`${target.url}/v2/${repository}/blobs/uploads/`, { method: 'POST', headers });
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location')!, target.url);
  location.searchParams.set('digest', digest);
  const put = await fetch(location, {
    method: 'PUT',
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    body: Readable.toWeb(createReadStream(path)) as ReadableStream,
    duplex: 'half',
  });
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
}

export async function pushManifest(target: PushTarget, repository: string, reference: string, b: Blob): Promise<void> {
  const headers: Record<string, string> = { 'content-type': b.mediaType };
  if (target.authorization) headers.authorization = target.authorization;
  const put = await fetch(`${target.url}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    headers,
    body: b.bytes,
  });
  if (put.status !== 201)
    throw new Error(`manifest push ${repository}:${reference}: ${put.status} ${await put.text()}`);
}

/** Pushes config, layers and manifest; tags it when `tag` is given. */
export async function pushImage(target: PushTarget, repository: string, img: BuiltImage, tag?: string): Promise<void> {
  for (const b of [img.config, ...img.layers]) await pushBlob(target, repository, b);
  await pushManifest(target, repository, tag ?? img.manifest.digest, img.manifest);
}

/** A small busybox-like image: one layer. */
export async function oneLayerImage(seed = 'one'): Promise<BuiltImage> {
  const base = await layer([
    { type: 'dir', name: 'bin/' },
    { type: 'file', name: 'bin/hello', content: `#!/bin/sh\necho hello ${seed}\n`, mode: 0o755 },
    { type: 'file', name: 'etc/motd', content: `frozen test image ${seed}\n` },
  ]);
  return image({ layers: [base] });
}

/** Several layers with a symlink, a hardlink and a whiteout. */
export async function multiLayerImage(format: LayerFormat = 'docker-gzip'): Promise<BuiltImage> {
  const base = await layer(
    [
      { type: 'dir', name: 'etc/' },
      { type: 'file', name: 'etc/os-release', content: 'ID=frozen\n' },
      { type: 'file', name: 'etc/old.conf', content: 'old\n' },
      { type: 'dir', name: 'usr/bin/' },
      { type: 'file', name: 'usr/bin/tool', content: Buffer.alloc(70_000, 7), mode: 0o755 },
    ],
    format,
  );
  const links = await layer(
    [
      { type: 'symlink', name: 'usr/bin/tool-link', target: 'tool' },
      { type: 'link', name: 'usr/bin/tool-hard', target: 'usr/bin/tool' },
    ],
    format,
  );
  const whiteout = await layer([{ type: 'file', name: 'etc/.wh.old.conf', content: '' }], format);
  return image({
    layers: [base, links, whiteout],
    ...(format.startsWith('oci') && { format: 'oci' as const }),
    extraConfig: { config: { Labels: { format, zeta: 'last-first', '1': 'one' }, Cmd: ['/usr/bin/tool'] } },
    // An integer-like label key after others: JSON.parse would move it first; the layout must keep the registry's order.
    rewriteConfig: (json) =>
      json.replace(
        `{"1":"one","format":"${format}","zeta":"last-first"}`,
        `{"format":"${format}","zeta":"last-first","1":"one"}`,
      ),
  });
}
