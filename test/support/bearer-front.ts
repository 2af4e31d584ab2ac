import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A test front for a real registry that behaves like Docker Hub: /v2/ requests need a Bearer token from its own
 * token endpoint (401 challenge otherwise), blob GETs are redirected with 307 to a second origin (the "CDN", on
 * 127.0.0.2 rather than 127.0.0.1, on another port), and everything else is forwarded to the registry.
 * It records what each origin received.
 */
export interface SeenRequest {
  readonly origin: 'front' | 'token' | 'cdn';
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
}

export interface BearerFront {
  readonly host: string; // 127.0.0.1:PORT
  readonly seen: SeenRequest[];
  stop(): Promise<void>;
}

export interface BearerFrontOptions {
  /** Require these Basic credentials at the token endpoint ("user:pass"). */
  readonly tokenCredentials?: string;
  /** Accept this OAuth2 refresh token (an identity token) in a POST to the token endpoint. */
  readonly refreshToken?: string;
  /** Flip one byte of every blob the CDN serves. */
  readonly corruptBlobs?: boolean;
  /** Send the headers and half of each blob, then stall until the client gives up. */
  readonly stallBlobs?: boolean;
}

export async function startBearerFront(registryUrl: string, options: BearerFrontOptions = {}): Promise<BearerFront> {
  const seen: SeenRequest[] = [];
  const issued = new Set<string>();
  const cdn = await listen(CDN_ADDRESS, (req, res) => {
    seen.push(describe('cdn', req));
    const digest = /^\/cdn\/([^/]+)\/(.+)\/blobs\/([^?]+)/.exec(req.url ?? '');
    if (!digest) return end(res, 404);
    void forward(`${registryUrl}/v2/${digest[2]}/blobs/${digest[3]}`, req, res, options);
  });
  const cdnPort = (cdn.address() as AddressInfo).port;

  const front = await listen('127.0.0.1', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const host = req.headers.host;
    if (url.pathname === '/token' && req.method === 'POST') {
      seen.push(describe('token', req));
      return void readForm(req).then((form) => {
        if (
          !options.refreshToken ||
          form.get('grant_type') !== 'refresh_token' ||
          form.get('refresh_token') !== options.refreshToken
        )
          return end(res, 401);
        const token = `tok-${issued.size + 1}-${form.get('scope')}`;
        issued.add(token);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ access_token: token, expires_in: 300 }));
      });
    }
    if (url.pathname === '/token') {
      seen.push(describe('token', req));
      const expected = options.tokenCredentials && `Basic ${Buffer.from(options.tokenCredentials).toString('base64')}`;
      if (expected && req.headers.authorization !== expected) return end(res, 401);
      const token = `tok-${issued.size + 1}-${url.searchParams.get('scope')}`;
      issued.add(token);
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ token, expires_in: 300 }));
    }
    seen.push(describe('front', req));
    const bearer = req.headers.authorization?.replace(/^Bearer /, '');
    if (!bearer || !issued.has(bearer)) {
      const repository = /^\/v2\/(.+)\/(?:manifests|blobs)\//.exec(url.pathname)?.[1] ?? '';
      res.setHeader(
        'www-authenticate',
        `Bearer realm="http://${host}/token",service="frozen-front",scope="repository:${repository}:pull"`,
      );
      return end(res, 401);
    }
    const blob = /^\/v2\/(.+)\/blobs\/(.+)$/.exec(url.pathname);
    if (blob && req.method === 'GET') {
      res.statusCode = 307;
      res.setHeader('location', `http://${CDN_ADDRESS}:${cdnPort}/cdn/signed/${blob[1]}/blobs/${blob[2]}?expires=soon`);
      return res.end('<a href="redirect">Temporary Redirect</a>');
    }
    void forward(`${registryUrl}${req.url}`, req, res);
  });
  const port = (front.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    seen,
    async stop() {
      await Promise.all([close(front), close(cdn)]);
    },
  };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = '';
  for await (const chunk of req) body += (chunk as Buffer).toString();
  return new URLSearchParams(body);
}

function describe(origin: SeenRequest['origin'], req: IncomingMessage): SeenRequest {
  return {
    origin,
    method: req.method ?? 'GET',
    path: req.url ?? '',
    ...(req.headers.authorization && { authorization: req.headers.authorization }),
  };
}

const CDN_ADDRESS = '127.0.0.2';

async function forward(
  target: string,
  req: IncomingMessage,
  res: ServerResponse,
  blobs: BearerFrontOptions = {},
): Promise<void> {
  const headers: Record<string, string> = {};
  if (req.headers.accept) headers.accept = req.headers.accept;
  const upstream = await fetch(target, { method: req.method ?? 'GET', headers, redirect: 'manual' });
  res.statusCode = upstream.status;
  for (const name of ['content-type', 'content-length', 'docker-content-digest']) {
    const value = upstream.headers.get(name);
    if (value) res.setHeader(name, value);
  }
  const body = Buffer.from(await upstream.arrayBuffer());
  if (blobs.corruptBlobs && body.length > 0) body[0]! ^= 0xff;
  if (blobs.stallBlobs) res.write(body.subarray(0, body.length >> 1));
  else res.end(body);
}

function end(res: ServerResponse, status: number): void {
  res.statusCode = status;
  res.end();
}

function listen(address: string, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', reject);
    server.listen(0, address, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
