/**
 * The only module that speaks HTTP. It follows redirects by hand so that `Authorization` never reaches another
 * origin (Docker Hub redirects blob GETs to a CDN), refuses plain http except for hosts allowed it, and turns
 * connection failures into network errors that name the host.
 */
import { readFile } from 'node:fs/promises';
import type { SecureContext } from 'node:tls';
import type { Agent, Dispatcher } from 'undici';
import type DispatchRequest from 'undici/lib/api/api-request.js';
import { abortedError, causeChain, FrozenError } from '../errors.js';

/** A response: its status, its headers, its body (a stream) and the URL that answered. */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  readonly url: URL;
}

/** A request: method, headers, a small body, and the signal that stops it. */
export interface HttpRequest {
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly headers?: Record<string, string>;
  /** A small request body (token forms). */
  readonly body?: string;
  readonly signal?: AbortSignal;
}

/** How a transport connects: dispatcher, insecure hosts, CAs, timeouts, proxies. */
export interface TransportOptions {
  /** An undici dispatcher for every request (tests pass a MockAgent); frozen makes its own otherwise. */
  readonly dispatcher?: Dispatcher;
  /**
   * Hosts (`host` or `host:port`) spoken to with unverified TLS, or plain http when they do not speak TLS.
   * Loopback hosts may fall back to plain http too, but their certificates are checked.
   */
  readonly insecureRegistries?: readonly string[];
  readonly userAgent?: string;
  /** More trusted CA certificates (PEM), besides the system's and NODE_EXTRA_CA_CERTS. */
  readonly ca?: string;
  readonly connectTimeoutMs?: number;
  /** How long a response may send nothing, before its headers or within its body. */
  readonly stallTimeoutMs?: number;
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read (default process.env). */
  readonly env?: NodeJS.ProcessEnv;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const DEFAULT_STALL_TIMEOUT_MS = 120_000;
const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'];
/** What OpenSSL says when the other end answers a TLS hello with something else (plain http, most often). */
const NOT_TLS_ERRORS = /^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|HTTP_REQUEST)$/;
/** OpenSSL's verification failures: these never fall back to plain http, they are reported. */
const CERTIFICATE_ERRORS = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|ISSUER/;

/**
 * Sends requests for a run: the TLS settings, the plain-http fallback for hosts allowed it, and redirects by hand.
 */
export class Transport {
  /** Hosts that answered https with something that is not TLS: they speak plain http. */
  private readonly plainHttpHosts = new Set<string>();
  /** Requests sent, per `host[:port]`. */
  private readonly sent = new Map<string, number>();
  /** Connections opened, per `host[:port]` (each one a TCP, and for https a TLS, handshake: round trips). */
  private readonly opened = new Map<string, number>();
  private readonly insecure: Set<string>;
  private readonly userAgent: string;
  private readonly stallTimeoutMs: number;

  private constructor(
    private readonly dispatchRequest: typeof DispatchRequest,
    private readonly verified: Dispatcher,
    private readonly unverified: Dispatcher,
    /** Only dispatchers this transport created are closed by it; a caller's stays the caller's. */
    private readonly owned: boolean,
    options: TransportOptions,
  ) {
    this.insecure = new Set((options.insecureRegistries ?? []).map((host) => host.toLowerCase()));
    // undici's dispatchers tell of every connection they open (a MockAgent opens none).
    for (const dispatcher of new Set([verified, unverified])) dispatcher.on('connect', this.onConnect);
    this.userAgent = options.userAgent ?? 'frozen-images';
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  static async create(options: TransportOptions = {}): Promise<Transport> {
    const { Agent, dispatchRequest } = await loadUndici();
    if (options.dispatcher)
      return new Transport(dispatchRequest, options.dispatcher, options.dispatcher, false, options);
    const make = await dispatcherFactory(Agent, options);
    return new Transport(dispatchRequest, make(true), make(false), true, options);
  }

  async close(): Promise<void> {
    // A caller's dispatcher outlives the run (a pipeline passes one to every pull): it keeps no listener of ours.
    for (const dispatcher of new Set([this.verified, this.unverified])) dispatcher.off('connect', this.onConnect);
    if (this.owned) await Promise.all([this.verified.close(), this.unverified.close()]);
  }

  private readonly onConnect = (origin: URL): void => {
    this.opened.set(origin.host, (this.opened.get(origin.host) ?? 0) + 1);
  };

  allowsPlainHttp(host: string): boolean {
    const lower = host.toLowerCase();
    return isLoopback(hostname(lower)) || this.isInsecure(lower);
  }

  private isInsecure(host: string): boolean {
    return this.insecure.has(host) || this.insecure.has(hostname(host));
  }

  /**
   * Sends a request, following redirects by hand. `https` URLs of hosts allowed plain http fall back to `http`
   * when the host does not speak TLS (remembered for the run); certificate failures are reported instead.
   */
  async send(url: URL, init: HttpRequest = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...init.headers };
    let current = this.withKnownScheme(url);
    for (let hop = 0; ; hop++) {
      this.assertAllowed(current);
      let response: HttpResponse;
      try {
        response = await this.once(current, init.method ?? 'GET', headers, init.body, init.signal);
      } catch (error) {
        // Only our own signal means "aborted": undici names other failures AbortError too (a proxy refusing CONNECT).
        if (init.signal?.aborted) throw abortedError(init.signal, error);
        if (!this.mayFallBackToHttp(current, error)) throw networkError(error, current);
        this.plainHttpHosts.add(current.host.toLowerCase());
        current = this.withKnownScheme(current);
        hop--;
        continue;
      }
      const location = header(response.headers, 'location');
      if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return response;
      await response.body.dump();
      if (hop >= MAX_REDIRECTS) throw new FrozenError('protocol', `too many redirects from ${url.host}`);
      const next = this.withKnownScheme(new URL(location, current));
      const target = requestTarget(location);
      if (target) RAW_TARGETS.set(next, target);
      if (next.origin !== current.origin) delete headers.authorization;
      current = next;
    }
  }

  private withKnownScheme(url: URL): URL {
    if (url.protocol !== 'https:' || !this.plainHttpHosts.has(url.host.toLowerCase())) return url;
    const plain = new URL(url);
    plain.protocol = 'http:';
    return plain;
  }

  private mayFallBackToHttp(url: URL, error: unknown): boolean {
    if (url.protocol !== 'https:' || !this.allowsPlainHttp(url.host)) return false;
    // A proxy that wants credentials would want them for plain http too. (One that refuses a tunnel to the port,
    // as tinyproxy does outside 443, may still carry plain http.)
    return !CERTIFICATE_ERRORS.test(errorCode(error) ?? '') && proxyRefusal(error) !== 407;
  }

  /** Connections opened so far, per `host[:port]`. */
  connectionCounts(): Record<string, number> {
    return Object.fromEntries(this.opened);
  }

  /** HTTP requests sent so far, per `host[:port]` (each redirect hop, token request and retry counts). */
  requestCounts(): Record<string, number> {
    return Object.fromEntries(this.sent);
  }

  private async once(
    url: URL,
    method: NonNullable<HttpRequest['method']>,
    headers: Record<string, string>,
    body?: string,
    signal?: AbortSignal,
  ) {
    const dispatcher =
      url.protocol === 'https:' && this.isInsecure(url.host.toLowerCase()) ? this.unverified : this.verified;
    const response = await this.dispatchRequest.call(dispatcher, {
      origin: url.origin,
      path: RAW_TARGETS.get(url) ?? `${url.pathname}${url.search}`,
      method,
      headers,
      ...(body !== undefined && { body }),
      signal,
      headersTimeout: this.stallTimeoutMs,
      bodyTimeout: this.stallTimeoutMs,
    });
    this.sent.set(url.host, (this.sent.get(url.host) ?? 0) + 1);
    return { statusCode: response.statusCode, headers: response.headers, body: response.body, url };
  }

  private assertAllowed(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.allowsPlainHttp(url.host)) return;
    throw new FrozenError(
      'protocol',
      `refusing ${url.protocol}//${url.host}: plain http is only used for loopback hosts and insecureRegistries hosts`,
    );
  }
}

/**
 * undici's agent and request API, loaded when the first transport is made, so that commands that send no request
 * (`cache`, `verify`, `--help`) start without them. Only these two: `import 'undici'` loads all of undici (fetch,
 * WebSocket, caches: 110 files), which doubled frozen's start-up time. The package pins undici exactly because these
 * paths are internal.
 */
async function loadUndici() {
  const [{ default: Agent }, { default: dispatchRequest }] = await Promise.all([
    import('undici/lib/dispatcher/agent.js'),
    import('undici/lib/api/api-request.js'),
  ]);
  return { Agent, dispatchRequest };
}

/**
 * Makes dispatchers with TLS verification on or off: through the proxy named by HTTP(S)_PROXY (honouring
 * NO_PROXY) when one is set, directly otherwise. The proxy agent is loaded only when a proxy is configured.
 */
async function dispatcherFactory(
  AgentClass: typeof Agent,
  options: TransportOptions,
): Promise<(verify: boolean) => Dispatcher> {
  const env = options.env ?? process.env;
  const secureContext = options.ca === undefined ? undefined : await trustingContext(options.ca);
  const tls = (verify: boolean) => ({
    timeout: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    ...(secureContext && { secureContext }),
    ...(!verify && { rejectUnauthorized: false }),
  });
  if (!PROXY_VARIABLES.some((name) => env[name])) return (verify) => new AgentClass({ connect: tls(verify) });
  // The proxy agents need the request API undici's index mixes into every dispatcher: load all of undici here.
  const { EnvHttpProxyAgent } = await import('undici');
  const proxy = (name: string) => env[name] ?? env[name.toLowerCase()];
  return (verify) =>
    new EnvHttpProxyAgent({
      ...(proxy('HTTP_PROXY') && { httpProxy: proxy('HTTP_PROXY') }),
      ...(proxy('HTTPS_PROXY') && { httpsProxy: proxy('HTTPS_PROXY') }),
      ...(proxy('NO_PROXY') && { noProxy: proxy('NO_PROXY') }),
      // Plain http goes to the proxy as an absolute-form request (as curl does); only https needs a CONNECT tunnel.
      proxyTunnel: false,
      connect: tls(verify),
      requestTls: tls(verify),
    });
}

/**
 * The TLS context that trusts the extra CAs besides the bundled roots and NODE_EXTRA_CA_CERTS, made once for the
 * run. Handing `ca` to each connection instead has Node parse the whole bundle again for every connection (a
 * secure context each), which made a 40-layer pull over TLS take twice as long; and a `ca` list replaces the
 * default store, which dropped NODE_EXTRA_CA_CERTS. Without extra CAs, Node's default context is the one every
 * connection shares already. TLS sessions are resumed per host by undici's connector.
 */
async function trustingContext(ca: string): Promise<SecureContext> {
  const { createSecureContext, rootCertificates } = await import('node:tls');
  const extraFile = process.env.NODE_EXTRA_CA_CERTS;
  const extra = extraFile ? await readFile(extraFile, 'utf8').catch(() => undefined) : undefined;
  const added = [...(extra ? [extra] : []), ca];
  // Node's default context holds the bundled roots already parsed: adding the other CAs to it costs a millisecond,
  // where a `ca` list with every root costs tens. (A context's own store starts from the bundled roots only, so
  // NODE_EXTRA_CA_CERTS is added too.) `context` is Node's native handle, there since the first versions of tls;
  // without it, the list it is.
  const context = createSecureContext();
  const native = (context as unknown as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== 'function') return createSecureContext({ ca: [...rootCertificates, ...added] });
  for (const pem of added) native.addCACert(pem);
  return context;
}

/** A response header's first value. */
/**
 * The path and query of a redirect as the `Location` header wrote them, byte for byte: a storage host's signed
 * query (S3, GCS, Azure) must come back exactly as signed, and URL parsing would re-encode some characters.
 */
const RAW_TARGETS = new WeakMap<URL, string>();

/** The request target a `Location` names (its path and query, without the fragment), if it is one to send as is. */
function requestTarget(location: string): string | undefined {
  const target = /^(?:[a-z][a-z0-9+.-]*:\/\/[^/?#]*)?(\/(?!\/)[^#]*)/i.exec(location)?.[1];
  // Only printable ASCII without spaces may go on the request line as it is; anything else is left to URL.
  return target && /^[\x21-\x7e]+$/.test(target) ? target : undefined;
}

export function header(headers: HttpResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Every value of a response header. */
export function headerValues(headers: HttpResponse['headers'], name: string): string[] {
  const value = headers[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Turns an undici/socket failure into one line that names the host and the cause. */
export function networkError(error: unknown, url: URL): FrozenError {
  if (error instanceof FrozenError) return error;
  const proxyStatus = proxyRefusal(error);
  if (proxyStatus === 407) {
    return new FrozenError(
      'auth',
      `the proxy refused the request for ${url.host} (407 Proxy Authentication Required): give its user and password in the proxy URL, http://user:password@proxy:port`,
      { cause: error },
    );
  }
  if (proxyStatus !== undefined)
    return new FrozenError('network', `cannot reach ${url.host}: the proxy answered ${proxyStatus}`, { cause: error });
  const code = errorCode(error);
  if (code && NOT_TLS_ERRORS.test(code)) {
    return new FrozenError(
      'tls',
      `cannot reach ${url.host}: it does not answer https (${code}); if it is a plain-http registry, add ${url.host} to insecureRegistries`,
      { cause: error },
    );
  }
  if (code && CERTIFICATE_ERRORS.test(code)) {
    return new FrozenError(
      'tls',
      `cannot reach ${url.host}: its TLS certificate is not trusted (${code}); trust its CA (caFile), or add ${url.host} to insecureRegistries`,
      { cause: error },
    );
  }
  // The resolver answered that the name does not exist: unlike EAI_AGAIN (no answer), trying again will not help.
  if (code === 'ENOTFOUND')
    return new FrozenError('network', `cannot reach ${url.host}: unknown host`, { cause: error, permanent: true });
  const reason =
    code === 'EAI_AGAIN'
      ? 'unknown host (no answer from DNS)'
      : code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
          ? 'connection reset'
          : code?.includes('TIMEOUT')
            ? 'timed out'
            : (code ?? (error instanceof Error ? error.message : String(error)));
  return new FrozenError('network', `cannot reach ${url.host}: ${reason}`, { cause: error });
}

/** The status of a proxy that refused a request, from undici's errors (plain http through it, or a CONNECT tunnel). */
function proxyRefusal(error: unknown): number | undefined {
  for (const e of causeChain(error)) {
    const status = /^Proxy (?:Authentication Required \((\d{3})\)|response \((\d{3})\) !== 200)/.exec(e.message);
    if (status) return Number(status[1] ?? status[2]);
  }
  return undefined;
}

function errorCode(error: unknown): string | undefined {
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
  }
  return undefined;
}

function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

function isLoopback(name: string): boolean {
  return name === 'localhost' || name.endsWith('.localhost') || /^127(\.\d{1,3}){3}$/.test(name) || name === '[::1]';
}
