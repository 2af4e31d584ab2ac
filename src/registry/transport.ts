import type { Dispatcher } from 'undici';
// Only the agent and the request API: `import 'undici'` loads all of undici (fetch, WebSocket, caches: 110
// files), which doubled frozen's start-up time. The package pins undici exactly because these paths are internal.
import Agent from 'undici/lib/dispatcher/agent.js';
import dispatchRequest from 'undici/lib/api/api-request.js';
import { FrozenError, isAbortError } from '../errors.js';

/**
 * The only module that speaks HTTP. It follows redirects by hand so that `Authorization` never reaches another
 * origin (Docker Hub redirects blob GETs to a CDN), refuses plain http except for hosts allowed it, and turns
 * connection failures into network errors that name the host.
 */
export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  readonly url: URL;
}

export interface HttpRequest {
  readonly method?: 'GET' | 'HEAD' | 'POST';
  readonly headers?: Record<string, string>;
  /** A small request body (token forms). */
  readonly body?: string;
  readonly signal?: AbortSignal;
}

export interface TransportOptions {
  /** An undici dispatcher (tests pass a MockAgent; issue-specific agents such as proxies go here). */
  readonly dispatcher?: Dispatcher;
  /** Hosts (`host` or `host:port`) that may be spoken to over plain http, besides loopback. */
  readonly insecureRegistries?: readonly string[];
  readonly userAgent?: string;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const CONNECT_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 60_000;
const BODY_TIMEOUT_MS = 120_000;

export class Transport {
  private readonly dispatcher: Dispatcher;
  /** Only a dispatcher this transport created is closed by it; a caller's stays the caller's. */
  private readonly ownsDispatcher: boolean;
  private readonly insecure: Set<string>;
  private readonly userAgent: string;

  constructor(options: TransportOptions = {}) {
    this.ownsDispatcher = options.dispatcher === undefined;
    this.dispatcher = options.dispatcher ?? new Agent({ connect: { timeout: CONNECT_TIMEOUT_MS } });
    this.insecure = new Set((options.insecureRegistries ?? []).map((host) => host.toLowerCase()));
    this.userAgent = options.userAgent ?? 'frozen-images';
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  /** `https` for registries, `http` only for loopback hosts and those named insecure. */
  schemeFor(host: string): 'http' | 'https' {
    return this.allowsPlainHttp(host) ? 'http' : 'https';
  }

  allowsPlainHttp(host: string): boolean {
    const lower = host.toLowerCase();
    return isLoopback(hostname(lower)) || this.insecure.has(lower) || this.insecure.has(hostname(lower));
  }

  async send(url: URL, init: HttpRequest = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { 'user-agent': this.userAgent, ...init.headers };
    let current = url;
    for (let hop = 0; ; hop++) {
      this.assertAllowed(current);
      const response = await this.once(current, init.method ?? 'GET', headers, init.body, init.signal);
      const location = header(response.headers, 'location');
      if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return response;
      await response.body.dump();
      if (hop >= MAX_REDIRECTS) throw new FrozenError('protocol', `too many redirects from ${url.host}`);
      const next = new URL(location, current);
      if (next.origin !== current.origin) delete headers.authorization;
      current = next;
    }
  }

  private async once(url: URL, method: NonNullable<HttpRequest['method']>, headers: Record<string, string>, body?: string, signal?: AbortSignal) {
    try {
      const response = await dispatchRequest.call(this.dispatcher, {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method,
        headers,
        ...(body !== undefined && { body }),
        signal,
        headersTimeout: HEADERS_TIMEOUT_MS,
        bodyTimeout: BODY_TIMEOUT_MS,
      });
      return { statusCode: response.statusCode, headers: response.headers, body: response.body, url };
    } catch (error) {
      throw networkError(error, url);
    }
  }

  private assertAllowed(url: URL): void {
    if (url.protocol === 'https:') return;
    if (url.protocol === 'http:' && this.allowsPlainHttp(url.host)) return;
    throw new FrozenError(
      'protocol',
      `refusing ${url.protocol}//${url.host}: plain http is only used for loopback hosts and --insecure-registry hosts`,
    );
  }
}

export function header(headers: HttpResponse['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function headerValues(headers: HttpResponse['headers'], name: string): string[] {
  const value = headers[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Turns an undici/socket failure into one line that names the host and the cause. */
export function networkError(error: unknown, url: URL): FrozenError {
  if (error instanceof FrozenError) return error;
  if (isAbortError(error)) return new FrozenError('aborted', 'aborted', { cause: error });
  const code = errorCode(error);
  const reason =
    code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? 'unknown host'
      : code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'
          ? 'connection reset'
          : code?.includes('TIMEOUT')
            ? 'timed out'
            : (code ?? (error instanceof Error ? error.message : String(error)));
  return new FrozenError('network', `cannot reach ${url.host}: ${reason}`, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
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
