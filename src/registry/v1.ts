/**
 * The v1 registry API, as the seed's download-frozen-image.sh speaks it, made safe: a token from the index
 * (`X-Docker-Token: true`), the registries the index names (`X-Docker-Endpoints`, tried in order, else the index
 * host itself), `Authorization: Token …` to them, a new token once when one is refused, and every image ID and
 * body checked before it is used. Basic credentials go to the index host only.
 */
import { FrozenError } from '../errors.js';
import { withRetries, type RetryPolicy } from './retry.js';
import { parseJson } from '../util/json-file.js';
import { readLimited } from '../util/read-limited.js';
import type { CredentialSource } from './auth.js';
import { expectBlobResponse, rangeFrom, responseError } from './client.js';
import type { BlobEndpoint, RequestNotices } from './remote.js';
import { header, type HttpResponse, type Transport } from './transport.js';

/**
 * An image's json from a v1 registry: its bytes as served, its fields, its ID and parent, and its layer size when
 * the registry said.
 */
export interface V1ImageJson {
  /** The registry's json, byte for byte (the output keeps it). */
  readonly bytes: Buffer;
  /** The same, parsed. */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly id: string;
  readonly parent?: string;
  /** `X-Docker-Size`: the layer's size as served, when the registry says. */
  readonly layerSize?: number;
}

interface V1Session {
  readonly token?: string;
  /** Registry hosts (`host[:port]`) to send image requests to, in order. */
  readonly endpoints: readonly string[];
}

const V1_ID = /^[a-f0-9]{64}$/;
const HOST_PORT = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?|\[[a-fA-F0-9:]+\])(?::\d{1,5})?$/;
const JSON_LIMIT = 4 * 1024 * 1024;
const DOCKER_HUB_INDEX = 'index.docker.io';

/** Whether `host` speaks only v1: `/v2/` is absent (404) and `/v1/_ping` answers 200. */
export async function speaksOnlyV1(transport: Transport, host: string, signal?: AbortSignal): Promise<boolean> {
  const status = async (path: string) => {
    const response = await transport.send(new URL(`https://${host}${path}`), signal ? { signal } : {});
    await response.body.dump();
    return response.statusCode;
  };
  return (await status('/v2/')) === 404 && (await status('/v1/_ping')) === 200;
}

function isV1ImageId(value: string): boolean {
  return V1_ID.test(value);
}

/** One repository on a v1 registry: tags, ancestry, image jsons and layer endpoints, with the index's token. */
export class V1Registry {
  private session?: Promise<V1Session>;
  private readonly indexHost: string;

  constructor(
    private readonly transport: Transport,
    registry: string,
    private readonly repository: string,
    private readonly credentials: CredentialSource,
    private readonly retry: RetryPolicy,
    private readonly notices: RequestNotices = {},
  ) {
    this.indexHost = registry === 'docker.io' ? DOCKER_HUB_INDEX : registry;
  }

  /** The image ID a tag names. */
  async tag(tag: string, signal?: AbortSignal): Promise<string> {
    const body = await this.getJson(`/v1/repositories/${this.repository}/tags/${tag}`, `tag ${tag}`, signal);
    return imageId(body, `tag ${tag}`);
  }

  /** The image and its parents, top first; the first is `id` itself and none repeats. */
  async ancestry(id: string, signal?: AbortSignal): Promise<string[]> {
    const body = await this.getJson(`/v1/images/${id}/ancestry`, `ancestry of ${id}`, signal);
    if (!Array.isArray(body) || body.length === 0)
      throw new FrozenError('protocol', `ancestry of ${id}: not a list of image IDs`);
    const ids = body.map((entry: unknown) => imageId(entry, `ancestry of ${id}`));
    if (ids[0] !== id) throw new FrozenError('integrity', `ancestry of ${id} starts with ${ids[0]}`);
    if (new Set(ids).size !== ids.length) throw new FrozenError('protocol', `ancestry of ${id} repeats an image`);
    return ids;
  }

  /** An image's json, which must name the image itself. */
  async imageJson(id: string, signal?: AbortSignal): Promise<V1ImageJson> {
    const response = await this.request(`/v1/images/${id}/json`, {}, signal);
    const bytes = await readLimited(response.body, JSON_LIMIT, `json of image ${id}`);
    const json = parseJson(bytes, `json of image ${id}`) as { id?: unknown; parent?: unknown };
    if (json === null || typeof json !== 'object' || json.id !== id)
      throw new FrozenError('integrity', `json of image ${id} names another image`);
    if (
      json.parent !== undefined &&
      json.parent !== '' &&
      !(typeof json.parent === 'string' && isV1ImageId(json.parent))
    ) {
      throw new FrozenError('protocol', `json of image ${id}: malformed parent`);
    }
    const size = header(response.headers, 'x-docker-size');
    return {
      bytes,
      fields: json,
      id,
      ...(typeof json.parent === 'string' && json.parent !== '' && { parent: json.parent }),
      ...(size !== undefined && { layerSize: sizeValue(size, `X-Docker-Size of image ${id}`) }),
    };
  }

  /** A layer's size from a HEAD, for registries that send no `X-Docker-Size`. */
  async layerSize(id: string, signal?: AbortSignal): Promise<number> {
    const response = await this.request(`/v1/images/${id}/layer`, {}, signal, 'HEAD');
    await response.body.dump();
    return sizeValue(header(response.headers, 'content-length'), `layer of image ${id} (no size given)`);
  }

  /** Where the layer can be fetched from: each registry endpoint in turn, resumable with Range. */
  async layerEndpoints(id: string, signal?: AbortSignal): Promise<BlobEndpoint[]> {
    const { endpoints } = await this.open(signal);
    return endpoints.map((host) => ({
      name: host,
      mirror: false,
      retry: this.retry,
      failed: () => undefined,
      open: async (offset: number) => {
        const response = await this.send(host, `/v1/images/${id}/layer`, rangeFrom(offset), signal);
        return expectBlobResponse(response, offset > 0, `layer of image ${id}`);
      },
    }));
  }

  private async getJson(path: string, what: string, signal?: AbortSignal): Promise<unknown> {
    const response = await this.request(path, {}, signal);
    return parseJson(await readLimited(response.body, JSON_LIMIT, what), what);
  }

  /** A GET (or HEAD) through the endpoints in order, each retried: network failures move on to the next. */
  private async request(
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<HttpResponse> {
    const { endpoints } = await this.open(signal);
    let failure: unknown;
    for (const host of endpoints) {
      try {
        return await withRetries(
          this.retry,
          async () => {
            const response = await this.send(host, path, headers, signal, method);
            if (response.statusCode !== 200) throw await responseError(response, `${method} ${path}`);
            return response;
          },
          { signal, onRetry: this.notices.onRetry },
        );
      } catch (error) {
        failure = error;
        if (!(error instanceof FrozenError && error.kind === 'network')) throw error;
        if (host !== endpoints.at(-1)) this.notices.onFallback?.(host, error);
      }
    }
    throw failure;
  }

  /** One request to one registry endpoint, with the token; a refused token is replaced once. */
  private async send(
    host: string,
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    method: 'GET' | 'HEAD' = 'GET',
  ): Promise<HttpResponse> {
    const attempt = async (session: V1Session) => {
      const authorization = session.token
        ? `Token ${session.token}`
        : host === this.indexHost
          ? await this.basic()
          : undefined;
      return this.transport.send(new URL(`https://${host}${path}`), {
        method,
        headers: authorization ? { ...headers, authorization } : headers,
        ...(signal && { signal }),
      });
    };
    const opened = this.open(signal);
    const session = await opened;
    const response = await attempt(session);
    if (response.statusCode !== 401 || !session.token) return response;
    await response.body.dump();
    return attempt(await this.renew(opened, signal));
  }

  private open(signal?: AbortSignal): Promise<V1Session> {
    this.session ??= this.handshake(signal);
    return this.session;
  }

  /** v1 tokens may be good for one session only: a refused one is replaced by a new handshake, once. */
  private renew(refused: Promise<V1Session>, signal?: AbortSignal): Promise<V1Session> {
    if (this.session === refused) this.session = this.handshake(signal);
    return this.session!;
  }

  /**
   * Asks the index for a token and the registry endpoints. An index that does not know the route (a standalone
   * registry) means no token, and the registry host itself.
   */
  private async handshake(signal?: AbortSignal): Promise<V1Session> {
    const basic = await this.basic();
    const response = await this.transport.send(
      new URL(`https://${this.indexHost}/v1/repositories/${this.repository}/images`),
      {
        headers: { 'x-docker-token': 'true', ...(basic && { authorization: basic }) },
        ...(signal && { signal }),
      },
    );
    if (response.statusCode === 404) {
      await response.body.dump();
      return { endpoints: [this.indexHost] };
    }
    if (response.statusCode !== 200)
      throw await responseError(response, `v1 index ${this.indexHost}: repository ${this.repository}`);
    await response.body.dump();
    const token = header(response.headers, 'x-docker-token');
    return {
      ...(token && { token }),
      endpoints: endpointList(header(response.headers, 'x-docker-endpoints'), this.indexHost),
    };
  }

  private async basic(): Promise<string | undefined> {
    const credentials = await this.credentials();
    if (!credentials || !('username' in credentials)) return undefined;
    return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
  }
}

/** `X-Docker-Endpoints: host[:port][, host2]`: each must be a plain host; none given means the index host. */
function endpointList(value: string | undefined, fallback: string): string[] {
  if (value === undefined || value.trim() === '') return [fallback];
  return value.split(',').map((entry) => {
    const host = entry.trim();
    if (!HOST_PORT.test(host))
      throw new FrozenError('protocol', `malformed X-Docker-Endpoints entry "${host.slice(0, 80)}"`);
    return host;
  });
}

function imageId(value: unknown, what: string): string {
  if (typeof value !== 'string' || !isV1ImageId(value))
    throw new FrozenError('protocol', `${what}: not a 64-hex image ID`);
  return value;
}

function sizeValue(value: string | undefined, what: string): number {
  const size = Number(value);
  if (value === undefined || !/^\d+$/.test(value.trim()) || !Number.isSafeInteger(size))
    throw new FrozenError('protocol', `${what}: malformed size`);
  return size;
}
