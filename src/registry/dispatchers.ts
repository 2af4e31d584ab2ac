/**
 * How frozen's connections are made: one TLS context for the run, HTTP/2 where the server offers it (ALPN) with flow
 * control windows sized for far links, proxies from HTTP(S)_PROXY, and a second set of dispatchers that speak
 * HTTP/1.1 only, for requests that must have a connection of their own (the segments of a big blob: on a far link
 * one TCP connection is the bottleneck, so several streams of one HTTP/2 connection would not help).
 */
import { readFile } from 'node:fs/promises';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { EarlyConnections } from './early-connections.js';

/** What the dispatchers are made from. */
export interface ConnectionOptions {
  /** More trusted CA certificates (PEM), besides the system's and NODE_EXTRA_CA_CERTS. */
  readonly ca?: string | undefined;
  readonly connectTimeoutMs: number;
  /** Where HTTP_PROXY, HTTPS_PROXY and NO_PROXY are read. */
  readonly env: NodeJS.ProcessEnv;
  /**
   * Told of every TLS connection made directly (not through a proxy): its origin, the protocol ALPN chose, and
   * whether it is one of the shared connections (a separate one speaks HTTP/1.1 whatever the origin offers).
   */
  readonly onProtocol: (origin: string, protocol: string, shared: boolean) => void;
  /** TCP connections opened before the dispatchers were made: the first TLS connection to each host goes over it. */
  readonly early?: EarlyConnections;
}

/** The four dispatchers of a run: TLS verified or not, shared (HTTP/2 where offered) or a connection each. */
export interface Dispatchers {
  readonly shared: (verify: boolean) => Dispatcher;
  readonly separate: (verify: boolean) => Dispatcher;
  /** False when requests go through a proxy: then every connection speaks HTTP/1.1. */
  readonly http2: boolean;
}

const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'];
/**
 * HTTP/2 flow control: Node's default windows (64 KiB a stream and a connection) let one connection carry 64 KiB a
 * round trip, 640 KB/s at 100 ms. A 16 MiB stream window and a 64 MiB connection window let a far link run at its
 * bandwidth (measured in docs/performance.md); frozen writes every body to disk as it comes, so the windows are
 * the most a server may send ahead, not memory held.
 */
const STREAM_WINDOW = 16 * 1024 * 1024;
const CONNECTION_WINDOW = 64 * 1024 * 1024;
/** Connections to one origin over HTTP/1.1 at most: the large blobs' slots (16 by default). */
const SHARED_CONNECTIONS_PER_ORIGIN = 16;

/**
 * undici's agent, connector and request API, loaded when the first transport is made, so that commands that send no
 * request (`cache`, `verify`, `--help`) start without them. Only these: `import 'undici'` loads all of undici
 * (fetch, WebSocket, caches: 110 files), which doubled frozen's start-up time. The package pins undici exactly
 * because these paths are internal.
 */
export async function loadUndici() {
  const [{ default: Agent }, { default: dispatchRequest }, { default: buildConnector }] = await Promise.all([
    import('undici/lib/dispatcher/agent.js'),
    import('undici/lib/api/api-request.js'),
    import('undici/lib/core/connect.js'),
  ]);
  return { Agent, dispatchRequest, buildConnector };
}

type Undici = Awaited<ReturnType<typeof loadUndici>>;
type Connector = ReturnType<Undici['buildConnector']>;

/**
 * Makes the run's dispatchers: through the proxy named by HTTP(S)_PROXY (honouring NO_PROXY) when one is set,
 * directly otherwise. The proxy agent is loaded only when a proxy is configured.
 */
export async function makeDispatchers(undici: Undici, options: ConnectionOptions): Promise<Dispatchers> {
  const secureContext = options.ca === undefined ? undefined : await trustingContext(options.ca);
  const tls = (verify: boolean) => ({
    timeout: options.connectTimeoutMs,
    ...(secureContext && { secureContext }),
    ...(!verify && { rejectUnauthorized: false }),
  });
  const { env } = options;
  if (proxied(env)) {
    const proxied = await proxyDispatcher(env, tls);
    return { shared: proxied, separate: proxied, http2: false };
  }
  const direct = (verify: boolean, allowH2: boolean) =>
    new undici.Agent({
      connect: reportingProtocol(
        overEarlyConnections(undici.buildConnector({ ...tls(verify), allowH2 }), options),
        (origin, protocol) => options.onProtocol(origin, protocol, allowH2),
      ),
      // HTTP/1.1 to one origin: at most this many connections (an HTTP/2 origin takes one); the separate ones are
      // as many as the ranges in flight.
      ...(allowH2 && { connections: SHARED_CONNECTIONS_PER_ORIGIN }),
      ...(allowH2 && { allowH2, initialWindowSize: STREAM_WINDOW, connectionWindowSize: CONNECTION_WINDOW }),
    });
  return { shared: (verify) => direct(verify, true), separate: (verify) => direct(verify, false), http2: true };
}

/** Whether HTTP(S)_PROXY sends requests through a proxy (NO_PROXY aside). */
export function proxied(env: NodeJS.ProcessEnv): boolean {
  return PROXY_VARIABLES.some((name) => env[name]);
}

/** A connector that makes a TLS connection over the TCP connection opened early to its host, where there is one. */
function overEarlyConnections(connect: Connector, options: ConnectionOptions): Connector {
  const { early } = options;
  if (!early) return connect;
  return (connectOptions, callback) => {
    if (connectOptions.protocol !== 'https:') return connect(connectOptions, callback);
    void early
      .take(connectOptions.hostname, connectOptions.port, options.connectTimeoutMs)
      .then((socket) => connect(socket ? { ...connectOptions, httpSocket: socket } : connectOptions, callback))
      // A connector that throws (it calls back otherwise) fails this connection, as it would have called back.
      .catch((error: unknown) => (callback as (error: Error | null, socket: null) => void)(error as Error, null));
  };
}

/** A connector that tells which protocol each new TLS connection speaks. */
function reportingProtocol(connect: Connector, onProtocol: (origin: string, protocol: string) => void): Connector {
  return (options, callback) =>
    connect(options, (error, socket) => {
      const alpn = (socket as TLSSocket | null)?.alpnProtocol;
      if (!error && options.protocol === 'https:') {
        onProtocol(new URL(`https://${options.hostname}:${options.port}`).origin, alpn || 'http/1.1');
      }
      (callback as (error: Error | null, socket: unknown) => void)(error, socket);
    });
}

async function proxyDispatcher(env: NodeJS.ProcessEnv, tls: (verify: boolean) => object) {
  // The proxy agents need the request API undici's index mixes into every dispatcher: load all of undici here.
  const { EnvHttpProxyAgent } = await import('undici');
  const proxy = (name: string) => env[name] ?? env[name.toLowerCase()];
  return (verify: boolean): Dispatcher =>
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
  // NODE_EXTRA_CA_CERTS is added too: parsed again, since Node 20 has no way to add a CA to its default store;
  // for a bundle of 140 certificates that is 22 ms a run.) `context` is Node's native handle, there since the first versions of tls;
  // without it, the list it is.
  const context = createSecureContext();
  const native = (context as unknown as { context?: { addCACert?: (pem: string) => void } }).context;
  if (typeof native?.addCACert !== 'function') return createSecureContext({ ca: [...rootCertificates, ...added] });
  for (const pem of added) native.addCACert(pem);
  return context;
}

/**
 * Holds back the requests to an https origin not connected yet until its first connection says which protocol it
 * speaks. Without it, a burst of requests to a new origin (forty blobs redirected to a CDN) would open a connection
 * each before any of them learnt that one HTTP/2 connection carries them all. An HTTP/1.1 origin then gets its
 * connections as before.
 */
export class FirstConnectionGate {
  private readonly known = new Map<string, string>();
  private readonly waiting = new Map<string, { promise: Promise<void>; open: () => void }>();

  /** Resolves when a request to `origin` may go; the first caller goes at once and must call `settled` after. */
  async pass(origin: string): Promise<void> {
    if (this.known.has(origin)) return;
    const waiting = this.waiting.get(origin);
    if (waiting) return waiting.promise;
    let open = () => {};
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.waiting.set(origin, { promise, open });
  }

  /** An origin's connection said its protocol. */
  learnt(origin: string, protocol: string): void {
    this.known.set(origin, protocol);
    this.settled(origin);
  }

  /** The first request to `origin` is answered or failed: whoever waits goes (and connects for itself if need be). */
  settled(origin: string): void {
    const waiting = this.waiting.get(origin);
    this.waiting.delete(origin);
    waiting?.open();
  }

  protocolOf(origin: string): string | undefined {
    return this.known.get(origin);
  }

  /** The protocol each origin's connections speak, as far as known. */
  protocols(): Record<string, string> {
    return Object.fromEntries(this.known);
  }
}
