import { setMaxListeners } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, realpath, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';
import type { Writable } from 'node:stream';
import pLimit from 'p-limit';
import { parseDigest, type Digest } from './digest.js';
import { asFrozenError, FrozenError, forEveryImage, throwIfAborted } from './errors.js';
import { DockerDirectory, type StagedImage } from './layout/docker-dir.js';
import { assertFreshLayout, writeOciLayout } from './layout/oci.js';
import {
  assertConfigSize,
  MANIFEST_ACCEPT,
  type Descriptor,
  type ImageManifest,
  type Schema1Manifest,
} from './manifest/index.js';
import { configPlatform, formatPlatform, platformMatches, wantedPlatform, type Platform } from './platform/index.js';
import {
  assertImageList,
  canonicalReference,
  distinctReferences,
  familiarTag,
  parseReference,
  type ImageReference,
} from './reference/index.js';
import type { Remote } from './registry/remote.js';
import { RegistrySession, type RegistryOptions } from './registry/session.js';
import { lockedManifest, type LockedImage, type LockFile } from './lock.js';
import { resolveImage, storedManifests, type ManifestCache, type ResolvedImage } from './resolve.js';
import { BlobStore } from './store/blob-store.js';
import { fileMatches } from './store/verify-file.js';
import { historyImage, schema1Entries, schema1Layers } from './convert/schema1.js';
import { diffIdOf, LAYERS_DECOMPRESSED_AT_ONCE } from './transfer/decompress.js';
import { ingest } from './transfer/ingest.js';
import { Scheduler } from './transfer/scheduler.js';
import { isWithin } from './util/files.js';
import { removeOrphans } from './util/process.js';
import { allOrStop, allSettledOrThrow } from './util/settle.js';
import { sharedFlight } from './transfer/single-flight.js';
import { countEndpoints, downloadEvents, requestEvents } from './pull-events.js';
import { pullV1Image, type FetchedLayer } from './pull-v1.js';
import { keepConvertedImage, stageImage, type LayerDecompression } from './stage.js';

export interface PullOptions extends RegistryOptions {
  /** Image references, e.g. `busybox:latest`, `localhost:5000/team/app:1.2@sha256:…`. */
  readonly images: readonly string[];
  /**
   * Where to write (default `./frozen-images`): a directory, a tar file with `format: 'tar'`, or a writable stream
   * that receives the tar (the CLI's `-o -`).
   */
  readonly output?: string | Writable;
  /**
   * `dir` (default): the download-frozen-image directory, merged; `tar`: the same as one docker-archive tar;
   * `oci`: a new OCI image layout with a manifest.json, as `docker save` writes since Docker 25.
   */
  readonly format?: 'dir' | 'tar' | 'oci';
  /** `os/arch[/variant]` or a Platform; default: TARGETPLATFORM/TARGETARCH, else the host. */
  readonly platform?: string | Platform;
  /** The blob cache directory (default: BlobStore.defaultRoot()); `false` for none. */
  readonly cache?: string | false;
  /** Copy files from the cache into the output instead of hard-linking them. */
  readonly copy?: boolean;
  /** Store layers uncompressed, as `docker save` does (each `layer.tar` then hashes to its diff ID). */
  readonly decompress?: boolean;
  /** Large blobs downloaded at once (default 16); small blobs have as many slots of their own. */
  readonly concurrency?: number;
  /** Large blobs downloaded at once from one registry host (default 6). */
  readonly perHostConcurrency?: number;
  /** Pull exactly the images of this lock file (then `images` must be empty). */
  readonly lock?: LockFile;
  /**
   * The registry API: `v2`, `v1` (the seed's protocol, for legacy registries), or `auto` (default): v2, and v1 when
   * v2 does not know the image and the host answers `/v1/_ping` but has no `/v2/`.
   */
  readonly protocol?: Protocol;
  /**
   * Make no request at all (with `lock`, or when every reference has a digest): every manifest and blob must be in
   * the cache (or, for blobs, the output directory).
   */
  readonly offline?: boolean;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: PullEvent) => void;
}

export type Protocol = 'v1' | 'v2' | 'auto';
export type BlobKind = 'config' | 'layer';
/** Where a blob came from: the registry, one of its mirrors, the cache, or the output directory (re-verified). */
export type BlobSource = 'registry' | 'mirror' | 'cache' | 'output';

/** The events of requests that are not blob downloads, which `inspect` and `lock` report too. */
export type RequestEvent = Extract<PullEvent, { type: 'request-retry' | 'request-fallback' }>;

export type PullEvent =
  | {
      type: 'resolved';
      image: string;
      digest: string;
      manifestDigest: string;
      imageId: string;
      platform?: string;
      layers: number;
      bytes: number;
      endpoint: string;
    }
  | { type: 'blob-start'; image: string; kind: BlobKind; digest: string; size: number }
  | { type: 'blob-progress'; image: string; kind: BlobKind; digest: string; size: number; bytes: number }
  | { type: 'blob-resume'; image: string; kind: BlobKind; digest: string; size: number; offset: number }
  | {
      type: 'blob-retry';
      image: string;
      kind: BlobKind;
      digest: string;
      attempt: number;
      delayMs: number;
      reason: string;
    }
  | { type: 'blob-wait'; image: string; kind: BlobKind; digest: string }
  | { type: 'blob-fallback'; image: string; kind: BlobKind; digest: string; endpoint: string; reason: string }
  | { type: 'request-retry'; image: string; attempt: number; delayMs: number; reason: string }
  | { type: 'request-fallback'; image: string; endpoint: string; reason: string }
  | {
      type: 'blob-done';
      image: string;
      kind: BlobKind;
      digest: string;
      size: number;
      source: BlobSource;
      bytes: number;
      endpoint?: string;
    }
  | { type: 'tag-moved'; image: string; locked: string; current: string }
  | { type: 'platform-mismatch'; image: string; platform: string; wanted: string }
  | { type: 'cache-unusable'; path: string; reason: string }
  | { type: 'cache-in-output'; path: string; output: string }
  | { type: 'converted'; image: string; from: 'schema1' }
  | { type: 'image-done'; image: PulledImage }
  | { type: 'error'; image: string; kind: string; message: string };

export interface PulledImage {
  /** The reference as given. */
  readonly reference: string;
  /** The fully qualified reference. */
  readonly canonical: string;
  /** `name:tag` written to RepoTags, if the reference had a tag. */
  readonly repoTag?: string;
  /** The registry API that served it. */
  readonly protocol: 'v1' | 'v2';
  /** Digest of the manifest the reference names (the index, for multi-platform tags); `v1:<image ID>` for v1 images. */
  readonly digest: string;
  /** Digest of the image manifest pulled; `v1:<image ID>` for v1 images, which have no manifest. */
  readonly manifestDigest: string;
  /** The image ID: the config digest. */
  readonly imageId: string;
  readonly platform?: string;
  readonly layers: number;
  /** Config plus layer bytes. */
  readonly bytes: number;
  /** Bytes received from the registry in this run (the rest came from the cache or the output directory). */
  readonly downloadedBytes: number;
  /** The endpoint (mirror URL or registry host) that served the image manifest. */
  readonly endpoint: string;
  /** Blobs downloaded in this run, counted per endpoint that served them. */
  readonly blobEndpoints: Readonly<Record<string, number>>;
}

export interface PullResult {
  /** The directory or tar file written, or `-` for a stream. */
  readonly output: string;
  readonly images: readonly PulledImage[];
}

const DEFAULT_CONCURRENCY = 16;
const DEFAULT_PER_HOST = 6;

/**
 * Pulls every image into one docker-load-ready directory. All references are checked before any request; every
 * blob is fetched (or found) in the cache and verified; only when every image succeeded is the directory updated,
 * from the cache by hard link. A failure or an abort leaves it as it was. Throws a FrozenError: an ImagePullError
 * naming the image when one image failed, PullFailures when several did.
 */
export async function pull(given: PullOptions): Promise<PullResult> {
  checkOptions(given);
  const run = new AbortController();
  setMaxListeners(0, run.signal); // one listener per request in flight: dozens at once, not the leak Node warns of
  const follow = () => run.abort(given.signal?.reason);
  if (given.signal?.aborted) follow();
  else given.signal?.addEventListener('abort', follow, { once: true });
  const listener = guardedListener(given.onEvent, run);
  const options: PullOptions = { ...given, signal: run.signal, onEvent: listener.onEvent };
  try {
    return await pullTo(options, options.output ?? 'frozen-images');
  } catch (error) {
    throw listener.failure ? listener.failure.error : error;
  } finally {
    given.signal?.removeEventListener('abort', follow);
  }
}

/**
 * The caller's listener, guarded: if it throws, the run is aborted and `failure` holds what it threw, which the
 * pull then rejects with. It is the caller's bug, not a network failure to retry. No event follows a failure.
 */
function guardedListener(listener: PullOptions['onEvent'], run: AbortController) {
  const guarded = {
    failure: undefined as { error: unknown } | undefined,
    onEvent: (event: PullEvent) => {
      if (!listener || guarded.failure) return;
      try {
        listener(event);
      } catch (error) {
        guarded.failure = { error };
        run.abort(error);
      }
    },
  };
  return guarded;
}

function pullTo(options: PullOptions, output: string | Writable): Promise<PullResult> {
  if (options.format === 'oci') return pullToOci(options, output);
  if (typeof output === 'string' && options.format !== 'tar') return pullInto(options, resolvePath(output));
  return pullToTar(options, output);
}

/** JavaScript callers get no type checks: options of the wrong shape are refused before anything starts. */
function checkOptions(options: PullOptions): void {
  const refuse = (what: string) => {
    throw new FrozenError('reference', what);
  };
  assertImageList(options.images);
  const { output, format, protocol, concurrency, perHostConcurrency, onEvent } = options;
  if (output !== undefined && typeof output !== 'string' && typeof (output as Partial<Writable>).write !== 'function')
    refuse('output must be a path or a writable stream');
  if (format !== undefined && !['dir', 'tar', 'oci'].includes(format))
    refuse(`format must be dir, tar or oci, not ${JSON.stringify(format)}`);
  if (protocol !== undefined && !['v1', 'v2', 'auto'].includes(protocol))
    refuse(`protocol must be v1, v2 or auto, not ${JSON.stringify(protocol)}`);
  for (const [name, value] of Object.entries({ concurrency, perHostConcurrency })) {
    if (value !== undefined && !(Number.isInteger(value) && value > 0))
      refuse(`${name} must be a positive integer, not ${JSON.stringify(value)}`);
  }
  if (onEvent !== undefined && typeof onEvent !== 'function') refuse('onEvent must be a function');
}

/**
 * Runs `fn` with a scratch folder beside the cache (so blobs are linked, not copied), removed afterwards; scratch
 * folders of processes that no longer exist are cleared first. A cache that cannot be written (mounted read-only)
 * still serves what it holds: the scratch folder goes to the system's temporary folder then, and blobs are copied.
 */
async function withScratch<T>(options: PullOptions, fn: (scratch: string) => Promise<T>): Promise<T> {
  const cache = options.cache === false ? undefined : sharedCache(options);
  const scratchRoot = cache ? await cache.createFolder('tmp').catch(() => tmpdir()) : tmpdir();
  await removeOrphans(scratchRoot, 'scratch-');
  const scratch = await mkdtemp(join(scratchRoot, `scratch-${process.pid}-`));
  try {
    return await fn(scratch);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** A tar is packed from a directory built in scratch; a tar file is written to a temporary name and renamed. */
async function pullToTar(options: PullOptions, output: string | Writable): Promise<PullResult> {
  // Loaded on use: tar-stream costs directory pulls start-up time for nothing.
  const { assertTarTarget, packDirectory } = await import('./layout/tar.js');
  if (typeof output === 'string') await assertTarTarget(resolvePath(output));
  return withScratch(options, async (scratch) => {
    const result = await pullInto(options, join(scratch, 'images'));
    if (typeof output !== 'string') {
      await packDirectory(join(scratch, 'images'), output).catch((error: Error) => {
        throw new FrozenError('output', `cannot write the tar stream: ${error.message}`, { cause: error });
      });
      return { ...result, output: '-' };
    }
    const target = resolvePath(output);
    const temp = `${target}.frozen-${process.pid}`;
    try {
      await packDirectory(join(scratch, 'images'), createWriteStream(temp));
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      throw new FrozenError('output', `cannot write ${target}: ${(error as Error).message}`, { cause: error });
    }
    return { ...result, output: target };
  });
}

/** An OCI layout is written from the verified blobs once every image succeeded. */
async function pullToOci(options: PullOptions, output: string | Writable): Promise<PullResult> {
  if (typeof output !== 'string') throw new FrozenError('reference', '--format oci writes a directory, not a stream');
  if (options.decompress)
    throw new FrozenError(
      'reference',
      '--format oci keeps blobs as the registry serves them; --decompress does not apply',
    );
  const root = resolvePath(output);
  await assertFreshLayout(root);
  assertCacheOutside(options, root);
  return withScratch(options, async (scratch) => {
    const result = await pullInto(options, join(scratch, 'images'), (staged) =>
      writeOciLayout(root, staged, { copy: options.copy === true }),
    );
    return { ...result, output: root };
  });
}

/** A layout is written as a new folder, so a cache inside it would be in its way (and would be taken along with it). */
function assertCacheOutside(options: PullOptions, root: string): void {
  if (options.cache === false) return;
  const cache = sharedCache(options).root;
  if (isWithin(cache, root))
    throw new FrozenError(
      'reference',
      `the cache ${cache} is inside the OCI layout ${root}: give --cache a folder outside it`,
    );
}

/** An image to pull: its reference, and its lock-file entry when pulling from one. */
interface PullJob {
  readonly ref: ImageReference;
  readonly locked?: LockedImage;
}

/** Pulls into the docker directory at `outputDir`, or hands the verified images to `write` instead. */
async function pullInto(
  options: PullOptions,
  outputDir: string,
  write?: (images: StagedImage[]) => Promise<void>,
): Promise<PullResult> {
  if (options.lock && options.images.length > 0)
    throw new FrozenError('reference', 'give images or a lock file, not both');
  if (options.lock && options.protocol === 'v1')
    throw new FrozenError('reference', 'lock files hold v2 images: --protocol v1 does not apply');
  if (options.offline && options.protocol === 'v1')
    throw new FrozenError('reference', 'offline pulls read v2 images from the cache: --protocol v1 does not apply');
  const wanted: PullJob[] = options.lock
    ? options.lock.images.map((image) => ({ ref: parseReference(image.reference), locked: image }))
    : options.images.map((image) => ({ ref: parseReference(image) }));
  const undigested = options.offline && !options.lock && wanted.find((job) => !job.ref.digest);
  if (undigested)
    throw new FrozenError(
      'reference',
      `offline pulls need a lock file or references with a digest (${undigested.ref.original} has none)`,
    );
  const jobs = distinctReferences(wanted, (job) => job.ref);
  if (jobs.length === 0) throw new FrozenError('reference', 'no image given');
  const platform = wantedPlatform(options.platform);
  const session = await RegistrySession.open(options);
  let directory: DockerDirectory;
  try {
    directory = await DockerDirectory.open(outputDir, { copy: options.copy === true });
  } catch (error) {
    await session.close();
    throw error;
  }
  const emit = options.onEvent ?? (() => undefined);
  let releaseCache: (() => Promise<void>) | undefined;
  try {
    const { store, shared } = await openStore(options, directory, emit);
    const context: PullContext = {
      session,
      directory,
      store,
      sharedCache: shared,
      platform,
      scheduler: new Scheduler(
        options.concurrency ?? DEFAULT_CONCURRENCY,
        options.perHostConcurrency ?? DEFAULT_PER_HOST,
      ),
      inFlight: new Map(),
      emit,
      offline: options.offline === true,
      // zstd layers are written decompressed, except into OCI layouts, whose readers all know zstd.
      decompress: options.decompress ? 'all' : write ? 'none' : 'zstd',
      protocol: options.protocol ?? 'auto',
      v1Layers: new Map(),
      ...(options.signal && { signal: options.signal }),
    };
    // `frozen cache prune` spares what this run uses, until its directory is written. A cache this process cannot
    // write to (mounted read-only, say) still serves what it holds; no prune can run on it from here either.
    if (shared) releaseCache = await store.markInUse().catch(() => undefined);
    // An image's failure is told as soon as it happens (progress drops its blobs); the others go on, so that each
    // reports its own. An abort is no image's failure.
    const staged = await forEveryImage(
      jobs,
      (job) => job.ref.original,
      (job) => pullOne(job.ref, context, job.locked),
      {
        signal: options.signal,
        onFailure: (failure) => {
          if (!options.signal?.aborted)
            emit({ type: 'error', image: failure.image, kind: failure.kind, message: failure.message });
        },
      },
    );
    if (write) {
      await write(staged.map((s) => s.staged));
      await directory.discard();
    } else {
      await directory.commit(
        staged.map((s) => s.staged),
        options.signal,
      );
    }
    for (const { pulled } of staged) emit({ type: 'image-done', image: pulled });
    return { output: directory.root, images: staged.map((s) => s.pulled) };
  } catch (error) {
    await directory.discard();
    throw error instanceof FrozenError ? error : asFrozenError(error);
  } finally {
    await releaseCache?.();
    await session.close();
  }
}

/**
 * The blob store of a run: the cache, or without one a temporary store inside the staging area. When the default
 * cache cannot be made (no writable home, as for a user without one in a Dockerfile `RUN`), the run goes on without
 * it, as pip does, and says so; a cache the caller chose must work.
 */
async function openStore(
  options: PullOptions,
  directory: DockerDirectory,
  emit: (event: PullEvent) => void,
): Promise<{ store: BlobStore; shared: boolean }> {
  const temporary = async () => {
    const store = new BlobStore(join(directory.staging, 'cache'));
    await store.createFolder();
    return { store, shared: false };
  };
  if (options.cache === false) return temporary();
  const chosen = options.cache !== undefined || Boolean(process.env.FROZEN_CACHE);
  const store = sharedCache(options);
  try {
    await store.createFolder();
  } catch (error) {
    if (chosen) throw error;
    emit({
      type: 'cache-unusable',
      path: store.root,
      reason: (asFrozenError(error).cause as Error | undefined)?.message ?? String(error),
    });
    return temporary();
  }
  await warnIfWithin(store.root, directory.root, emit);
  return { store, shared: true };
}

/**
 * A cache inside the output directory goes wherever the directory goes, and `tar -c` of it writes the files the two
 * share (every config and layer) as hard links, which skopeo and podman load read as empty files and containerd's
 * importer as missing ones.
 */
async function warnIfWithin(cache: string, output: string, emit: (event: PullEvent) => void): Promise<void> {
  const [inner, outer] = await Promise.all([realpath(cache), realpath(output)]);
  if (isWithin(inner, outer)) emit({ type: 'cache-in-output', path: cache, output });
}

/** The cache the options name (`cache`, else the default), as a store. */
function sharedCache(options: PullOptions): BlobStore {
  return BlobStore.at(typeof options.cache === 'string' ? options.cache : undefined);
}

export interface PullContext {
  readonly session: RegistrySession;
  readonly directory: DockerDirectory;
  readonly store: BlobStore;
  /** The store outlives this run (not `cache: false`, nor the temporary stand-in for an unusable cache). */
  readonly sharedCache: boolean;
  readonly platform: Platform;
  readonly scheduler: Scheduler;
  /** Single-flight: a digest wanted by several images is fetched once. */
  readonly inFlight: Map<string, Promise<Fetched>>;
  readonly emit: (event: PullEvent) => void;
  /** No requests: blobs come from the cache or the output directory, manifests from the lock file. */
  readonly offline: boolean;
  /** Which layers are written uncompressed: all (--decompress), zstd ones (docker-archive output), none (OCI). */
  readonly decompress: LayerDecompression;
  readonly protocol: Protocol;
  /** Single-flight for v1 layers, by registry and image ID. */
  readonly v1Layers: Map<string, Promise<FetchedLayer>>;
  readonly signal?: AbortSignal;
}

/** What one image contributes: the files to write and the report. */
export interface StagedPull {
  readonly staged: StagedImage;
  readonly pulled: PulledImage;
}

/** A v2 image, or with `protocol: 'v1'` a v1 one; `auto` turns to v1 when v2 does not know the image and the host speaks only v1. */
async function pullOne(ref: ImageReference, context: PullContext, locked?: LockedImage): Promise<StagedPull> {
  const notices = requestEvents(context.emit, ref.original);
  if (context.protocol === 'v1') return pullV1Image(ref, context.session.v1(ref, notices), context);
  try {
    return await pullV2Image(ref, context, context.session.remote(ref, notices), locked);
  } catch (error) {
    const v1 =
      context.protocol === 'auto' &&
      !locked &&
      !context.offline &&
      asFrozenError(error).kind === 'not-found' &&
      (await context.session.speaksOnlyV1(ref.registry, context.signal).catch(() => false));
    if (v1) return pullV1Image(ref, context.session.v1(ref, notices), context);
    throw error;
  }
}

async function pullV2Image(
  ref: ImageReference,
  context: PullContext,
  remote: Remote,
  locked?: LockedImage,
): Promise<StagedPull> {
  const resolved = locked
    ? await resolveLocked(ref, locked, remote, context)
    : await resolveImage(ref, remote, context.platform, context.signal, manifestCache(context));
  const converted =
    resolved.manifest.kind === 'schema1' ? await convertSchema1(resolved.manifest, ref, remote, context) : undefined;
  const image = converted?.image ?? (resolved.manifest as ImageManifest);
  assertImageId(ref, resolved, image);
  const { config, layers } = image;
  assertConfigSize(config);
  const identity = {
    digest: resolved.digest.value,
    manifestDigest: resolved.manifestDigest.value,
    imageId: config.digest.value,
    ...(resolved.platform && { platform: resolved.platform }),
    layers: layers.length,
    bytes: [config, ...layers].reduce((sum, blob) => sum + blob.size, 0),
    endpoint: resolved.endpoint,
  };
  context.emit({ type: 'resolved', image: ref.original, ...identity });

  const existing = context.directory.layerPaths(layers.map((layer) => layer.digest.value));
  const blobs = [
    { descriptor: config, kind: 'config' as const, present: context.directory.configPath(config.digest) },
    ...layers.map((layer, i) => ({ descriptor: layer, kind: 'layer' as const, present: existing[i] })),
  ];
  const fetched = await allOrStop(context.signal, (signal) =>
    blobs.map((b) =>
      fetchBlob(b.descriptor, b.kind, b.present, { image: ref.original, remote, context: { ...context, signal } }),
    ),
  );
  const manifest = converted?.manifest ?? (await keepManifest(resolved, context.store));
  const staged = await stageImage(ref, context, { config, layers, ...(manifest && { manifest }) });
  if (!resolved.platform) warnOnPlatformMismatch(ref, staged.config.text, context);
  const repoTag = familiarTag(ref);
  return {
    staged,
    pulled: {
      reference: ref.original,
      canonical: canonicalReference(ref),
      ...(repoTag && { repoTag }),
      ...identity,
      protocol: 'v2',
      downloadedBytes: fetched.reduce((sum, f) => sum + f.bytes, 0),
      blobEndpoints: countEndpoints(fetched),
    },
  };
}

/**
 * A single-platform image is pulled whatever the wanted platform (there is nothing to choose from, as in moby's
 * script and skopeo), but one that will not run there is worth a warning: containerd would refuse it.
 */
function warnOnPlatformMismatch(ref: ImageReference, configText: string, context: PullContext): void {
  const actual = configPlatform(JSON.parse(configText));
  if (!actual || platformMatches(actual, context.platform)) return;
  context.emit({
    type: 'platform-mismatch',
    image: ref.original,
    platform: formatPlatform(actual),
    wanted: formatPlatform(context.platform),
  });
}

/** The store's manifests. One that cannot be kept (a read-only cache) only costs a request next time. */
function manifestCache(context: PullContext): ManifestCache {
  return storedManifests(context.store, { offline: context.offline, shared: context.sharedCache });
}

/** Keeps the image manifest's verified bytes in the cache (OCI layouts need them, offline too). */
async function keepManifest(resolved: ResolvedImage, store: BlobStore) {
  if (resolved.manifestBytes) await store.putBytes(resolved.manifestDigest, resolved.manifestBytes);
  if (!(await store.has(resolved.manifestDigest))) return undefined;
  return {
    digest: resolved.manifestDigest,
    mediaType: resolved.manifest.mediaType,
    path: store.blobPath(resolved.manifestDigest),
  };
}

/**
 * A locked image: offline, straight from the lock file; online, its manifest fetched by digest (and verified), and
 * its tag checked: a tag that moved since the lock is reported, not followed.
 */
async function resolveLocked(
  ref: ImageReference,
  locked: LockedImage,
  remote: Remote,
  context: PullContext,
): Promise<ResolvedImage> {
  const fromLock = {
    digest: parseDigest(locked.digest),
    mediaType: locked.manifestMediaType,
    ...(locked.platform && { platform: locked.platform }),
  };
  if (context.offline) {
    return {
      ...fromLock,
      manifestDigest: parseDigest(locked.manifestDigest),
      manifest: lockedManifest(locked),
      endpoint: 'lock file',
    };
  }
  const resolved = await resolveImage(
    { ...ref, digest: parseDigest(locked.manifestDigest) },
    remote,
    context.platform,
    context.signal,
    manifestCache(context),
  );
  if (ref.tag !== undefined && ref.digest === undefined) {
    const current = await remote
      .currentDigest(
        ref.tag,
        (client, tag) => client.headManifest(tag, MANIFEST_ACCEPT, context.signal),
        context.signal,
      )
      .catch(() => undefined);
    if (current && current.value !== locked.digest)
      context.emit({ type: 'tag-moved', image: ref.original, locked: locked.digest, current: current.value });
  }
  return { ...resolved, ...fromLock };
}

interface BlobOwner {
  readonly image: string;
  readonly remote: Remote;
  readonly context: PullContext;
}

interface Fetched {
  readonly source: BlobSource;
  readonly bytes: number;
  readonly endpoint?: string;
}

/**
 * Makes sure a verified blob is in the store: it is there already, or the output directory holds it (verified,
 * then linked in), or it is downloaded. Single-flight per digest within the process; the store's lock does the
 * same across processes.
 */
async function fetchBlob(descriptor: Descriptor, kind: BlobKind, present: string | undefined, owner: BlobOwner) {
  const { context, image } = owner;
  const digest = descriptor.digest.value;
  const result = await sharedFlight(context.inFlight, digest, context.signal, () =>
    context.scheduler.run(owner.remote.host, descriptor.size, () => obtain(descriptor, kind, present, owner)),
  );
  // A blob downloaded now is fresh, and one found in the cache was marked used as it was found; one taken from the
  // output keeps that file's time, so it is marked now, for prune.
  if (result.source === 'output') await context.store.touch(descriptor.digest);
  context.emit({ type: 'blob-done', image, kind, digest, size: descriptor.size, ...result });
  return result;
}

async function obtain(
  descriptor: Descriptor,
  kind: BlobKind,
  present: string | undefined,
  owner: BlobOwner,
): Promise<Fetched> {
  const { context, image, remote } = owner;
  const { store } = context;
  const digest = descriptor.digest.value;
  throwIfAborted(context.signal);
  if (await store.use(descriptor.digest, descriptor.size)) return { source: 'cache', bytes: 0 };
  if (present && (await fileMatches(present, descriptor.digest, descriptor.size))) {
    await store.adopt(present, descriptor.digest);
    return { source: 'output', bytes: 0 };
  }
  if (context.offline) throw new FrozenError('not-found', `offline: blob ${digest} is not in the cache`);
  const events = downloadEvents(context.emit, { image, kind, digest, size: descriptor.size }, context.signal);
  const result = await ingest(
    store,
    descriptor,
    remote.blobEndpoints(digest, context.signal, descriptor.urls),
    events.options,
  );
  events.flush();
  const endpoint = result.endpoint;
  return {
    source: endpoint?.mirror ? 'mirror' : result.source,
    bytes: result.received,
    ...(endpoint && { endpoint: endpoint.name }),
  };
}

/** The seed's `name:tag@<64 hex>` pins an image ID: the config digest, or a manifest digest, must have that hex. */
function assertImageId(ref: ImageReference, resolved: ResolvedImage, image: ImageManifest): void {
  if (!ref.imageId) return;
  const candidates: Digest[] = [image.config.digest, resolved.manifestDigest, resolved.digest];
  if (!candidates.some((digest) => digest.hex === ref.imageId)) {
    throw new FrozenError(
      'integrity',
      `image ID mismatch: wanted ${ref.imageId}, the tag resolves to image ${image.config.digest.value} (manifest ${resolved.manifestDigest.value})`,
    );
  }
}

/**
 * A schema1 image becomes a modern one: its layers are sized (HEAD) and fetched, their diff IDs computed, and a
 * config made from the history; the config enters the cache like any verified blob.
 */
async function convertSchema1(manifest: Schema1Manifest, ref: ImageReference, remote: Remote, context: PullContext) {
  context.emit({ type: 'converted', image: ref.original, from: 'schema1' });
  const entries = schema1Entries(manifest);
  const blobs = [...new Set(entries.filter((entry) => !entry.v1.throwaway).map((entry) => entry.blob.value))];
  const sizes = new Map(
    await allOrStop(context.signal, (signal) =>
      blobs.map(async (digest) => [digest, await remote.blobSize(digest, signal)] as const),
    ),
  );
  const layers = schema1Layers(entries, sizes);
  await allOrStop(context.signal, (signal) =>
    layers.map((layer) =>
      fetchBlob(layer, 'layer', undefined, { image: ref.original, remote, context: { ...context, signal } }),
    ),
  );
  const limit = pLimit(LAYERS_DECOMPRESSED_AT_ONCE);
  const diffIds = await allSettledOrThrow(
    layers.map((layer) =>
      limit(async () =>
        parseDigest(await diffIdOf(createReadStream(context.store.blobPath(layer.digest)) as AsyncIterable<Buffer>)),
      ),
    ),
  );
  const converted = historyImage(entries, layers, diffIds);
  return { image: converted.manifest, manifest: await keepConvertedImage(context.store, converted) };
}
