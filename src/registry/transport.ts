/**
 * The only module that speaks HTTP. It follows redirects by hand so that `Authorization` never reaches another
 * origin (Docker Hub redirects blob GETs to a CDN), refuses plain http except for hosts allowed it, and turns
 * connection failures into network errors that name the host.
 */
import type { Dispatcher } from 'undici';
import { abortedError, causeChain, FrozenError } from '../errors.js';
import { FirstConnectionGate, loadUndici, makeDispatchers, proxied, type Dispatchers } from './dispatchers.js';
import { EarlyConnections } from './early-connections.js';

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
  /**
   * Send it on a connection of its own (HTTP/1.1), not multiplexed with the run's other requests to the origin: the
   * segments of a big blob, each of which wants a TCP connection's bandwidth.
   */
  readonly ownConnection?: boolean;
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
  /**
   * Origins (`https://host[:port]`) the run will surely ask first: their TCP connections are opened at once, while
   * the rest is set up (not through a proxy, nor with a caller's dispatcher).
   */
  readonly connectEarly?: readonly string[];
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;
const DEFAULT_STALL_TIMEOUT_MS = 120_000;
/** Streams at once on one HTTP/2 connection (a server that allows fewer says so; undici keeps to its limit). */
const HTTP2_STREAMS = 100;
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
  /** The fastest response (request sent to headers in), per `host[:port]`: how far the host is. */
  private readonly fastest = new Map<string, number>();
  /** Connections opened, per `host[:port]` (each one a TCP, and for https a TLS, handshake: round trips). */
  private readonly opened = new Map<string, number>();
  private readonly insecure: Set<string>;
  private readonly userAgent: string;
  private readonly stallTimeoutMs: number;

  /** verified/unverified × shared/separate, made when first used. */
  private readonly made = new Map<string, Dispatcher>();

  private constructor(
    private readonly dispatchRequest: Awaited<ReturnType<typeof loadUndici>>['dispatchRequest'],
    /** Only dispatchers this transport created are closed by it; a caller's stays the caller's. */
    private readonly dispatchers: Dispatchers | { readonly caller: Dispatcher },
    options: TransportOptions,
    /** Requests to an https origin wait for its first connection to say whether it speaks HTTP/2. */
    private readonly gate: FirstConnectionGate,
    /** Hosts a TLS connection was made to in this run: a failure later (a reset, a GOAWAY) never means plain http. */
    private readonly speaksTls: ReadonlySet<string>,
    /** TCP connections opened before the first request; closed with the transport when nothing took them. */
    private readonly early: EarlyConnections,
  ) {
    this.insecure = new Set((options.insecureRegistries ?? []).map((host) => host.toLowerCase()));
    // undici's dispatchers tell of every connection they open (a MockAgent opens none).
    if ('caller' in dispatchers) dispatchers.caller.on('connect', this.onConnect);
    this.userAgent = options.userAgent ?? 'frozen-images';
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  }

  static async create(options: TransportOptions = {}): Promise<Transport> {
    const env = options.env ?? process.env;
    const early = new EarlyConnections();
    // First, so that the handshakes run while undici loads and the TLS context is built.
    if (!options.dispatcher && !proxied(env)) for (const origin of options.connectEarly ?? []) early.open(origin);
    const undici = await loadUndici();
    if (options.dispatcher) {
      const caller = { caller: options.dispatcher };
      return new Transport(undici.dispatchRequest, caller, options, new FirstConnectionGate(), new Set(), early);
    }
    const gate = new FirstConnectionGate();
    const speaksTls = new Set<string>();
    const dispatchers = await makeDispatchers(undici, {
      ca: options.ca,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      env,
      onProtocol: (origin, protocol, shared) => {
        speaksTls.add(new URL(origin).host);
        if (shared) gate.learnt(origin, protocol);
      },
      early,
    });
    return new Transport(undici.dispatchRequest, dispatchers, options, gate, speaksTls, early);
  }

  async close(): Promise<void> {
    this.early.close();
    // A caller's dispatcher outlives the run (a pipeline passes one to every pull): it keeps no listener of ours.
    if ('caller' in this.dispatchers) this.dispatchers.caller.off('connect', this.onConnect);
    await Promise.all([...this.made.values()].map((dispatcher) => dispatcher.close()));
  }

  /** The dispatcher for a request: the caller's, or ours by TLS verification and connection sharing. */
  private dispatcherFor(url: URL, ownConnection: boolean): Dispatcher {
    if ('caller' in this.dispatchers) return this.dispatchers.caller;
    const verify = !(url.protocol === 'https:' && this.isInsecure(url.host.toLowerCase()));
    const key = `${verify}/${ownConnection}`;
    let dispatcher = this.made.get(key);
    if (!dispatcher) {
      dispatcher = (ownConnection ? this.dispatchers.separate : this.dispatchers.shared)(verify);
      dispatcher.on('connect', this.onConnect);
      this.made.set(key, dispatcher);
    }
    return dispatcher;
  }

  /** The protocol (`h2`, `http/1.1`) the shared connections to each https origin speak, as far as known. */
  protocols(): Record<string, string> {
    return this.gate.protocols();
  }

  private readonly onConnect = (origin: URL, targets: readonly Dispatcher[]): void => {
    this.opened.set(origin.host, (this.opened.get(origin.host) ?? 0) + 1);
    // undici's client sends one request at a time unless told otherwise, and a pool opens a new connection for the
    // next: an HTTP/2 connection is told it may carry as many streams as the server allows.
    const client = targets.at(-1) as { pipelining?: number } | undefined;
    if (client && this.gate.protocolOf(origin.origin) === 'h2') client.pipelining = HTTP2_STREAMS;
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
        response = await this.once(current, init.method ?? 'GET', headers, init);
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
    if (url.protocol !== 'https:' || !this.allowsPlainHttp(url.host) || this.speaksTls.has(url.host)) return false;
    // A proxy that wants credentials would want them for plain http too. (One that refuses a tunnel to the port,
    // as tinyproxy does outside 443, may still carry plain http.)
    return !CERTIFICATE_ERRORS.test(errorCode(error) ?? '') && proxyRefusal(error) !== 407;
  }

  /** Connections opened so far, per `host[:port]`. */
  connectionCounts(): Record<string, number> {
    return Object.fromEntries(this.opened);
  }

  /** The fastest response from `host` (`host[:port]`) so far, in ms, from sending to its headers; undefined before any. */
  fastestResponseMs(host: string): number | undefined {
    return this.fastest.get(host);
  }

  /** HTTP requests sent so far, per `host[:port]` (each redirect hop, token request and retry counts). */
  requestCounts(): Record<string, number> {
    return Object.fromEntries(this.sent);
  }

  private async once(
    url: URL,
    method: NonNullable<HttpRequest['method']>,
    headers: Record<string, string>,
    { body, signal, ownConnection = false }: HttpRequest,
  ) {
    const dispatcher = this.dispatcherFor(url, ownConnection);
    const gated = url.protocol === 'https:' && !ownConnection && 'http2' in this.dispatchers && this.dispatchers.http2;
    if (gated) await this.gate.pass(url.origin);
    try {
      const started = performance.now();
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
      const took = performance.now() - started;
      if (took < (this.fastest.get(url.host) ?? Infinity)) this.fastest.set(url.host, took);
      return { statusCode: response.statusCode, headers: response.headers, body: response.body, url };
    } finally {
      if (gated) this.gate.settled(url.origin);
    }
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

/** A response header's first value. */
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
