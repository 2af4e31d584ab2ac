/**
 * The options of `pull()`: the public vocabulary, on its own. Registry options are shared with `inspect` and `lock`
 * (registry/session.ts); the lock file's types are the lock-file format's (lockfile/).
 */
import type { Writable } from 'node:stream';
import type { LockFile } from '../lockfile/index.js';
import type { Platform } from '../platform/index.js';
import type { RegistryOptions } from '../registry/session.js';
import type { PullEvent } from './events.js';

/** What `pull()` is given. */
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
  /** The blob cache directory (default: BlobCache.defaultRoot()); `false` for none. */
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
  /** Stops the pull: it rejects with an `aborted` FrozenError and leaves the output as it was. */
  readonly signal?: AbortSignal;
  /** Hears every event of the run as it happens; if it throws, the pull is aborted and rejects with that error. */
  readonly onEvent?: (event: PullEvent) => void;
}

/** The registry API a pull speaks (`PullOptions.protocol`). */
export type Protocol = 'v1' | 'v2' | 'auto';
