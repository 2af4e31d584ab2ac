import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MockAgent } from 'undici';
import { RegistrySession, type RegistryOptions } from '../../src/registry/session.js';
import type { Blob, BuiltImage } from './images.js';

/**
 * Registry endpoints (a registry and its mirrors) behind one undici MockAgent, for unit tests of registry/: each
 * serves manifests by tag and digest and blobs by digest, as Distribution answers them (HEAD with the GET's
 * headers, `Docker-Content-Digest` on manifests), and can be made to fail or to serve other bytes. Every request
 * is recorded.
 */
export interface MockEndpoint {
  readonly origin: string;
  serveManifest(repository: string, tag: string | undefined, manifest: Blob): void;
  serveImage(repository: string, tag: string | undefined, image: BuiltImage): void;
  /** Answer every request with this status from now on (undefined: serve again). */
  failWith(status: number | undefined): void;
  /** Serve these bytes for any manifest GET, with the honest digest header of the real ones. */
  tamperManifests(bytes: Buffer | undefined): void;
}

export interface MockEndpoints {
  readonly agent: MockAgent;
  readonly requests: { origin: string; method: string; path: string }[];
  endpoint(origin: string): MockEndpoint;
  /** A session over the agent, reading no credential or config file of this machine. */
  session(options?: RegistryOptions): Promise<RegistrySession>;
}

export function mockEndpoints(): MockEndpoints {
  const agent = new MockAgent();
  agent.disableNetConnect();
  const requests: MockEndpoints['requests'] = [];
  return {
    agent,
    requests,
    endpoint: (origin) => mockEndpoint(agent, origin, requests),
    async session(options = {}) {
      const dir = await mkdtemp(join(tmpdir(), 'frozen-mock-endpoints-'));
      await writeFile(join(dir, 'auth.json'), '{}');
      await writeFile(join(dir, 'config.json'), '{}');
      return RegistrySession.open({
        dispatcher: agent,
        authfile: join(dir, 'auth.json'),
        configFile: join(dir, 'config.json'),
        daemonConfig: false,
        retries: 1,
        retryDelayMs: 1,
        ...options,
      });
    },
  };
}

function mockEndpoint(agent: MockAgent, origin: string, requests: MockEndpoints['requests']): MockEndpoint {
  const manifests = new Map<string, Blob>();
  const blobs = new Map<string, Buffer>();
  let failure: number | undefined;
  let tampered: Buffer | undefined;
  const answer = (method: string, path: string) => {
    requests.push({ origin, method, path });
    if (failure !== undefined) return { statusCode: failure, data: '' };
    const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(path);
    if (manifest) {
      const served = manifests.get(`${manifest[1]}:${manifest[2]}`);
      if (!served) return { statusCode: 404, data: '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}' };
      const headers = { 'content-type': served.mediaType, 'docker-content-digest': served.digest };
      return {
        statusCode: 200,
        data: method === 'HEAD' ? '' : (tampered ?? served.bytes),
        responseOptions: { headers },
      };
    }
    const blob = /^\/v2\/.+\/blobs\/(.+)$/.exec(path);
    const bytes = blob && blobs.get(blob[1]!);
    if (!bytes) return { statusCode: 404, data: '{"errors":[{"code":"BLOB_UNKNOWN"}]}' };
    const headers = { 'content-length': String(bytes.length) };
    return { statusCode: 200, data: method === 'HEAD' ? '' : bytes, responseOptions: { headers } };
  };
  for (const method of ['GET', 'HEAD']) {
    agent
      .get(origin)
      .intercept({ path: /^\/v2\//, method })
      .reply((opts) => answer(method, opts.path))
      .persist();
  }
  return {
    origin,
    serveManifest(repository, tag, manifest) {
      if (tag !== undefined) manifests.set(`${repository}:${tag}`, manifest);
      manifests.set(`${repository}:${manifest.digest}`, manifest);
    },
    serveImage(repository, tag, image) {
      this.serveManifest(repository, tag, image.manifest);
      for (const b of [image.config, ...image.layers]) blobs.set(b.digest, b.bytes);
    },
    failWith(status) {
      failure = status;
    },
    tamperManifests(bytes) {
      tampered = bytes;
    },
  };
}
