import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { layerIds } from '../../src/layout/docker-format.js';
import { runCli } from '../support/cli.js';
import { HTPASSWD_LINE, HTPASSWD_PASSWORD, HTPASSWD_USER } from '../support/htpasswd.js';
import { foreignLayer, image, layer, pushBlob, pushManifest, type BuiltImage, type Layer } from '../support/images.js';
import { loadWithSkopeo } from '../support/load.js';
import { startRegistry, type RunningRegistry } from '../support/registry.js';

const tempDir = () => mkdtemp(join(tmpdir(), 'frozen-foreign-'));
const creds = `${HTPASSWD_USER}:${HTPASSWD_PASSWORD}`;
const target = (registry: RunningRegistry) => ({
  url: registry.url,
  authorization: `Basic ${Buffer.from(creds).toString('base64')}`,
});

/** The place a foreign layer's `urls` point to: serves fixed bytes under any path and records what it was asked. */
interface LayerServer {
  readonly base: string;
  readonly requests: { path: string; authorization?: string }[];
  close(): Promise<void>;
}

async function serveBytes(bodies: Record<string, Buffer>): Promise<LayerServer> {
  const requests: LayerServer['requests'] = [];
  const server: Server = createServer((request, response) => {
    requests.push({
      path: request.url ?? '',
      ...(request.headers.authorization && { authorization: request.headers.authorization }),
    });
    const body = bodies[request.url ?? ''];
    response.writeHead(body ? 200 : 404).end(body ?? 'not here');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * Windows base images name their big layers as foreign layers: the manifest lists `urls` and registries do not
 * hold the blob. frozen asks the registry first (a mirror may hold it), then the urls, without the registry's
 * credentials, and verifies the bytes as it does every blob's.
 */
describe('foreign layers', () => {
  let registry: RunningRegistry;
  let server: LayerServer;
  let base: Layer;
  let top: Layer;
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: HTPASSWD_LINE, allowUrls: '^http://127\\.0\\.0\\.1:' });
    base = await layer([{ type: 'file', name: 'Files/base.txt', content: 'a foreign base layer\n' }]);
    top = await layer([{ type: 'file', name: 'Files/app.txt', content: 'the app\n' }]);
    const corrupt = Buffer.from(base.bytes);
    corrupt[20] = corrupt[20]! ^ 0xff; // same size, other bytes
    server = await serveBytes({ '/base.tar.gz': base.bytes, '/wrong.tar.gz': corrupt });
  });
  afterAll(async () => {
    await server?.close();
    await registry?.stop();
  });

  /** Pushes an image whose first layer is `base` as a foreign layer with these urls; `base` itself is not pushed. */
  async function pushForeign(repository: string, urls: string[]): Promise<BuiltImage> {
    const img = image({ layers: [foreignLayer(base, urls), top] });
    for (const blob of [img.config, top]) await pushBlob(target(registry), repository, blob);
    await pushManifest(target(registry), repository, '1', img.manifest);
    return img;
  }

  test('a layer the registry does not hold comes from its urls in turn, with no credentials sent there, verified and loadable', async () => {
    const img = await pushForeign('win/app', [`${server.base}/gone.tar.gz`, `${server.base}/base.tar.gz`]);
    const output = await tempDir();
    const result = await runCli(['pull', '-o', output, '--creds', creds, `${registry.host}/win/app:1`]);
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('error');
    // The registry is asked first (a mirror of it may hold the layer), then each url; each move is reported.
    expect(result.stderr.split('\n').filter((line) => line.startsWith('fall'))).toEqual([
      expect.stringMatching(
        new RegExp(`^fall {3}[0-9a-f]{12}: ${registry.host} failed \\(blob ${base.digest}: not found`),
      ),
      expect.stringMatching(
        new RegExp(
          `^fall {3}[0-9a-f]{12}: ${server.base.slice('http://'.length)} failed \\(blob ${base.digest}: ${server.base}/gone\\.tar\\.gz: not found\\)`,
        ),
      ),
    ]);
    expect(server.requests).toEqual([{ path: '/gone.tar.gz' }, { path: '/base.tar.gz' }]);
    expect(result.stdout).toContain(`blobs: ${registry.host} (2), ${server.base.slice('http://'.length)} (1)`);
    const [baseId] = layerIds(img.layers.map((l) => l.digest));
    expect(await readFile(join(output, baseId!, 'layer.tar'))).toEqual(base.bytes);
    expect(await layerSources(output)).toEqual(
      expectedSources([`${server.base}/gone.tar.gz`, `${server.base}/base.tar.gz`]),
    );
    expect((await loadWithSkopeo(output)).imageId).toBe(img.config.digest);
  });

  /** `LayerSources` of manifest.json's only entry. */
  async function layerSources(dir: string): Promise<unknown> {
    const entries = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { LayerSources?: unknown }[];
    expect(entries).toHaveLength(1);
    return entries[0]!.LayerSources;
  }

  /** What `docker save` writes for the base layer (keyed by its diff ID, in Go's field order); nothing for the other. */
  function expectedSources(urls: string[]) {
    return {
      [base.diffId]: {
        mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
        size: base.size,
        digest: base.digest,
        urls,
      },
    };
  }

  test('the foreign layer is described in LayerSources, as docker save does: directory, OCI layout, and offline from a lock file', async () => {
    const urls = [`${server.base}/base.tar.gz`];
    await pushForeign('win/sources', urls);
    const dir = await tempDir();
    const cache = join(dir, 'cache');
    const ref = `${registry.host}/win/sources:1`;
    const lockFile = join(dir, 'frozen.lock.json');
    expect((await runCli(['lock', '-o', lockFile, '--creds', creds, ref])).code).toBe(0);
    const locked = JSON.parse(await readFile(lockFile, 'utf8')) as { images: { layers: { urls?: string[] }[] }[] };
    expect(locked.images[0]!.layers.map((l) => l.urls)).toEqual([urls, undefined]);

    const online = join(dir, 'online');
    expect((await runCli(['pull', '-q', '--cache', cache, '-o', online, '--creds', creds, ref])).code).toBe(0);
    const printed = await readFile(join(online, 'manifest.json'), 'utf8');
    expect(printed).toContain(
      `"LayerSources": {\n      "${base.diffId}": {\n        "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",\n        "size": ${base.size},\n        "digest": "${base.digest}",\n        "urls": [`,
    );
    expect(await layerSources(online)).toEqual(expectedSources(urls));

    const offline = join(dir, 'offline');
    expect((await runCli(['pull', '-q', '--offline', '--cache', cache, '--lock', lockFile, '-o', offline])).code).toBe(
      0,
    );
    expect(await readFile(join(offline, 'manifest.json'), 'utf8')).toBe(printed);

    const oci = join(dir, 'oci');
    expect(
      (await runCli(['pull', '-q', '--format', 'oci', '--cache', cache, '-o', oci, '--creds', creds, ref])).code,
    ).toBe(0);
    expect(await layerSources(oci)).toEqual(expectedSources(urls));
    expect((await runCli(['verify', online, oci])).code).toBe(0);
  });

  test('bytes from a url that do not match the digest: an integrity error, nothing written', async () => {
    await pushForeign('win/wrong', [`${server.base}/wrong.tar.gz`]);
    const output = join(await tempDir(), 'out');
    const result = await runCli(['pull', '-q', '-o', output, '--creds', creds, `${registry.host}/win/wrong:1`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`^frozen: error: .*win/wrong:1: blob ${base.digest}: digest or size mismatch`),
    );
    expect(existsSync(output)).toBe(false);
  });

  test('a url that answers 404: the error names it', async () => {
    await pushForeign('win/gone', [`${server.base}/gone.tar.gz`]);
    const result = await runCli([
      'pull',
      '-q',
      '-o',
      join(await tempDir(), 'out'),
      '--creds',
      creds,
      `${registry.host}/win/gone:1`,
    ]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`blob ${base.digest}: ${server.base}/gone.tar.gz: not found`);
  });
});
