/**
 * One repository as seen through its endpoints: mirrors in order, then upstream. Every request falls back to the
 * next endpoint on any failure (connection, timeout, 5xx, 404, 401/403 a fresh token did not fix, 429, a digest
 * or size mismatch); mirrors get no retries (falling back is faster), upstream gets the retry policy. A mirror
 * that fails three times is skipped for the rest of the run.
 */
import { digestOf, type Digest } from '../digest.js';
import { FrozenError, asFrozenError, type ErrorKind } from '../errors.js';
import type { ManifestCache } from '../manifest/cache.js';
import { assertConfigSize, CONFIG_SIZE_LIMIT, MANIFEST_ACCEPT, type Descriptor } from '../manifest/index.js';
import { readLimited } from '../util/read-limited.js';
import { getFromUrl, responseError, type RegistryClient } from './client.js';
import { decodeKept, fetchVerifiedManifest, type FetchedManifest } from './manifest-fetch.js';
import { withRetries, type RetryListener, type RetryPolicy } from './retry.js';
import { header, type Transport } from './transport.js';

/** A referrers listing is an index; like a manifest's, its size is bounded, and so is the number of its pages. */
const REFERRERS_SIZE_LIMIT = 4 * 1024 * 1024;
const REFERRERS_PAGE_LIMIT = 100;

/**
 * The query of the next page a `Link` header names (`<path?query>; rel="next"`), when it is a page of the same
 * listing: a link elsewhere is not followed.
 */
export function nextPageQuery(link: string | undefined, digest: Digest): string | undefined {
  const next = link && /<([^>]*)>\s*;\s*rel="?next"?/i.exec(link)?.[1];
  if (!next) return undefined;
  const url = new URL(next, 'http://registry.invalid');
  return url.pathname.endsWith(`/referrers/${digest.value}`) && url.search ? url.search : undefined;
}

/**
 * One endpoint a blob can be downloaded from, as the ingest takes it: how to open it from an offset, its retry
 * policy, and what to do when it failed.
 */
export interface BlobEndpoint {
  readonly name: string;
  readonly mirror: boolean;
  readonly open: (offset: number) => ReturnType<RegistryClient['getBlob']>;
  /** The fastest response its host gave so far, in ms (how far it is); undefined before any. */
  readonly fastestResponseMs?: () => number | undefined;
  /** Opens bytes `start` to `end` (inclusive) on a connection of its own, for a download in ranges. */
  readonly openRange?: (start: number, end: number) => ReturnType<RegistryClient['getBlob']>;
  readonly retry: RetryPolicy;
  readonly failed: () => void;
}

const MIRROR_FAILURES_ALLOWED = 3;

/** Failure counts per mirror, shared by every image of a run. */
export class MirrorHealth {
  private readonly failures = new Map<string, number>();

  usable(client: RegistryClient): boolean {
    return !client.endpoint.mirror || (this.failures.get(client.endpoint.name) ?? 0) < MIRROR_FAILURES_ALLOWED;
  }

  failed(client: RegistryClient): void {
    if (client.endpoint.mirror)
      this.failures.set(client.endpoint.name, (this.failures.get(client.endpoint.name) ?? 0) + 1);
  }
}

/**
 * Told of the retries of requests that are not blob downloads (manifests, a tag's HEAD, sizes), and of each move
 * to the next endpoint; blob downloads report their own (`IngestOptions`).
 */
export interface RequestNotices {
  readonly onRetry?: RetryListener;
  readonly onFallback?: (endpoint: string, error: unknown) => void;
}

/** Failures of a tag's HEAD that a GET of the tag would meet just the same. */
const FINAL_HEAD_FAILURES = new Set<ErrorKind>(['network', 'tls', 'auth', 'aborted']);

/** A manifest and the endpoint that served it (`cache` for one kept in the manifest cache). */
export interface ServedManifest extends FetchedManifest {
  readonly endpoint: string;
}

/** What a Remote is told besides its endpoints. */
export interface RemoteOptions {
  /** `registry/repository`, which names its tags in the manifest cache. */
  readonly repository: string;
  readonly notices?: RequestNotices | undefined;
  /** Verified manifests by digest, consulted before any endpoint and added to after. */
  readonly cache?: ManifestCache | undefined;
}

/**
 * One repository through its endpoints: manifests (verified, through the manifest cache), blob endpoints, a
 * tag's digest.
 */
export class Remote {
  constructor(
    /** Endpoint clients, mirrors first, upstream last. */
    private readonly clients: readonly RegistryClient[],
    private readonly health: MirrorHealth,
    private readonly retry: RetryPolicy,
    /** For the `urls` of foreign layers, which are no endpoint's. */
    private readonly transport: Transport,
    private readonly options: RemoteOptions,
  ) {}

  private get notices(): RequestNotices {
    return this.options.notices ?? {};
  }

  private get cache(): ManifestCache | undefined {
    return this.options.cache;
  }

  private get upstream(): RegistryClient {
    return this.clients.at(-1)!;
  }

  private usable(): RegistryClient[] {
    return this.clients.filter((client) => this.health.usable(client));
  }

  private policy(client: RegistryClient): RetryPolicy {
    return client.endpoint.mirror ? { ...this.retry, retries: 0 } : this.retry;
  }

  /**
   * A manifest by tag or digest, verified: by digest from the manifest cache when it is kept there, else through
   * the endpoints, and then kept (offline, a manifest that is not kept is an error).
   */
  async manifest(reference: string, expected: Digest | undefined, signal?: AbortSignal): Promise<ServedManifest> {
    const kept = expected && (await this.kept(expected));
    if (kept) return kept;
    if (this.cache?.offline) {
      throw new FrozenError('not-found', `offline: manifest ${expected?.value ?? reference} is not in the cache`);
    }
    const served = await this.manifestFromEndpoints(reference, expected, signal);
    // A signed schema1 manifest's digest is its payload's, not the bytes': it is not kept.
    if (served.endpoint !== 'cache' && served.manifest.kind !== 'schema1') {
      await this.cache?.put(served.digest, served.bytes);
    }
    return served;
  }

  /** Notes in the manifest cache that this tag was resolved through it (see `ManifestCache.rememberTag`). */
  async rememberTag(tag: string): Promise<void> {
    if (this.cache?.shared) await this.cache.rememberTag(this.tagName(tag));
  }

  private tagName(tag: string): string {
    return `${this.options.repository}:${tag}`;
  }

  /**
   * By digest: from each endpoint in turn, verified. By tag: from trusted mirrors, else the tag is resolved
   * upstream (HEAD) and the manifest fetched by digest from the mirrors, then upstream. With a cache of manifests
   * kept across runs, a tag it has seen is resolved by HEAD even without mirrors, so that one already kept costs no
   * GET (Docker Hub counts manifest GETs against its pull limits, not HEADs).
   */
  private async manifestFromEndpoints(
    reference: string,
    expected: Digest | undefined,
    signal?: AbortSignal,
  ): Promise<ServedManifest> {
    const usable = this.usable();
    const fetchFrom = (clients: readonly RegistryClient[], ref: string, digest: Digest | undefined) =>
      this.fetchManifest(clients, ref, digest, signal);
    if (expected) return fetchFrom(usable, reference, expected);
    const upstreamAlone = usable.length === 1; // upstream is always usable; mirrors may not be
    if (upstreamAlone && (await this.tagKept(reference))) return this.tagThroughCache(reference, signal);
    if (usable.every((client) => client.endpoint.resolveTags)) return fetchFrom(usable, reference, undefined);
    const trustedMirrors = usable.filter((client) => client.endpoint.mirror && client.endpoint.resolveTags);
    if (trustedMirrors.length > 0) {
      try {
        return await fetchFrom(trustedMirrors, reference, undefined);
      } catch (error) {
        if (asFrozenError(error).kind === 'aborted') throw error;
        this.notices.onFallback?.(trustedMirrors.at(-1)!.endpoint.name, error); // the tag is resolved upstream, below
      }
    }
    const digest = await this.tagDigestUpstream(reference, signal);
    if (!digest) return fetchFrom([this.upstream], reference, undefined);
    const kept = await this.keptIfShared(digest);
    if (kept) return kept;
    const untrusted = usable.filter((client) => !(client.endpoint.mirror && client.endpoint.resolveTags));
    return fetchFrom(untrusted, digest.value, digest);
  }

  /** A tag's digest from upstream, for mirrors that may not resolve tags: its failure says so. */
  private async tagDigestUpstream(tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
    try {
      return await this.currentDigest(tag, signal);
    } catch (error) {
      const cause = asFrozenError(error);
      if (cause.kind === 'aborted') throw cause;
      // A registry whose HEAD answers 404 or 405 where GET works: the GET by tag upstream says what is what.
      if (!FINAL_HEAD_FAILURES.has(cause.kind)) return undefined;
      throw new FrozenError(
        cause.kind,
        `cannot resolve tag "${tag}": ${this.upstream.endpoint.name} failed (${cause.message}) and no mirror is trusted to resolve tags (trustedMirrors)`,
        { cause },
      );
    }
  }

  /** The tag may have its manifest kept (it was resolved through a cache kept across runs): worth a HEAD first. */
  private async tagKept(tag: string): Promise<boolean> {
    return this.cache?.shared === true && (await this.cache.knowsTag(this.tagName(tag)));
  }

  /**
   * A tag on a registry without mirrors, with a cache that has seen it: HEAD, then the kept manifest or a GET by
   * digest. When the HEAD gets an answer that is not the digest (a 404, a registry that does not do HEAD, no
   * `Docker-Content-Digest`), the tag is fetched as it would be without a cache, and that GET reports what is wrong
   * in the registry's own words. A failed connection or refused credentials are reported at once: the GET would
   * only meet them again.
   */
  private async tagThroughCache(tag: string, signal?: AbortSignal): Promise<ServedManifest> {
    const digest = await this.currentDigest(tag, signal).catch((error: unknown) => {
      if (FINAL_HEAD_FAILURES.has(asFrozenError(error).kind)) throw error;
      return undefined;
    });
    const kept = digest && (await this.keptIfShared(digest));
    if (kept) return kept;
    return this.fetchManifest([this.upstream], digest?.value ?? tag, digest, signal);
  }

  private async fetchManifest(
    clients: readonly RegistryClient[],
    reference: string,
    expected: Digest | undefined,
    signal?: AbortSignal,
  ): Promise<ServedManifest> {
    const fetch = (client: RegistryClient) => fetchVerifiedManifest(client, reference, expected, signal);
    const { value, endpoint } = await this.firstSuccess(clients, fetch, signal);
    return { ...value, endpoint };
  }

  /** The manifest kept under a digest, decoded, if any. */
  private async kept(digest: Digest): Promise<ServedManifest | undefined> {
    const bytes = await this.cache?.get(digest);
    const manifest = bytes && decodeKept(bytes);
    return bytes && manifest ? { digest, manifest, bytes, endpoint: 'cache' } : undefined;
  }

  /** `kept`, for a cache kept across runs only: a run's own cache never holds what a tag resolves to. */
  private keptIfShared(digest: Digest): Promise<ServedManifest | undefined> {
    return this.cache?.shared ? this.kept(digest) : Promise.resolve(undefined);
  }

  /** What a tag points to now (HEAD upstream); undefined when the registry does not say. */
  currentDigest(tag: string, signal?: AbortSignal): Promise<Digest | undefined> {
    const head = () => this.upstream.headManifest(tag, MANIFEST_ACCEPT, signal);
    return withRetries(this.retry, head, { signal, onRetry: this.notices.onRetry });
  }

  /**
   * The referrers indexes the registry's referrers API gives for `digest`, every page (following `Link: <…>;
   * rel="next"`, as the OCI distribution spec pages them), or undefined when the registry has no such API (404).
   * It lists (upstream: mirrors need not keep it); every referrer is then fetched by digest.
   */
  async referrersIndex(digest: Digest, signal?: AbortSignal): Promise<Buffer[] | undefined> {
    const pages: Buffer[] = [];
    let query: string | undefined = '';
    while (query !== undefined) {
      if (pages.length >= REFERRERS_PAGE_LIMIT)
        throw new FrozenError('protocol', `referrers of ${digest.value}: more than ${REFERRERS_PAGE_LIMIT} pages`);
      const page = await this.referrersPage(digest, query, signal);
      if (!page) return undefined;
      pages.push(page.bytes);
      query = page.next;
    }
    return pages;
  }

  private referrersPage(digest: Digest, query: string, signal?: AbortSignal) {
    const get = async () => {
      const response = await this.upstream.getReferrers(digest.value, query, signal);
      if (response.statusCode === 404 && query === '') {
        await response.body.dump();
        return undefined;
      }
      if (response.statusCode !== 200) throw await responseError(response, `referrers of ${digest.value}`);
      const bytes = await readLimited(response.body, REFERRERS_SIZE_LIMIT, `referrers of ${digest.value}`);
      return { bytes, next: nextPageQuery(header(response.headers, 'link'), digest) };
    };
    return withRetries(this.retry, get, { signal, onRetry: this.notices.onRetry });
  }

  /** A blob's size, from the first endpoint that knows it. */
  async blobSize(digest: string, signal?: AbortSignal): Promise<number> {
    return (await this.firstSuccess(this.usable(), (client) => client.blobSize(digest, signal), signal)).value;
  }

  /**
   * An image config's bytes, from the first endpoint that serves the right ones: the size and digest are checked
   * before anything reads them.
   */
  async configBlob(config: Descriptor, signal?: AbortSignal): Promise<Buffer> {
    assertConfigSize(config);
    const { digest, size } = config;
    const fetchVerified = async (client: RegistryClient) => {
      const response = await client.getBlob(digest.value, 0, signal);
      const bytes = await readLimited(response.body, CONFIG_SIZE_LIMIT, `blob ${digest.value}`);
      const served = digestOf(bytes, digest.algorithm);
      if (bytes.length !== size || served.value !== digest.value) {
        throw new FrozenError(
          'integrity',
          `blob ${digest.value}: digest or size mismatch (${bytes.length} bytes that hash to ${served.value})`,
        );
      }
      return bytes;
    };
    return (await this.firstSuccess(this.usable(), fetchVerified, signal)).value;
  }

  /**
   * The endpoints to try for a blob, in order: the registry's (mirrors first), then the `urls` its descriptor
   * lists, for foreign layers that registries do not hold.
   */
  blobEndpoints(digest: string, signal?: AbortSignal, urls: readonly URL[] = []): BlobEndpoint[] {
    const fromClients = this.usable().map((client) => ({
      name: client.endpoint.name,
      mirror: client.endpoint.mirror,
      open: (offset: number) => client.getBlob(digest, offset, signal),
      openRange: (start: number, end: number) => client.getBlob(digest, start, signal, end),
      fastestResponseMs: () => this.transport.fastestResponseMs(new URL(client.endpoint.origin).host),
      retry: this.policy(client),
      failed: () => this.health.failed(client),
    }));
    const fromUrls = urls.map((url) => ({
      name: url.host,
      mirror: false,
      open: (offset: number) => getFromUrl(this.transport, url, digest, offset, signal),
      openRange: (start: number, end: number) => getFromUrl(this.transport, url, digest, start, signal, end),
      fastestResponseMs: () => this.transport.fastestResponseMs(url.host),
      retry: this.retry,
      failed: () => undefined,
    }));
    return [...fromClients, ...fromUrls];
  }

  /** The host large downloads are counted against (upstream's, whichever endpoint serves). */
  get host(): string {
    return this.upstream.apiHost;
  }

  private async firstSuccess<T>(
    clients: readonly RegistryClient[],
    run: (client: RegistryClient) => Promise<T>,
    signal?: AbortSignal,
  ) {
    let last: unknown;
    for (const client of clients) {
      try {
        const value = await withRetries(this.policy(client), () => run(client), {
          signal,
          onRetry: this.notices.onRetry,
        });
        return { value, endpoint: client.endpoint.name };
      } catch (error) {
        if (asFrozenError(error).kind === 'aborted') throw error;
        this.health.failed(client);
        if (client !== clients.at(-1)) this.notices.onFallback?.(client.endpoint.name, error);
        last = error;
      }
    }
    if (last === undefined) throw new FrozenError('network', 'no endpoint left to try');
    throw last instanceof Error ? last : asFrozenError(last);
  }
}
