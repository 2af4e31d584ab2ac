/** What `pull()` returns: the public vocabulary, on its own. */
/** One image a pull wrote, and how it went. */
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

/** What `pull()` resolves to. */
export interface PullResult {
  /** The directory or tar file written, or `-` for a stream. */
  readonly output: string;
  readonly images: readonly PulledImage[];
}
