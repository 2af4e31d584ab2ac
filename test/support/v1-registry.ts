import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { sha256, tarOf, type Entry } from './images.js';

/**
 * A v1 registry and index in one process, written from the v1 API documentation (moby
 * docs/sources/reference/api/registry_api.md and hub_registry_spec.md): `GET /v1/_ping`; the index's
 * `GET /v1/repositories/<repo>/images`, which hands out a token when asked with `X-Docker-Token: true` and names
 * the registries in `X-Docker-Endpoints`; and the registry's tags, ancestry, json (with `X-Docker-Size` and
 * `X-Docker-Payload-Checksum`) and layer routes, which want `Authorization: Token …`. Header names are written as
 * the v1 servers wrote them (`X-Docker-Token`), which moby's v1 script matches case-sensitively. A name without a
 * namespace is in `library/`. There is no `/v2/`. Layers honour Range; tests can cut them mid-body, expire tokens
 * and break answers, and every request is recorded.
 */
export interface V1Image {
  readonly id: string;
  readonly parent?: string;
  /** The image json, as the registry stores and serves it. */
  readonly json: Buffer;
  /** The layer as served (gzip, or plain tar). */
  readonly layer: Buffer;
  /** sha256 of the uncompressed layer. */
  readonly diffId: string;
}

export interface V1Request {
  readonly method: string;
  readonly path: string;
  readonly authorization?: string;
  readonly xDockerToken?: string;
  readonly range?: string;
  status: number;
  bytes: number;
}

export interface V1RegistryOptions {
  /** The index asks for these Basic credentials. */
  readonly basic?: { readonly username: string; readonly password: string };
  /** Issue tokens at the index and require them at the registry (default true). */
  readonly tokens?: boolean;
  /** The index names these registries in X-Docker-Endpoints (default: itself). */
  readonly endpoints?: () => readonly string[];
  /** Tokens issued by another instance (its index), to act as the registry it names. */
  readonly tokensOf?: V1Registry;
}

export interface V1Behaviour {
  /** Cut the next `count` layer bodies longer than `afterBytes` after that many bytes. */
  resets: { count: number; afterBytes: number };
  /** Each token is accepted for this many registry requests (default: unlimited). */
  tokenUses: number;
  /** Leave X-Docker-Size out of json answers (clients must HEAD the layer). */
  omitSize: boolean;
  /** Answer a layer HEAD with this status, as a registry that implements only what the seed script asks (GET). */
  layerHeadStatus: number | undefined;
  /** Serve these bytes instead of an image's json or ancestry, by image ID. */
  jsonOverride: Map<string, Buffer>;
  ancestryOverride: Map<string, Buffer>;
  /** Answer this many of the next ancestry and json requests with 503. */
  apiFailures: number;
}

export interface V1Registry {
  readonly host: string;
  readonly requests: V1Request[];
  readonly behaviour: V1Behaviour;
  /** Tokens issued, with the registry requests each has served. */
  readonly tokens: Map<string, number>;
  add(image: V1Image): void;
  tag(repository: string, tag: string, id: string): void;
  layerRequests(id: string): V1Request[];
  stop(): Promise<void>;
}

/** A v1 image: a random 64-hex ID (v1 IDs are not content addresses), its json and its layer. */
export async function v1Image(
  entries: readonly Entry[],
  options: { parent?: V1Image; cmd?: string; gzip?: boolean } = {},
): Promise<V1Image> {
  const id = randomBytes(32).toString('hex');
  const tar = await tarOf(entries);
  const layer = options.gzip === false ? tar : gzipSync(tar);
  const json = {
    id,
    ...(options.parent && { parent: options.parent.id }),
    created: '2015-03-01T00:00:00.000000000Z',
    container: randomBytes(32).toString('hex'),
    container_config: {
      Hostname: 'builder',
      Cmd: ['/bin/sh', '-c', options.cmd ?? `#(nop) ADD file in /`],
      Image: options.parent?.id ?? '',
    },
    docker_version: '1.5.0',
    config: {
      Hostname: 'builder',
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
      Image: options.parent?.id ?? '',
    },
    architecture: 'amd64',
    os: 'linux',
    Size: tar.length,
  };
  // Old registries kept the json as pushed: indented, as docker 1.x wrote it.
  return {
    id,
    ...(options.parent && { parent: options.parent.id }),
    json: Buffer.from(JSON.stringify(json, null, 1)),
    layer,
    diffId: sha256(tar),
  };
}

/** Top first, as `ancestry` lists them. */
function ancestryOf(images: ReadonlyMap<string, V1Image>, id: string): string[] {
  const ids: string[] = [];
  for (let current = images.get(id); current; current = current.parent ? images.get(current.parent) : undefined)
    ids.push(current.id);
  return ids;
}

export async function startV1Registry(options: V1RegistryOptions = {}): Promise<V1Registry> {
  const images = new Map<string, V1Image>();
  const tags = new Map<string, Map<string, string>>();
  const tokens = options.tokensOf?.tokens ?? new Map<string, number>();
  const requests: V1Request[] = [];
  const behaviour: V1Behaviour = {
    resets: { count: 0, afterBytes: 0 },
    tokenUses: Infinity,
    omitSize: false,
    layerHeadStatus: undefined,
    jsonOverride: new Map(),
    ancestryOverride: new Map(),
    apiFailures: 0,
  };
  const useTokens = options.tokens !== false;
  let host = '';

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const record: V1Request = {
      method: req.method ?? 'GET',
      path,
      ...(req.headers.authorization && { authorization: req.headers.authorization }),
      ...(typeof req.headers['x-docker-token'] === 'string' && { xDockerToken: req.headers['x-docker-token'] }),
      ...(req.headers.range && { range: req.headers.range }),
      status: 0,
      bytes: 0,
    };
    requests.push(record);
    const send = (status: number, body: Buffer | string = '""', headers: Record<string, string> = {}) => {
      record.status = status;
      const bytes = Buffer.from(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'X-Docker-Registry-Version': '0.6.0',
        'content-length': String(bytes.length),
        ...headers,
      });
      if (req.method !== 'HEAD') record.bytes += bytes.length;
      res.end(req.method === 'HEAD' ? undefined : bytes);
    };
    route(req, res, path, record, send);
  });

  function route(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    record: V1Request,
    send: (status: number, body?: Buffer | string, headers?: Record<string, string>) => void,
  ) {
    if (!path.startsWith('/v1/')) return send(404, '{"error":"Not found"}');
    if (path === '/v1/_ping') return send(200);
    const index = /^\/v1\/repositories\/(.+)\/images$/.exec(path);
    if (index) return answerIndex(req, repositoryName(index[1]!), send);
    if (useTokens && !tokenAccepted(req.headers.authorization)) return send(401, '{"error":"Requires authorization"}');
    const tag = /^\/v1\/repositories\/(.+)\/tags\/([^/]+)$/.exec(path);
    if (tag) {
      const id = tags.get(repositoryName(tag[1]!))?.get(tag[2]!);
      return id ? send(200, JSON.stringify(id)) : send(404, '{"error":"Tag not found"}');
    }
    const tagList = /^\/v1\/repositories\/(.+)\/tags$/.exec(path);
    if (tagList) {
      const list = tags.get(repositoryName(tagList[1]!));
      return list ? send(200, JSON.stringify(Object.fromEntries(list))) : send(404, '{"error":"Repository not found"}');
    }
    const imageRoute = /^\/v1\/images\/([a-f0-9]{64})\/(ancestry|json|layer)$/.exec(path);
    const image = imageRoute ? images.get(imageRoute[1]!) : undefined;
    if (!imageRoute || !image) return send(404, '{"error":"Image not found"}');
    if (imageRoute[2] !== 'layer' && behaviour.apiFailures > 0) {
      behaviour.apiFailures--;
      return send(503, '{"error":"Service unavailable"}');
    }
    if (imageRoute[2] === 'ancestry')
      return send(200, behaviour.ancestryOverride.get(image.id) ?? JSON.stringify(ancestryOf(images, image.id)));
    if (imageRoute[2] === 'json') {
      const payload = createHash('sha256').update(image.json).update('\n').update(image.layer).digest('hex');
      return send(200, behaviour.jsonOverride.get(image.id) ?? image.json, {
        ...(!behaviour.omitSize && { 'X-Docker-Size': String(image.layer.length) }),
        'X-Docker-Payload-Checksum': `sha256:${payload}`,
      });
    }
    return sendLayer(req, res, image.layer, record);
  }

  function answerIndex(
    req: IncomingMessage,
    repository: string,
    send: (status: number, body?: Buffer | string, headers?: Record<string, string>) => void,
  ) {
    if (options.basic) {
      const expected = `Basic ${Buffer.from(`${options.basic.username}:${options.basic.password}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return send(401, '{"error":"Requires authorization"}');
    }
    if (!tags.has(repository)) return send(404, '{"error":"Repository not found"}');
    const list = JSON.stringify([...images.values()].map((image) => ({ id: image.id })));
    const headers: Record<string, string> = { 'X-Docker-Endpoints': (options.endpoints?.() ?? [host]).join(', ') };
    if (useTokens && req.headers['x-docker-token'] === 'true') {
      const token = `signature=${randomBytes(8).toString('hex')},repository="${repository}",access=read`;
      tokens.set(token, 0);
      headers['X-Docker-Token'] = token;
    }
    return send(200, list, headers);
  }

  function tokenAccepted(authorization: string | undefined): boolean {
    const token = authorization?.startsWith('Token ') ? authorization.slice('Token '.length) : undefined;
    const uses = token === undefined ? undefined : tokens.get(token);
    if (uses === undefined || uses >= behaviour.tokenUses) return false;
    tokens.set(token!, uses + 1);
    return true;
  }

  function sendLayer(req: IncomingMessage, res: ServerResponse, layer: Buffer, record: V1Request) {
    if (req.method === 'HEAD' && behaviour.layerHeadStatus !== undefined) {
      record.status = behaviour.layerHeadStatus;
      res.writeHead(behaviour.layerHeadStatus);
      return res.end();
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= layer.length && range) {
      record.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${layer.length}` });
      return res.end();
    }
    const body = layer.subarray(start);
    record.status = range ? 206 : 200;
    res.writeHead(record.status, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      ...(range && { 'content-range': `bytes ${start}-${layer.length - 1}/${layer.length}` }),
    });
    if (req.method === 'HEAD') return res.end();
    if (behaviour.resets.count > 0 && body.length > behaviour.resets.afterBytes) {
      behaviour.resets.count--;
      const part = body.subarray(0, behaviour.resets.afterBytes);
      record.bytes += part.length;
      res.write(part, () => setTimeout(() => res.socket?.destroy(), 20));
      return undefined;
    }
    record.bytes += body.length;
    return res.end(body);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    requests,
    behaviour,
    tokens,
    add: (image) => void images.set(image.id, image),
    tag: (repository, tag, id) => {
      const name = repositoryName(repository);
      tags.set(name, (tags.get(name) ?? new Map()).set(tag, id));
    },
    layerRequests: (id) => requests.filter((r) => r.method === 'GET' && r.path === `/v1/images/${id}/layer`),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** "The default namespace for a private repository is `library`." */
function repositoryName(name: string): string {
  return name.includes('/') ? name : `library/${name}`;
}
