import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A registry mirror in front of a real registry, for mirror fallback tests: it can be broken in the ways mirrors
 * break (500, 404, corrupt bytes), sit under a path prefix in either convention, or want its own Basic
 * credentials. It records what it was asked and with which Authorization.
 */
export interface MirrorFrontOptions {
  readonly mode?: 'ok' | 'error500' | 'notfound' | 'corrupt';
  /** Docker/Artifactory style: the mirror lives at `<pathPrefix>/v2/...`. */
  readonly pathPrefix?: string;
  /** Harbor style: repositories are `<repositoryPrefix>/<repo>` under `/v2/`. */
  readonly repositoryPrefix?: string;
  /** Require these Basic credentials ("user:pass"). */
  readonly basic?: string;
}

export interface MirrorFront {
  /** The URL to configure the mirror with. */
  readonly url: string;
  readonly seen: { method: string; path: string; authorization?: string }[];
  stop(): Promise<void>;
}

export async function startMirrorFront(upstream: string, options: MirrorFrontOptions = {}): Promise<MirrorFront> {
  const seen: MirrorFront['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({
      method: req.method ?? 'GET',
      path: req.url ?? '',
      ...(req.headers.authorization && { authorization: req.headers.authorization }),
    });
    void handle(req, res, upstream, options);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const url = options.repositoryPrefix
    ? `${base}/v2/${options.repositoryPrefix}`
    : `${base}${options.pathPrefix ?? ''}`;
  return {
    url,
    seen,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: string,
  options: MirrorFrontOptions,
): Promise<void> {
  if (options.basic && req.headers.authorization !== `Basic ${Buffer.from(options.basic).toString('base64')}`) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="mirror"' }).end();
    return;
  }
  const path = upstreamPath(req.url ?? '', options);
  if (path === undefined || options.mode === 'notfound') {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"BLOB_UNKNOWN"}]}');
    return;
  }
  if (options.mode === 'error500') {
    res.writeHead(500).end('mirror trouble');
    return;
  }
  const headers: Record<string, string> = {};
  if (req.headers.accept) headers.accept = req.headers.accept;
  if (req.headers.range) headers.range = req.headers.range;
  const answer = await fetch(`${upstream}${path}`, { method: req.method ?? 'GET', headers, redirect: 'manual' });
  const body = Buffer.from(await answer.arrayBuffer());
  if (options.mode === 'corrupt' && path.includes('/blobs/') && body.length > 0) body[body.length - 1]! ^= 0xff;
  const copied: Record<string, string> = {};
  for (const name of ['content-type', 'docker-content-digest', 'content-range']) {
    const value = answer.headers.get(name);
    if (value) copied[name] = value;
  }
  res.writeHead(answer.status, {
    ...copied,
    'content-length': String(req.method === 'HEAD' ? Number(answer.headers.get('content-length') ?? 0) : body.length),
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The upstream path for a mirror path, or undefined when it is outside the mirror's prefix. */
function upstreamPath(path: string, options: MirrorFrontOptions): string | undefined {
  let rest = path;
  if (options.pathPrefix) {
    if (!rest.startsWith(`${options.pathPrefix}/v2/`)) return undefined;
    rest = rest.slice(options.pathPrefix.length);
  }
  if (options.repositoryPrefix) {
    const prefix = `/v2/${options.repositoryPrefix}/`;
    if (!rest.startsWith(prefix)) return undefined;
    rest = `/v2/${rest.slice(prefix.length)}`;
  }
  return rest.startsWith('/v2/') ? rest : undefined;
}
