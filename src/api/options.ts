/**
 * The options of `pull()`: the public vocabulary, on its own. Registry options are shared with `inspect` and `lock`
 * (registry/session.ts); the lock file's types are the lock-file format's (lockfile/). Every optional option also
 * takes `undefined`, so a caller under `exactOptionalPropertyTypes` can pass its own optional values on.
 */
import type { Writable } from 'node:stream';
import type { LockFile } from '../lockfile/index.js';
import type { Platform } from '../platform/index.js';
import type { RegistryOptions } from '../registry/session.js';
import type { PullEvent } from './events.js';

/** The registry API a pull speaks (`PullOptions.protocol`). */
export type Protocol = 'v1' | 'v2' | 'auto';

/** What every pull is given, whether it names images or pulls a lock file. */
export interface PullCommonOptions extends RegistryOptions {
  /**
   * Where to write (default `./frozen-images`): a directory, a tar file with `format: 'tar'`, or a writable stream
   * that receives the tar (the CLI's `-o -`).
   */
  readonly output?: string | Writable | undefined;
  /**
   * `dir` (default): the download-frozen-image directory, merged; `tar`: the same as one docker-archive tar;
   * `oci`: a new OCI image layout with a manifest.json, as `docker save` writes since Docker 25.
   */
  readonly format?: 'dir' | 'tar' | 'oci' | undefined;
  /** The blob cache directory (default: `$FROZEN_CACHE`, `$XDG_CACHE_HOME/frozen`, `~/.cache/frozen`); `false` for none. */
  readonly cache?: string | false | undefined;
  /** Copy files from the cache into the output instead of hard-linking them. */
  readonly copy?: boolean | undefined;
  /** Store layers uncompressed, as `docker save` does (each `layer.tar` then hashes to its diff ID). */
  readonly decompress?: boolean | undefined;
  /** Large blobs downloaded at once, a positive integer (default 16); small blobs have as many slots of their own (four times as many from a registry that speaks HTTP/2). */
  readonly concurrency?: number | undefined;
  /** Large blobs downloaded at once from one registry host, a positive integer (default 6). */
  readonly perHostConcurrency?: number | undefined;
  /**
   * A blob of `segmentThreshold` bytes or more is fetched as this many ranges at once, each on a connection of its
   * own; 1 fetches every blob in one stream. On far links one TCP connection is the bottleneck. Given, it applies
   * to every registry; by default 8 ranges for registries 50 ms or more away (their fastest response), and one
   * stream for nearer ones, where ranges only cost.
   */
  readonly segments?: number | undefined;
  /** The size from which a blob is fetched in ranges, in bytes (default 32 MiB). */
  readonly segmentThreshold?: number | undefined;
  /**
   * The registry API: `v2`, `v1` (the seed's protocol, for legacy registries), or `auto` (default): v2, and v1 when
   * v2 does not know the image and the host answers `/v1/_ping` but has no `/v2/`.
   */
  readonly protocol?: Protocol | undefined;
  /**
   * Make no request at all (with `lock`, or when every reference has a digest): every manifest and blob must be in
   * the cache (or, for blobs, the output directory).
   */
  readonly offline?: boolean | undefined;
  /**
   * Public keys (PEM files, as `cosign generate-key-pair` writes `cosign.pub`) one of which must have signed every
   * image (cosign's signature at `sha256-<hex>.sig`): an image without such a signature fails and is not written.
   * frozen's config file may require keys for some registries or repositories only (`signatures`, docs/airgap.md).
   */
  readonly verifyKeys?: readonly string[] | undefined;
  /**
   * Keep what refers to each image in the OCI layout (`format: 'oci'` only; not offline): cosign's signatures,
   * attestations and SBOMs (`sha256-<hex>.sig`, `.att`, `.sbom`) and OCI 1.1 referrers (the referrers API, else
   * the referrers tag schema), each verified by digest and listed in index.json.
   */
  readonly includeReferrers?: boolean | undefined;
  /**
   * Write the images that succeeded even when others failed (the CLI's `--keep-going`): the result lists the
   * failures. By default a run is all or nothing.
   */
  readonly partial?: boolean | undefined;
  /** Stops the pull: it rejects with an `aborted` FrozenError (`aborted: <reason>`) and leaves the output as it was. */
  readonly signal?: AbortSignal | undefined;
  /** Hears every event of the run as it happens; if it throws, the pull is aborted and rejects with that error. */
  readonly onEvent?: ((event: PullEvent) => void) | undefined;
}

/** A pull of images named by reference. */
export interface PullImagesOptions extends PullCommonOptions {
  /** Image references, e.g. `busybox:latest`, `localhost:5000/team/app:1.2@sha256:…`. */
  readonly images: readonly string[];
  /**
   * `os/arch[/variant]` or a Platform; default: TARGETPLATFORM/TARGETARCH, else the host. Several (a list, or
   * `linux/amd64,linux/arm64`), or `all`, pull that many images of a multi-platform reference, which only
   * `format: 'oci'` can hold under one tag.
   */
  readonly platform?: string | Platform | readonly (string | Platform)[] | undefined;
  readonly lock?: undefined;
}

/** A pull of exactly the images of a lock file, each for the platform it pins. */
export interface PullLockOptions extends PullCommonOptions {
  readonly lock: LockFile;
  /** A lock file names its images: none may be given besides. */
  readonly images?: readonly [] | undefined;
  /** A lock file pins each image's platform: none may be given. */
  readonly platform?: undefined;
}

/** What `pull()` is given: images by reference, or a lock file (not both). */
export type PullOptions = PullImagesOptions | PullLockOptions;
