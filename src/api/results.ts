/** What `pull()` returns: the public vocabulary, on its own. */
import type { ImagePullError } from '../errors.js';

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
  /** The platform of the entry picked from an index, when there was one. */
  readonly platform?: string;
  readonly layers: number;
  /** Config plus layer bytes. */
  readonly bytes: number;
  /** The config's bytes (the rest of `bytes` is the layers'). */
  readonly configBytes: number;
  /**
   * Bytes received from the network for this image in this run; a blob another image of the run downloaded (or
   * was downloading) counts there, once.
   */
  readonly downloadedBytes: number;
  /** The endpoint (mirror URL or registry host) that served the image manifest. */
  readonly endpoint: string;
  /** Blobs downloaded for this image in this run, counted per endpoint that served them. */
  readonly blobEndpoints: Readonly<Record<string, number>>;
  /** The fingerprint (`sha256:<hex>` of its DER form) of the key whose signature covered the image, when one had to. */
  readonly signedBy?: string;
}

/** What a whole run moved. */
export interface PullTotals {
  /** Config and layer bytes of every image written, each blob counted once. */
  readonly bytes: number;
  /** Bytes received from the network. */
  readonly downloadedBytes: number;
  /** HTTP requests sent, per host (`host[:port]`), redirects and token requests included. */
  readonly requests: Readonly<Record<string, number>>;
  /** Connections opened, per host (`host[:port]`): each a TCP handshake, and over https a TLS one, far from the registry a round trip or two. */
  readonly connections: Readonly<Record<string, number>>;
}

/** What `pull()` resolves to. */
export interface PullResult {
  /** The directory or tar file written, or `-` for a stream. */
  readonly output: string;
  /** The images written, in the order given. */
  readonly images: readonly PulledImage[];
  /** With `partial: true`, the images that failed (and were not written); empty otherwise. */
  readonly failures: readonly ImagePullError[];
  readonly totals: PullTotals;
}
