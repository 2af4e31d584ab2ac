import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A front for a real registry that behaves the way registries in the wild do, one quirk per option, each modelled
 * on what a named registry documents or does (the tests name it): how its token server answers, how it writes
 * challenges, Basic-only auth, blobs redirected to a storage host with signed, expiring URLs, repository prefixes,
 * manifests without a digest header or with a generic type, HEADs it does not answer, statuses it answers
 * everything with. A second server on 127.0.0.2 plays the storage host. Every request is recorded.
 */
export interface WildFrontOptions {
  /** Bearer tokens from `/token`. */
  readonly token?: {
    /** The answer's field: distribution's `token`, or OAuth2's `access_token` alone. */
    readonly field: 'token' | 'access_token';
    /** Send `expires_in` and `issued_at` (default: neither). */
    readonly expiry?: boolean;
    /** The methods the token server answers (others get 405). */
    readonly methods: readonly ('GET' | 'POST')[];
    /** Credentials the token server requires ("user:pass"): Basic on GET, the password grant on POST. */
    readonly credentials?: string;
  };
  /** `several`: the challenge is one of several in one header, with lower-case scheme and scopes in quotes. */
  readonly challenge?: 'plain' | 'several';
  /** Basic auth on every /v2/ request, never Bearer ("user:pass"). */
  readonly basic?: string;
  /** Answer valid tokens with 401 `error="insufficient_scope"`: the first time, or always. */
  readonly insufficientScope?: 'once' | 'always';
  /**
   * Blob GETs redirect (307) to the storage host with a signed query, each URL good for one request. `script`
   * says what the storage host does with the nth URL signed for a blob: `cut` sends half the bytes and drops the
   * connection, `expired` refuses it with 403 as S3 refuses an expired URL, `ok` (and every URL after the script)
   * serves it, honouring Range.
   */
  readonly storage?: { readonly script?: readonly ('ok' | 'cut' | 'expired')[] };
  /** Serve `/v2/<prefix>/<repository>` from the registry's `<repository>`. */
  readonly prefix?: string;
  /** How manifests are served. */
  readonly manifest?: {
    readonly noDigest?: boolean;
    readonly contentType?: string;
    readonly chunked?: boolean;
    /** The status a manifest HEAD gets. */
    readonly head?: number;
  };
  /** Answer every /v2/ request but the ping with this status. */
  readonly failWith?: number;
  /**
   * The referrers API of the OCI distribution spec 1.1 ("Listing Referrers", which Distribution 3, Harbor, Zot and
   * the cloud registries serve): `GET /v2/<repository>/referrers/<digest>` answered 200 with an image index of
   * what this gives for the digest (an empty one when it gives nothing).
   */
  readonly referrers?: (repository: string, digest: string) => readonly object[] | undefined;
  /** Page the referrers listing, this many entries a page, each page naming the next in `Link: <…>; rel="next"`. */
  readonly referrersPageSize?: number;
}

export interface WildSeen {
  readonly origin: 'front' | 'token' | 'storage';
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
}

export interface WildFront {
  readonly host: string;
  /** The storage host's own address (to put a relay in front of it). */
  readonly storageHost: string;
  readonly seen: WildSeen[];
  /**
   * The origins clients are told to use for the token server (the realm) and the storage host (redirects), when
   * something stands between (the bench's delay relays and TLS fronts); by default `http://` and the front's Host,
   * and the storage host.
   */
  readonly publicOrigins: { token?: string; storage?: string };
  stop(): Promise<void>;
}

/** The query a signed URL carries: characters URL parsers like to re-encode (`'`, `%7E`, `%2F`) on purpose. */
const SIGNED_QUERY = "X-Amz-Credential=frozen%2F20261207%2Fus-east-1&X-Amz-Signature=ab'cd%7Eef&n=";

export async function startWildFront(registryUrl: string, options: WildFrontOptions = {}): Promise<WildFront> {
  const seen: WildSeen[] = [];
  const issued = new Set<string>();
  const signed = new Map<string, { path: string; uses: number; behaviour: 'ok' | 'cut' | 'expired' }>();
  const signedPerBlob = new Map<string, number>();
  const publicOrigins: WildFront['publicOrigins'] = {};
  const storage = await listen('127.0.0.2', (req, res) => {
    seen.push(record('storage', req));
    const url = new URL(req.url ?? '/', 'http://storage');
    const grant = signed.get(url.searchParams.get('n') ?? '');
    const exact = req.url === `${url.pathname}?${SIGNED_QUERY}${url.searchParams.get('n')}`;
    if (!grant || !exact || grant.uses <= 0 || req.headers.authorization || grant.behaviour === 'expired') {
      return end(res, 403, '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
    }
    grant.uses--;
    void forward(`${registryUrl}${grant.path}`, req, res, {}, grant.behaviour === 'cut');
  });
  const storageHost = `127.0.0.2:${(storage.address() as AddressInfo).port}`;
  const front = await listen('127.0.0.1', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    if (url.pathname === '/token') return void tokenAnswer(req, res, options, issued, seen);
    seen.push(record('front', req));
    if (url.pathname === '/v2/' || url.pathname === '/v2') return end(res, 200, '{}');
    if (options.failWith) return end(res, options.failWith, `{"errors":[{"code":"UNSUPPORTED"}]}`);
    const refusal = authorize(req, url, options, issued, publicOrigins.token);
    if (refusal) {
      res.setHeader('www-authenticate', refusal);
      return end(res, 401, '{"errors":[{"code":"UNAUTHORIZED"}]}');
    }
    const path = upstreamPath(url.pathname, options.prefix);
    if (!path) return end(res, 404, '{"errors":[{"code":"NAME_UNKNOWN"}]}');
    const referrers = options.referrers && /^\/v2\/(.+)\/referrers\/([^/]+)$/.exec(path);
    if (referrers) {
      const all = options.referrers(referrers[1]!, referrers[2]!) ?? [];
      const size = options.referrersPageSize ?? all.length;
      const start = Number(url.searchParams.get('last') ?? 0);
      const manifests = all.slice(start, start + size);
      if (start + size < all.length) res.setHeader('link', `<${path}?n=${size}&last=${start + size}>; rel="next"`);
      res.setHeader('content-type', 'application/vnd.oci.image.index.v1+json');
      const index = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests };
      return end(res, 200, JSON.stringify(index));
    }
    const isManifest = path.includes('/manifests/');
    if (isManifest && req.method === 'HEAD' && options.manifest?.head) return end(res, options.manifest.head, '');
    if (options.storage && req.method === 'GET' && path.includes('/blobs/')) {
      const n = String(signed.size + 1);
      const nth = signedPerBlob.get(path) ?? 0;
      signedPerBlob.set(path, nth + 1);
      signed.set(n, { path, uses: 1, behaviour: options.storage.script?.[nth] ?? 'ok' });
      res.statusCode = 307;
      res.setHeader(
        'location',
        `${publicOrigins.storage ?? `http://${storageHost}`}/bucket${path}?${SIGNED_QUERY}${n}`,
      );
      return res.end();
    }
    void forward(`${registryUrl}${path}`, req, res, isManifest ? (options.manifest ?? {}) : {});
  });
  return {
    host: `127.0.0.1:${(front.address() as AddressInfo).port}`,
    storageHost,
    publicOrigins,
    seen,
    stop: () => Promise.all([close(front), close(storage)]).then(() => undefined),
  };
}

function tokenAnswer(
  req: IncomingMessage,
  res: ServerResponse,
  options: WildFrontOptions,
  issued: Set<string>,
  seen: WildSeen[],
): void {
  seen.push(record('token', req));
  const token = options.token;
  const method = req.method === 'POST' ? 'POST' : 'GET';
  if (!token || !token.methods.includes(method)) return end(res, 405, '');
  void readBody(req).then((body) => {
    const form = new URLSearchParams(body);
    const [user, password] = (token.credentials ?? '').split(/:(.*)/s);
    const allowed =
      !token.credentials ||
      (method === 'GET' && req.headers.authorization === basic(token.credentials)) ||
      (method === 'POST' &&
        form.get('grant_type') === 'password' &&
        form.get('username') === user &&
        form.get('password') === password);
    if (!allowed) return end(res, 401, '');
    const value = `tok-${issued.size + 1}`;
    issued.add(value);
    const expiry = token.expiry ? { expires_in: 300, issued_at: new Date().toISOString() } : {};
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ [token.field]: value, ...expiry }));
  });
}

/** The challenge to answer a request with, or undefined when it may pass. */
function authorize(
  req: IncomingMessage,
  url: URL,
  options: WildFrontOptions,
  issued: Set<string>,
  tokenOrigin?: string,
): string | undefined {
  const given = req.headers.authorization;
  if (options.basic) return given === basic(options.basic) ? undefined : 'Basic realm="registry"';
  if (!options.token) return undefined;
  const repository = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1] ?? '';
  const realm = `${tokenOrigin ?? `http://${req.headers.host}`}/token`;
  const bearer = (error?: string) =>
    options.challenge === 'several'
      ? `Basic realm="ignored, really", bearer realm="${realm}",service="wild",scope="repository:${repository}:pull,push"${error ? `,error="${error}"` : ''}`
      : `Bearer realm="${realm}",service="wild",scope="repository:${repository}:pull"${error ? `,error="${error}"` : ''}`;
  const token = given?.replace(/^Bearer /, '');
  if (!token || !issued.has(token)) return bearer();
  // `once`: the first token issued lacks the scope for blobs (as a token cached from another repository would).
  const insufficient =
    options.insufficientScope === 'always' || (options.insufficientScope === 'once' && token === 'tok-1');
  return insufficient && url.pathname.includes('/blobs/') ? bearer('insufficient_scope') : undefined;
}

function upstreamPath(path: string, prefix: string | undefined): string | undefined {
  if (!prefix) return path;
  const inside = `/v2/${prefix}/`;
  return path.startsWith(inside) ? `/v2/${path.slice(inside.length)}` : undefined;
}

async function forward(
  target: string,
  req: IncomingMessage,
  res: ServerResponse,
  manifest: NonNullable<WildFrontOptions['manifest']>,
  cut = false,
): Promise<void> {
  const headers: Record<string, string> = {};
  if (req.headers.accept) headers.accept = req.headers.accept;
  if (req.headers.range) headers.range = req.headers.range;
  const upstream = await fetch(target, { method: req.method ?? 'GET', headers, redirect: 'manual' });
  res.statusCode = upstream.status;
  for (const name of ['content-type', 'docker-content-digest', 'content-range']) {
    const value = upstream.headers.get(name);
    if (value && !(name === 'docker-content-digest' && manifest.noDigest)) res.setHeader(name, value);
  }
  if (manifest.contentType) res.setHeader('content-type', manifest.contentType);
  const body = Buffer.from(await upstream.arrayBuffer());
  if (req.method === 'HEAD') return void res.end();
  if (cut) {
    res.setHeader('content-length', String(body.length));
    res.write(body.subarray(0, body.length >> 1), () => res.destroy());
    return;
  }
  if (!manifest.chunked) {
    res.setHeader('content-length', String(body.length));
    return void res.end(body);
  }
  // No Content-Length: Node sends the body chunked.
  const half = body.length >> 1;
  res.write(body.subarray(0, half));
  res.end(body.subarray(half));
}

function record(origin: WildSeen['origin'], req: IncomingMessage): WildSeen {
  return {
    origin,
    method: req.method ?? 'GET',
    path: req.url ?? '',
    ...(req.headers.authorization && { authorization: req.headers.authorization }),
  };
}

function basic(credentials: string): string {
  return `Basic ${Buffer.from(credentials).toString('base64')}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += (chunk as Buffer).toString();
  return body;
}

function end(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.end(body);
}

async function listen(address: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  return server;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
