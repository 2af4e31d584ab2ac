import { MockAgent } from 'undici';
import type { BuiltImage } from '../support/images.js';

/**
 * A scriptable registry behind undici's MockAgent, for protocol edge cases a real registry will not produce.
 * Every request is recorded with the Authorization header it carried.
 */
export interface Recorded {
  readonly origin: string;
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
}

export interface MockRegistryOptions {
  /** `bearer`: 401 challenges naming https://auth.test/token; `basic`: Basic challenges. */
  readonly auth?: 'bearer' | 'basic';
  readonly basicCredentials?: string; // "user:pass"
  /** Redirect blob GETs here (another origin), the way Docker Hub uses a CDN. */
  readonly blobRedirect?: string;
  /** How many requests the registry accepts the first token (T1) for before refusing it (expired server-side). */
  readonly firstTokenUses?: number;
  /** Change served bytes: return a replacement for a blob or manifest body. */
  readonly tamper?: (path: string, body: Buffer) => Buffer;
  /** Extra response headers for manifest responses. */
  readonly manifestHeaders?: Record<string, string>;
  /** How manifest HEADs go wrong: a status to answer with, or no `Docker-Content-Digest`. */
  readonly headFailure?: number | 'no-digest';
  readonly tokenLifetime?: number;
  /** Bytes of padding in every token answer, for a token server that sends too much. */
  readonly tokenPadding?: number;
  /** The registry's origin (default https://registry.test). */
  readonly origin?: string;
}

export interface MockRegistry {
  readonly agent: MockAgent;
  readonly requests: Recorded[];
  readonly tokensIssued: string[];
  serve(repository: string, tag: string, image: BuiltImage): void;
  /** Serves a manifest or index body under a tag and its digest. */
  serveManifest(repository: string, tag: string, manifest: { bytes: Buffer; digest: string; mediaType: string }): void;
}

const REGISTRY = 'https://registry.test';
const AUTH = 'https://auth.test';

export function mockRegistry(options: MockRegistryOptions = {}): MockRegistry {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const requests: Recorded[] = [];
  const tokensIssued: string[] = [];
  const manifests = new Map<string, { body: Buffer; mediaType: string; digest: string }>();
  const blobs = new Map<string, Buffer>();
  const tokenUses = new Map<string, number>();

  const record = (origin: string, opts: { path: string; method: string; headers?: unknown }) => {
    const authorization = headerOf(opts.headers, 'authorization');
    requests.push({ origin, method: opts.method, path: opts.path, ...(authorization && { authorization }) });
    return authorization;
  };

  agent
    .get(AUTH)
    .intercept({ path: /^\/token/, method: 'GET' })
    .reply((opts) => {
      const authorization = record(AUTH, opts);
      if (options.basicCredentials && authorization !== basic(options.basicCredentials))
        return { statusCode: 401, data: '' };
      const token = `T${tokensIssued.length + 1}`;
      tokensIssued.push(token);
      const padding = options.tokenPadding ? { padding: 'x'.repeat(options.tokenPadding) } : {};
      return {
        statusCode: 200,
        data: JSON.stringify({ access_token: token, expires_in: options.tokenLifetime ?? 300, ...padding }),
      };
    })
    .persist();

  const origin = options.origin ?? REGISTRY;
  // HEAD answers a manifest request as registries do: the GET's status and headers (its digest too), no body.
  agent
    .get(origin)
    .intercept({ path: /^\/v2\/.+\/manifests\//, method: 'HEAD' })
    .reply((opts) => {
      const authorization = record(origin, opts);
      const challenge = challengeFor(options, authorization, opts.path, tokenUses);
      if (challenge)
        return { statusCode: 401, data: '', responseOptions: { headers: { 'www-authenticate': challenge } } };
      if (typeof options.headFailure === 'number') return { statusCode: options.headFailure, data: '' };
      const manifest = manifestAt(opts.path);
      if (!manifest) return { statusCode: 404, data: '' };
      const digest = options.headFailure === 'no-digest' ? {} : { 'docker-content-digest': manifest.digest };
      return {
        statusCode: 200,
        data: '',
        responseOptions: { headers: { 'content-type': manifest.mediaType, ...digest, ...options.manifestHeaders } },
      };
    })
    .persist();
  agent
    .get(origin)
    .intercept({ path: /^\/v2\//, method: 'GET' })
    .reply((opts) => {
      const authorization = record(origin, opts);
      const challenge = challengeFor(options, authorization, opts.path, tokenUses);
      if (challenge)
        return {
          statusCode: 401,
          data: '{"errors":[{"code":"UNAUTHORIZED"}]}',
          responseOptions: { headers: { 'www-authenticate': challenge } },
        };
      const blobMatch = /^\/v2\/(.+)\/blobs\/(.+)$/.exec(opts.path);
      if (blobMatch) {
        if (options.blobRedirect) {
          return {
            statusCode: 307,
            data: '',
            responseOptions: { headers: { location: `${options.blobRedirect}/cdn/${blobMatch[2]}?sig=x` } },
          };
        }
        return serveBlob(blobMatch[2]!, opts.path);
      }
      const manifest = manifestAt(opts.path);
      if (!manifest)
        return { statusCode: 404, data: '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}' };
      const body = options.tamper?.(opts.path, manifest.body) ?? manifest.body;
      return {
        statusCode: 200,
        data: body,
        responseOptions: { headers: { 'content-type': manifest.mediaType, ...options.manifestHeaders } },
      };
    })
    .persist();

  /** The manifest a `/v2/<repository>/manifests/<reference>` path names, if served. */
  function manifestAt(path: string) {
    const match = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
    return match ? manifests.get(`${match[1]}:${match[2]}`) : undefined;
  }

  function serveBlob(digest: string, path: string) {
    const body = blobs.get(digest);
    if (!body) return { statusCode: 404, data: '{"errors":[{"code":"BLOB_UNKNOWN"}]}' };
    return { statusCode: 200, data: options.tamper?.(path, body) ?? body };
  }

  if (options.blobRedirect) {
    agent
      .get(options.blobRedirect)
      .intercept({ path: /^\/cdn\//, method: 'GET' })
      .reply((opts) => {
        record(options.blobRedirect!, opts);
        return serveBlob(/^\/cdn\/([^?]+)/.exec(opts.path)![1]!, opts.path);
      })
      .persist();
  }

  return {
    agent,
    requests,
    tokensIssued,
    serve(repository, tag, image) {
      this.serveManifest(repository, tag, image.manifest);
      for (const b of [image.config, ...image.layers]) blobs.set(b.digest, b.bytes);
    },
    serveManifest(repository, tag, manifest) {
      const entry = { body: manifest.bytes, mediaType: manifest.mediaType, digest: manifest.digest };
      manifests.set(`${repository}:${tag}`, entry);
      manifests.set(`${repository}:${manifest.digest}`, entry);
    },
  };
}

function challengeFor(
  options: MockRegistryOptions,
  authorization: string | undefined,
  path: string,
  uses: Map<string, number>,
): string | undefined {
  const repository = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(path)?.[1] ?? '';
  if (options.auth === 'bearer') {
    const token = authorization?.startsWith('Bearer T') ? authorization.slice(7) : undefined;
    const used = token === undefined ? 0 : (uses.get(token) ?? 0);
    const limit = token === 'T1' ? (options.firstTokenUses ?? Infinity) : Infinity;
    if (token !== undefined && used < limit) {
      uses.set(token, used + 1);
      return undefined;
    }
    return `Bearer realm="${AUTH}/token",service="registry.test",scope="repository:${repository}:pull"`;
  }
  if (options.auth === 'basic') {
    return authorization === basic(options.basicCredentials ?? 'user:pass') ? undefined : 'Basic realm="mock"';
  }
  return undefined;
}

export function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

function headerOf(headers: unknown, name: string): string | undefined {
  if (!headers) return undefined;
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2)
      if (String(headers[i]).toLowerCase() === name) return String(headers[i + 1]);
    return undefined;
  }
  for (const [key, value] of Object.entries(headers as Record<string, unknown>))
    if (key.toLowerCase() === name) return String(value);
  return undefined;
}
