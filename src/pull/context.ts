/** What every part of one pull shares: the run's registry session, cache, output writer, scheduler and events. */
import type { SegmentPlan } from '../transfer/segmented.js';
import type { BlobSource, PullEvent } from '../api/events.js';
import type { Protocol } from '../api/options.js';
import type { PulledImage } from '../api/results.js';
import type { BlobCache } from '../cache/blob-cache.js';
import type { LockedImage } from '../lockfile/index.js';
import type { OutputWriter, StagedImage } from '../layout/writer.js';
import type { Platform, PlatformChoice } from '../platform/index.js';
import type { ImageReference } from '../reference/index.js';
import type { RegistrySession } from '../registry/session.js';
import type { SignaturePolicy } from '../signature/policy.js';
import type { Scheduler } from '../transfer/scheduler.js';
import type { LayerDecompression } from './stage.js';

/** What every part of a run shares. */
export interface PullContext {
  readonly session: RegistrySession;
  readonly writer: OutputWriter;
  readonly cache: BlobCache;
  /** The cache outlives this run (not `cache: false`, nor the temporary stand-in for an unusable cache). */
  readonly cacheShared: boolean;
  /** The platform wanted when one image is pulled per reference; with several, the one whose image gets the tag. */
  readonly platform: Platform;
  /** Every platform wanted of a multi-platform reference (one, for most runs). */
  readonly platforms: PlatformChoice;
  readonly scheduler: Scheduler;
  /** Single-flight: a blob (a digest, or a v1 layer's registry and ID) wanted by several images is fetched once. */
  readonly inFlight: Map<string, Promise<Fetched>>;
  readonly emit: (event: PullEvent) => void;
  /** No requests: blobs come from the cache or the output directory, manifests from the lock file. */
  readonly offline: boolean;
  /** Which layers are written uncompressed: all (--decompress), zstd ones (docker-archive output), none (OCI). */
  readonly decompress: LayerDecompression;
  readonly protocol: Protocol;
  /** Bytes received from the network in this run, every image's (a shared download counted once). */
  readonly downloaded: { bytes: number };
  /** Keep what refers to each image (OCI layouts). */
  readonly includeReferrers: boolean;
  /** The keys each image must be signed by (none, for most). */
  readonly signatures: SignaturePolicy;
  /** How big blobs are split into ranges fetched at once. */
  readonly segments: SegmentPlan;
  readonly signal?: AbortSignal;
}

/** An image to pull: its reference, and its lock-file entries when pulling from one (one per platform locked). */
export interface PullJob {
  readonly ref: ImageReference;
  readonly locked?: readonly [LockedImage, ...LockedImage[]];
}

/** What one image contributes: the files to write, the report, and its blobs (digest and size) for the totals. */
export interface StagedPull {
  readonly staged: StagedImage;
  readonly pulled: PulledImage;
  readonly blobs: readonly { readonly digest: string; readonly size: number }[];
}

/** How a blob got into the cache in this run. */
export interface Fetched {
  readonly source: BlobSource;
  /** Bytes received from the network for it. */
  readonly bytes: number;
  /** The endpoint that served it, when downloaded. */
  readonly endpoint?: string;
}
