import { describe, expect, test } from 'vitest';
import { checkContainerImage, decodeManifest, MediaType, type Manifest } from '../../src/manifest/index.js';

const D = (c: string) => `sha256:${c.repeat(64)}`;
const config = { mediaType: MediaType.dockerConfig, digest: D('c'), size: 10 };
const layer = { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: D('1'), size: 5 };
const bytes = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('decodeManifest', () => {
  test('Docker schema2 by Content-Type', () => {
    const m = decodeManifest(
      bytes({ schemaVersion: 2, config, layers: [layer] }),
      `${MediaType.dockerManifest}; charset=utf-8`,
    );
    expect(m.kind).toBe('manifest');
    expect(m.mediaType).toBe(MediaType.dockerManifest);
  });

  test('body mediaType when Content-Type is generic', () => {
    const m = decodeManifest(
      bytes({ schemaVersion: 2, mediaType: MediaType.dockerList, manifests: [] }),
      'application/json',
    );
    expect(m).toEqual({ kind: 'index', mediaType: MediaType.dockerList, manifests: [] });
  });

  test('an OCI index without mediaType, by shape', () => {
    const body = {
      schemaVersion: 2,
      manifests: [{ digest: D('a'), size: 3, platform: { os: 'linux', architecture: 'amd64' } }],
    };
    const m = decodeManifest(bytes(body), undefined);
    expect(m.kind).toBe('index');
    expect(m.kind === 'index' && m.manifests[0]!.descriptor.digest.hex).toBe('a'.repeat(64));
  });

  test('an OCI manifest without mediaType, by shape, with OCI layer types', () => {
    const body = {
      schemaVersion: 2,
      config: { ...config, mediaType: MediaType.ociConfig },
      layers: [
        { ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar' },
        { ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' },
      ],
    };
    const m = decodeManifest(bytes(body), 'text/plain');
    expect(m.kind === 'manifest' && m.layers.length).toBe(2);
  });

  test('a foreign layer keeps the http(s) urls it lists; others (ftp, file, not URLs at all) are dropped', () => {
    const urls = [
      'https://cdn.example/layer',
      'ftp://cdn.example/layer',
      'file:///etc/passwd',
      'not a url',
      42,
      'http://mirror.example/layer',
    ];
    const foreign = { ...layer, mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', urls };
    const m = decodeManifest(
      bytes({ schemaVersion: 2, config, layers: [foreign, layer, { ...layer, urls: ['ftp://x/y'] }] }),
      MediaType.dockerManifest,
    );
    if (m.kind !== 'manifest') throw new Error('not a manifest');
    expect(m.layers[0]!.urls?.map((url) => url.href)).toEqual([
      'https://cdn.example/layer',
      'http://mirror.example/layer',
    ]);
    expect(m.layers[1]!.urls).toBeUndefined();
    expect(m.layers[2]!.urls).toBeUndefined();
  });

  test('an unknown layer type fails with its name', () => {
    const body = {
      schemaVersion: 2,
      config,
      layers: [{ ...layer, mediaType: 'application/vnd.oci.image.layer.v1.tar+bzip2' }],
    };
    expect(() => decodedImage(bytes(body), MediaType.dockerManifest)).toThrow(
      /application\/vnd\.oci\.image\.layer\.v1\.tar\+bzip2/,
    );
  });

  test('a non-image artifact is refused', () => {
    const body = {
      schemaVersion: 2,
      config: { ...config, mediaType: 'application/vnd.cncf.helm.config.v1+json' },
      layers: [],
    };
    expect(() => decodedImage(bytes(body), MediaType.ociManifest)).toThrow(/not a container image/);
  });

  test("an artifact (cosign's signature manifest) decodes, with its annotations, and is no container image", () => {
    const signatureLayer = {
      ...layer,
      mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ==' },
    };
    const body = { schemaVersion: 2, config: { ...config, mediaType: MediaType.ociConfig }, layers: [signatureLayer] };
    const decoded = decodeManifest(bytes(body), MediaType.ociManifest);
    if (decoded.kind !== 'manifest') throw new Error('not a manifest');
    expect(decoded.layers[0]!.annotations).toEqual(signatureLayer.annotations);
    expect(() => checkContainerImage(decoded)).toThrow(/unsupported layer media type .*simplesigning/);
  });

  test('descriptors are validated before any digest can name a file', () => {
    const traversal = { schemaVersion: 2, config: { ...config, digest: 'sha256:../../etc/passwd' }, layers: [] };
    expect(() => decodeManifest(bytes(traversal), MediaType.dockerManifest)).toThrow(/malformed digest/);
    const negative = { schemaVersion: 2, config: { ...config, size: -1 }, layers: [] };
    expect(() => decodeManifest(bytes(negative), MediaType.dockerManifest)).toThrow(/invalid size/);
  });

  test('schema1, non-JSON and non-manifests are refused with a reason', () => {
    expect(() => decodeManifest(bytes({ schemaVersion: 1, fsLayers: [] }), MediaType.dockerSchema1Signed)).toThrow(
      /schema1/,
    );
    expect(() => decodeManifest(Buffer.from('<html>'), 'text/html')).toThrow(/not valid JSON/);
    expect(() => decodeManifest(bytes({ hello: 1 }), 'application/json')).toThrow(/not an image manifest/);
  });
});

/** A manifest decoded and checked as a pull checks the image it resolves to. */
function decodedImage(body: Uint8Array, contentType: string): Manifest {
  const manifest = decodeManifest(body, contentType);
  if (manifest.kind === 'manifest') checkContainerImage(manifest);
  return manifest;
}
