/**
 * The seam between a pull and what it writes: the pull hands an OutputWriter the images it verified, and the
 * writer makes its format of them, whole or not at all. Three implement it: the download-frozen-image directory
 * (docker-dir.ts), a docker-archive tar (tar-writer.ts) and an OCI image layout (oci.ts). A new format is a new
 * writer, chosen in pull/output.ts.
 */
import type { Digest } from '../digest.js';
import type { SourcedLayer } from './docker-format.js';

/** An image whose blobs are verified (in the cache), ready to be written. */
export interface StagedImage {
  /** Familiar name and tag for `RepoTags` and `repositories`; absent for a digest-only pull. */
  readonly tag?: { readonly name: string; readonly tag: string };
  readonly config: { readonly digest: Digest; readonly text: string; readonly path: string };
  /** Layers base first, each with the path of its verified blob (and the descriptor of a foreign one). */
  readonly layers: readonly ({ readonly digest: Digest; readonly path: string } & SourcedLayer)[];
  /** The image manifest (for OCI layouts): its digest, media type and verified file; absent offline when not cached. */
  readonly manifest?: { readonly digest: Digest; readonly mediaType: string; readonly path: string };
  /**
   * The index this image is one platform of, when several platforms of one reference are pulled (OCI layouts only):
   * its verified file, and whether this image is the one that gets the tag in manifest.json.
   */
  readonly index?: {
    readonly digest: Digest;
    readonly mediaType: string;
    readonly path: string;
    readonly primary: boolean;
    /** The verified files of the index's other entries kept with it (attestation manifests and their blobs). */
    readonly others: readonly { readonly digest: Digest; readonly path: string }[];
  };
  /** What refers to the image (signatures, SBOMs, attestations), with `includeReferrers`: OCI layouts only. */
  readonly referrers?: readonly KeptReferrer[];
  /** The fully qualified name for OCI annotations, e.g. `docker.io/library/busybox:latest`. */
  readonly canonical: string;
  /**
   * A v1 registry's image: its layer directories are named by the v1 image IDs and hold the registry's json, base
   * first, instead of the script's computed IDs and templates.
   */
  readonly legacy?: { readonly ids: readonly string[]; readonly json: readonly Uint8Array[] };
}

/** A referrer of an image, verified in the cache: its manifest, the blobs it names, and how index.json lists it. */
export interface KeptReferrer {
  readonly digest: Digest;
  readonly mediaType: string;
  readonly size: number;
  readonly path: string;
  /** Its config and layers (or, for an index, nothing more), verified. */
  readonly blobs: readonly { readonly digest: Digest; readonly path: string }[];
  /** A cosign artifact's tag (`sha256-<hex>.sig`), under which index.json names it. */
  readonly tag?: string;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Files an output already holds where a blob would go: candidates to re-verify and reuse instead of fetching. */
export interface ExistingFiles {
  readonly config?: string;
  /** One per layer asked about, in order. */
  readonly layers: readonly (string | undefined)[];
}

/** An output format: what the pull asks of it, and the images it writes. */
export interface OutputWriter {
  readonly format: 'dir' | 'tar' | 'oci';
  /** The output as results name it: its absolute path, or `-` for a stream. */
  readonly output: string;
  /** Its readers know zstd layers, which are then written as served (else they are written decompressed). */
  readonly keepsZstd: boolean;
  /**
   * A folder for the run's temporary files, on a file system where files link to the output: a run without a
   * cache keeps its blobs there. It is gone after `write` or `discard`.
   */
  readonly staging: string;
  /** Where the output may already hold this config and these layers (by digest). */
  existing(config: Digest, layers: readonly Digest[]): ExistingFiles;
  /** These layers are about to be fetched: what can be made of their place ahead, while they download, is. */
  prepare?(layers: readonly Digest[]): void;
  /** Writes every image; the output is whole when this resolves, and as it was when it rejects. */
  write(images: readonly StagedImage[], signal?: AbortSignal): Promise<void>;
  /** Leaves the output as it was, and removes the temporary files. */
  discard(): Promise<void>;
}

/** What a new output answers to `existing`: it holds nothing yet. */
export function nothingExisting(layers: readonly Digest[]): ExistingFiles {
  return { layers: layers.map(() => undefined) };
}
