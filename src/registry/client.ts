/**
 * Registry API calls for one repository at one endpoint, authorized on demand; and the one-line errors made of
 * failed responses.
 */
import { parseDigest, type Digest } from '../digest.js';
import { FrozenError, type ErrorKind } from '../errors.js';
import { parseChallenges, pullScope, type Authorizer } from './auth.js';
import type { Endpoint } from './mirrors.js';
import { header, headerValues, type HttpResponse, type Transport } from './transport.js';

/**
 * Registry API calls for one repository at one endpoint (a mirror or the registry itself): manifests and blobs,
 * authorized on demand. A request that meets a 401 is answered once (token or Basic); a token the registry
 * rejects later is refreshed once.
 */
export class RegistryClient {
  private readonly host: string;
  private readonly scope: string;
  /** The repository as this endpoint names it (a Harbor-style mirror puts its prefix in front). */
  private readonly path: string;

  constructor(
    readonly endpoint: Endpoint,
    repository: string,
    private readonly transport: Transport,
    private readonly authorizer: Authorizer,
  ) {
    this.host = new URL(endpoint.origin).host;
    this.path = endpoint.repositoryPrefix ? `${endpoint.repositoryPrefix}/${repository}` : repository;
    this.scope = pullScope(this.path);
  }

  /** HEAD a manifest: the digest the registry gives for a tag, if it says (`Docker-Content-Digest`). */
  async headManifest(reference: string, accept: readonly string[], signal?: AbortSignal): Promise<Digest | undefined> {
    const response = await this.get(`manifests/${reference}`, { accept: accept.join(', ') }, signal, 'HEAD');
    if (response.statusCode !== 200) throw await responseError(response, `manifest ${reference}`);
    await response.body.dump();
    const digest = header(response.headers, 'docker-content-digest');
    return digest === undefined ? undefined : parseDigest(digest.trim());
  }

  /** GET a manifest by tag or digest. The caller verifies and decodes it. */
  async getManifest(reference: string, accept: readonly string[], signal?: AbortSignal): Promise<HttpResponse> {
    const response = await this.get(`manifests/${reference}`, { accept: accept.join(', ') }, signal);
    if (response.statusCode !== 200) throw await responseError(response, `manifest ${reference}`);
    return response;
  }

  /**
   * GET the OCI 1.1 referrers of a manifest (`/referrers/<digest>`, with the query of a next page): an image index
   * listing them, or 404 from a registry without the API. The caller judges the status.
   */
  async getReferrers(digest: string, query = '', signal?: AbortSignal): Promise<HttpResponse> {
    return this.get(`referrers/${digest}${query}`, { accept: 'application/vnd.oci.image.index.v1+json' }, signal);
  }

  /** HEAD a blob: its size (schema1 manifests do not say). */
  async blobSize(digest: string, signal?: AbortSignal): Promise<number> {
    const response = await this.get(`blobs/${digest}`, {}, signal, 'HEAD');
    await response.body.dump();
    const size = Number(header(response.headers, 'content-length'));
    if (response.statusCode !== 200 || !Number.isSafeInteger(size) || size < 0) {
      throw new FrozenError(
        response.statusCode === 404 ? 'not-found' : 'protocol',
        `blob ${digest}: no size (HEAD answered ${response.statusCode})`,
      );
    }
    return size;
  }

  /**
   * GET a blob, from `offset` on when resuming (`Range: bytes=N-`). The body streams from wherever the registry
   * redirected to. 200, 206 and 416 come back for the caller to judge; other statuses are errors.
   */
  async getBlob(digest: string, offset = 0, signal?: AbortSignal, end?: number): Promise<HttpResponse> {
    // A range with an end is one segment of a download in ranges: it wants a connection of its own.
    const response = await this.get(`blobs/${digest}`, rangeFrom(offset, end), signal, 'GET', end !== undefined);
    if (response.url.host !== this.host && (response.statusCode === 401 || response.statusCode === 403)) {
      // A storage host the registry redirected to (S3, GCS, a CDN) refusing its signed URL: it has expired, most
      // often while a resume waited. The registry signs a new one when asked again, so this is worth a retry.
      const refused = await responseError(response, `blob ${digest}`);
      throw new FrozenError(
        'network',
        `${refused.message}; the signed URL of ${response.url.host} expired or was refused, asking the registry again`,
      );
    }
    return expectBlobResponse(response, offset > 0 || end !== undefined, `blob ${digest}`);
  }

  /** The host this client talks to, for per-host limits. */
  get apiHost(): string {
    return this.host;
  }

  private async get(
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    method: 'GET' | 'HEAD' = 'GET',
    ownConnection = false,
  ): Promise<HttpResponse> {
    // https first, unless a mirror was configured with http; the transport falls back to plain http for loopback
    // and --insecure-registry hosts that do not speak TLS.
    const url = new URL(`${this.endpoint.origin}${this.endpoint.pathPrefix}/v2/${this.path}/${path}`);
    const send = (authorization: string | undefined) =>
      this.transport.send(url, {
        method,
        headers: authorization ? { ...headers, authorization } : headers,
        ...(signal && { signal }),
        ...(ownConnection && { ownConnection }),
      });

    const known = await this.authorizer.authorization(this.host, this.scope, signal);
    const first = await send(known);
    if (first.statusCode !== 401) return first;
    await first.body.dump();
    const challenges = headerValues(first.headers, 'www-authenticate');
    const answer = await this.authorizer.challenged(this.host, this.scope, challenges, known, signal);
    return send(answer);
  }
}

/**
 * What a status means. 5xx and 429 are worth another try, except 501 Not Implemented and 505 HTTP Version Not
 * Supported, which another try only repeats; every other 4xx (400, 405, …) is final too.
 */
const STATUS_KINDS: Record<number, ErrorKind> = {
  401: 'auth',
  403: 'auth',
  404: 'not-found',
  408: 'network',
  501: 'protocol',
  505: 'protocol',
};

/** The request headers that ask for a blob from `offset` on, or from `offset` to `end` (inclusive). */
export function rangeFrom(offset: number, end?: number): Record<string, string> {
  if (end !== undefined) return { range: `bytes=${offset}-${end}` };
  return offset > 0 ? { range: `bytes=${offset}-` } : {};
}

/** A blob response to pass on: 200, and for a Range request also 206 and 416 (the ingest judges those); else an error. */
export async function expectBlobResponse(response: HttpResponse, ranged: boolean, what: string): Promise<HttpResponse> {
  const expected = ranged ? [200, 206, 416] : [200];
  if (!expected.includes(response.statusCode)) throw await responseError(response, what);
  return response;
}

/**
 * GET a foreign layer from one of the `urls` its descriptor lists (a Windows base layer, say), from `offset` on.
 * No credentials go there: the registry's are for the registry.
 */
export async function getFromUrl(
  transport: Transport,
  url: URL,
  digest: string,
  offset: number,
  signal?: AbortSignal,
  end?: number,
): Promise<HttpResponse> {
  const response = await transport.send(url, {
    headers: rangeFrom(offset, end),
    ...(signal && { signal }),
    ...(end !== undefined && { ownConnection: true }),
  });
  return expectBlobResponse(response, offset > 0 || end !== undefined, `blob ${digest}: ${url.href}`);
}

/** One line for a failed registry response: status, what was asked, and the registry's own error code. */
export async function responseError(response: HttpResponse, what: string): Promise<FrozenError> {
  const detail = registryErrorDetail(await readSome(response));
  const status = response.statusCode;
  const kind = STATUS_KINDS[status] ?? (status >= 500 || status === 429 ? 'network' : 'protocol');
  const scopeProblem = status === 401 ? insufficientScope(response) : '';
  const reason =
    status === 401
      ? 'unauthorized: authentication required or not allowed'
      : status === 403
        ? 'access denied'
        : status === 404
          ? 'not found'
          : status === 429
            ? `rate limited${retryAfter(response)}`
            : status === 408
              ? 'request timed out'
              : `registry answered ${status}`;
  const retryAfterMs = parseRetryAfter(header(response.headers, 'retry-after'));
  return new FrozenError(kind, `${what}: ${reason}${scopeProblem}${detail ? ` (${detail})` : ''}`, {
    ...(retryAfterMs !== undefined && { retryAfterMs }),
  });
}

/**
 * A 401 whose challenge says `error="insufficient_scope"` (the token was refreshed once already): the registry
 * will not let these credentials pull this repository.
 */
function insufficientScope(response: HttpResponse): string {
  const challenge = parseChallenges(headerValues(response.headers, 'www-authenticate')).find(
    (c) => c.params.error === 'insufficient_scope',
  );
  if (!challenge) return '';
  const scope = challenge.params.scope ? ` ${challenge.params.scope}` : '';
  return `; the token does not grant the scope${scope} (insufficient_scope)`;
}

function retryAfter(response: HttpResponse): string {
  const value = header(response.headers, 'retry-after');
  return value ? `, retry after ${value}` : '';
}

/** `Retry-After` is seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

const ERROR_BODY_LIMIT = 64 * 1024;

async function readSome(response: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= ERROR_BODY_LIMIT) break;
  }
  return Buffer.concat(chunks).toString('utf8', 0, Math.min(size, ERROR_BODY_LIMIT));
}

/** The registry's `{"errors":[{"code","message"}]}`, as `CODE: message`. */
function registryErrorDetail(body: string): string {
  try {
    const parsed = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    const first = parsed.errors?.[0];
    if (!first) return '';
    return [first.code, first.message].filter((part) => typeof part === 'string' && part).join(': ');
  } catch {
    return '';
  }
}
