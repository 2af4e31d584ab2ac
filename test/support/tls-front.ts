import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { constants, createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { TestCertificates } from './tls.js';

/**
 * A TLS front for a plain-http registry that speaks HTTP/2 (ALPN `h2`, as Distribution, Docker Hub's CDN and GHCR
 * do), or HTTP/1.1 only (ALPN offers nothing else, as many corporate proxies and older nginx set-ups), and records
 * the protocol of every request. Its faults are modelled on what HTTP/2 servers do in the wild:
 *
 * - `goAwayAt`: a GOAWAY on the connection when the nth request arrives, as nginx sends one when a connection
 *   reaches `keepalive_requests` (its HTTP/2 limit of requests per connection) and Go's server on shutdown;
 * - `resetStream`: an RST_STREAM (INTERNAL_ERROR) half way through the body of a request the predicate picks, as
 *   nginx resets a stream whose upstream fails mid-body.
 */
export interface TlsFrontOptions {
  readonly http1Only?: boolean;
  readonly goAwayAt?: number;
  readonly resetStream?: (path: string, nth: number) => boolean;
  /** Send half the body of the requests the predicate picks, then nothing more (a stalled stream). */
  readonly stallStream?: (path: string, nth: number) => boolean;
}

export interface TlsSeen {
  /** `2.0` or `1.1`, as the server saw it. */
  readonly httpVersion: string;
  readonly method: string;
  readonly path: string;
  readonly range?: string;
}

export interface TlsFront {
  readonly host: string;
  readonly seen: TlsSeen[];
  stop(): Promise<void>;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

export async function startTlsFront(
  upstream: string,
  certificates: TestCertificates,
  options: TlsFrontOptions = {},
): Promise<TlsFront> {
  const seen: TlsSeen[] = [];
  const perPath = new Map<string, number>();
  const handle = (req: AnyRequest, res: AnyResponse) => {
    const path = req.url ?? '/';
    const range = req.headers.range;
    seen.push({ httpVersion: req.httpVersion, method: req.method ?? 'GET', path, ...(range && { range }) });
    const nth = (perPath.get(path) ?? 0) + 1;
    perPath.set(path, nth);
    if (options.goAwayAt === seen.length && 'stream' in req) {
      req.stream.session?.goaway(constants.NGHTTP2_NO_ERROR, 0);
      return;
    }
    const reset = options.resetStream?.(path, nth) === true && 'stream' in req ? req.stream : undefined;
    const stall = options.stallStream?.(path, nth) === true;
    forward(upstream, req, res, reset ?? (stall ? 'stall' : undefined));
  };
  const tls = { key: await readFile(certificates.key), cert: await readFile(certificates.certificate) };
  const server = options.http1Only
    ? createHttpsServer(tls, handle)
    : createSecureServer({ ...tls, allowHTTP1: true }, handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sockets = new Set<import('node:net').Socket>();
  server.on('secureConnection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (server as Server).close(() => resolve()));
    },
  };
}

/**
 * Passes a request to the registry and its answer back; `cut` stops the answer half way, with RST_STREAM (a
 * stream) or by sending nothing more (`stall`).
 */
function forward(
  upstream: string,
  req: AnyRequest,
  res: AnyResponse,
  cut?: import('node:http2').ServerHttp2Stream | 'stall',
) {
  const headers: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers))
    if (!name.startsWith(':') && name !== 'host') headers[name] = value;
  const { hostname, port } = new URL(upstream);
  // The path as the client sent it, byte for byte (a signed query must reach the storage host as signed).
  const target = { hostname, port, path: req.url ?? '/', method: req.method ?? 'GET', headers };
  const out = httpRequest(target, (answer) => {
    const length = Number(answer.headers['content-length'] ?? 0);
    const passed: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(answer.headers)) {
      if (value !== undefined && !['connection', 'keep-alive', 'transfer-encoding'].includes(name))
        passed[name] = value;
    }
    res.writeHead(answer.statusCode ?? 502, passed);
    if (!cut || length < 2) return void answer.pipe(res as NodeJS.WritableStream);
    let sent = 0;
    answer.on('data', (chunk: Buffer) => {
      if (sent >= length / 2) return;
      const part = chunk.subarray(0, Math.max(1, Math.ceil(length / 2) - sent));
      sent += part.length;
      (res as NodeJS.WritableStream).write(part);
      if (sent >= length / 2 && cut !== 'stall') setTimeout(() => cut.close(constants.NGHTTP2_INTERNAL_ERROR), 20);
    });
    answer.on('end', () => undefined);
  });
  out.on('error', () => res.writeHead(502).end());
  req.pipe(out);
}
