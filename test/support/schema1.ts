import { blob, layer, sha256, type Blob, type Layer } from './images.js';

/** Schema1 test images (Distribution 2.8 no longer takes schema1 pushes, so tests serve them from memory). */
export interface Schema1Fixture {
  readonly base: Layer;
  readonly top: Layer;
  readonly empty: Layer;
  readonly unsigned: Blob;
  readonly signed: Blob;
}

export async function schema1Fixture(): Promise<Schema1Fixture> {
  const base = await layer([{ type: 'file', name: 'base', content: 'base\n' }]);
  const top = await layer([{ type: 'file', name: 'top', content: 'top\n' }]);
  const empty = await layer([]);
  const body = schema1Body(base, top, empty);
  return {
    base,
    top,
    empty,
    unsigned: blob(Buffer.from(JSON.stringify(body)), 'application/vnd.docker.distribution.manifest.v1+json'),
    signed: signed(body),
  };
}

/** A schema1 manifest: fsLayers and history top first; the middle entry is an empty ("throwaway") layer. */
function schema1Body(base: Layer, top: Layer, empty: Layer) {
  const entry = (fields: object) => ({ v1Compatibility: JSON.stringify(fields) });
  return {
    schemaVersion: 1,
    name: 'old/app',
    tag: '1',
    architecture: 'amd64',
    fsLayers: [{ blobSum: top.digest }, { blobSum: empty.digest }, { blobSum: base.digest }],
    history: [
      entry({
        id: 'c'.repeat(64),
        parent: 'b'.repeat(64),
        created: '2016-01-03T00:00:00Z',
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: ['sh'] },
        container_config: { Cmd: ['/bin/sh', '-c', 'echo top > /top'] },
      }),
      entry({
        id: 'b'.repeat(64),
        parent: 'a'.repeat(64),
        created: '2016-01-02T00:00:00Z',
        throwaway: true,
        container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ENV A=1'] },
      }),
      entry({
        id: 'a'.repeat(64),
        created: '2016-01-01T00:00:00Z',
        container_config: { Cmd: ['/bin/sh', '-c', '#(nop) ADD file:base in /'] },
      }),
    ],
  };
}

/** The prettyjws form: the digest covers the payload, not the signatures appended to it. */
function signed(body: object): Blob {
  const payload = JSON.stringify(body, null, 3);
  const formatLength = payload.length - 2;
  const protectedHeader = Buffer.from(
    JSON.stringify({ formatLength, formatTail: Buffer.from(payload.slice(formatLength)).toString('base64url') }),
  ).toString('base64url');
  const bytes = Buffer.from(
    `${payload.slice(0, formatLength)},\n   "signatures": [{"header": {"alg": "ES256"}, "signature": "c2ln", "protected": "${protectedHeader}"}]\n}`,
  );
  return {
    bytes,
    digest: sha256(payload),
    size: bytes.length,
    mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  };
}
