import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PassThrough } from 'node:stream';
import { extract } from 'tar-stream';
import { describe, expect, test } from 'vitest';
import { parseDigest } from '../../src/digest.js';
import { DockerDirectory } from '../../src/layout/docker-dir.js';
import { layerIds } from '../../src/layout/docker-format.js';
import { OciWriter } from '../../src/layout/oci.js';
import { TarWriter } from '../../src/layout/tar-writer.js';
import type { OutputWriter, StagedImage } from '../../src/layout/writer.js';

/**
 * The three OutputWriters (layout/) on the same verified image: the files each writes and their bytes, what a
 * second write or a discard leaves, and the tar's determinism. What loaders make of these is proved by the
 * integration suites (skopeo, docker load, ctr import); the script's exact bytes by the moby-script comparison.
 */
const sha = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function stagedImage(): Promise<{ image: StagedImage; bytes: Record<string, Buffer> }> {
  const dir = await mkdtemp(join(tmpdir(), 'frozen-writers-blobs-'));
  const layerBytes = [randomBytes(1000), randomBytes(2000)];
  const configText = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: layerBytes.map(sha) },
  });
  const config = Buffer.from(configText);
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: sha(config) } }));
  const bytes: Record<string, Buffer> = { [sha(config)]: config, [sha(manifest)]: manifest };
  for (const layer of layerBytes) bytes[sha(layer)] = layer;
  for (const [digest, content] of Object.entries(bytes)) await writeFile(join(dir, digest.slice(7)), content);
  const path = (digest: string) => join(dir, digest.slice(7));
  const image: StagedImage = {
    tag: { name: 'team/app', tag: '1' },
    canonical: 'registry.test/team/app:1',
    config: { digest: parseDigest(sha(config)), text: configText, path: path(sha(config)) },
    layers: layerBytes.map((layer) => ({ digest: parseDigest(sha(layer)), path: path(sha(layer)) })),
    manifest: {
      digest: parseDigest(sha(manifest)),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      path: path(sha(manifest)),
    },
  };
  return { image, bytes };
}

/** Every file below `root`, by relative path, with its bytes. */
async function filesOf(root: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      files[relative(root, join(entry.parentPath, entry.name))] = await readFile(join(entry.parentPath, entry.name));
  }
  return files;
}

const scratchRoot = async () => mkdtemp(join(tmpdir(), 'frozen-writers-scratch-'));

describe('DockerDirectory', () => {
  test('writes the download-frozen-image directory: config, layers, VERSION and json per layer, manifest.json, repositories', async () => {
    const { image, bytes } = await stagedImage();
    const root = join(await mkdtemp(join(tmpdir(), 'frozen-writers-')), 'out');
    const writer: OutputWriter = await DockerDirectory.open(root);
    expect([writer.format, writer.output, writer.keepsZstd]).toEqual(['dir', root, false]);
    await writer.write([image]);
    const ids = layerIds(image.layers.map((layer) => layer.digest.value));
    const files = await filesOf(root);
    expect(Object.keys(files).sort()).toEqual(
      [
        `${image.config.digest.hex}.json`,
        'manifest.json',
        'repositories',
        ...ids.flatMap((id) => [`${id}/VERSION`, `${id}/json`, `${id}/layer.tar`]),
      ].sort(),
    );
    expect(files[`${image.config.digest.hex}.json`]).toEqual(bytes[image.config.digest.value]);
    ids.forEach((id, i) => {
      expect(files[`${id}/layer.tar`]).toEqual(bytes[image.layers[i]!.digest.value]);
      expect(files[`${id}/VERSION`]!.toString()).toBe('1.0\n');
    });
    expect(JSON.parse(files['manifest.json']!.toString())).toEqual([
      {
        Config: `${image.config.digest.hex}.json`,
        RepoTags: ['team/app:1'],
        Layers: ids.map((id) => `${id}/layer.tar`),
      },
    ]);
    expect(JSON.parse(files.repositories!.toString())).toEqual({ 'team/app': { '1': ids.at(-1) } });
    // What the directory holds is offered for reuse by the next pull.
    const existing = writer.existing(
      image.config.digest,
      image.layers.map((layer) => layer.digest),
    );
    expect(existing.config).toBe(join(root, `${image.config.digest.hex}.json`));
    expect(existing.layers).toEqual(ids.map((id) => join(root, id, 'layer.tar')));
  });

  test('discard leaves a directory it created absent, and one that existed as it was', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'frozen-writers-'));
    await (await DockerDirectory.open(join(parent, 'new'))).discard();
    expect(await readdir(parent)).toEqual([]);
    await mkdir(join(parent, 'old'));
    await writeFile(join(parent, 'old', 'keep'), 'x');
    await (await DockerDirectory.open(join(parent, 'old'))).discard();
    expect(await readdir(join(parent, 'old'))).toEqual(['keep']);
  });

  test('layer folders prepared while the blobs download: the same files and bytes as without, and a json already in the directory kept', async () => {
    const { image } = await stagedImage();
    const digests = image.layers.map((layer) => layer.digest);
    const plain = join(await mkdtemp(join(tmpdir(), 'frozen-writers-')), 'out');
    await (await DockerDirectory.open(plain)).write([image]);
    const prepared = join(await mkdtemp(join(tmpdir(), 'frozen-writers-')), 'out');
    const writer = await DockerDirectory.open(prepared);
    writer.prepare(digests);
    writer.prepare(digests); // asked twice (two images sharing layers): once is made
    await writer.write([image]);
    expect(await filesOf(prepared)).toEqual(await filesOf(plain));
    expect((await readdir(prepared)).filter((name) => name.startsWith('.'))).toEqual([]); // no staging left

    // Into the directory as written: the bottom layer's folder exists, with a json the script would not touch.
    const bottom = layerIds(digests.map((digest) => digest.value))[0]!;
    await writeFile(join(prepared, bottom, 'json'), '{"kept":true}');
    const again = await DockerDirectory.open(prepared);
    again.prepare(digests);
    await again.write([image]);
    expect(await readFile(join(prepared, bottom, 'json'), 'utf8')).toBe('{"kept":true}');
  });

  test('a discard while folders are being prepared waits for them, and leaves nothing', async () => {
    const { image } = await stagedImage();
    const parent = await mkdtemp(join(tmpdir(), 'frozen-writers-'));
    const writer = await DockerDirectory.open(join(parent, 'new'));
    writer.prepare(image.layers.map((layer) => layer.digest));
    await writer.discard();
    expect(await readdir(parent)).toEqual([]);
  });
});

describe('TarWriter', () => {
  async function tarEntries(tar: Buffer): Promise<Record<string, Buffer>> {
    const entries: Record<string, Buffer> = {};
    const reading = extract();
    reading.end(tar);
    for await (const entry of reading) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      if (entry.header.type === 'file') entries[entry.header.name] = Buffer.concat(chunks);
    }
    return entries;
  }

  test("a tar file holds exactly the directory writer's files and bytes, and is the same tar every time", async () => {
    const { image } = await stagedImage();
    const parent = await mkdtemp(join(tmpdir(), 'frozen-writers-'));
    const dirRoot = join(parent, 'dir');
    await (await DockerDirectory.open(dirRoot)).write([image]);
    const tars: Buffer[] = [];
    for (const name of ['a.tar', 'b.tar']) {
      const writer = await TarWriter.open(join(parent, name), scratchRoot, {});
      expect([writer.format, writer.output]).toEqual(['tar', join(parent, name)]);
      await writer.write([image]);
      tars.push(await readFile(join(parent, name)));
    }
    expect(tars[0]!.equals(tars[1]!)).toBe(true);
    expect(await tarEntries(tars[0]!)).toEqual(await filesOf(dirRoot));
    expect((await readdir(parent)).sort()).toEqual(['a.tar', 'b.tar', 'dir']); // no temporary file left
  });

  test('to a stream: the same tar, and the output is named -', async () => {
    const { image } = await stagedImage();
    const parent = await mkdtemp(join(tmpdir(), 'frozen-writers-'));
    const fileWriter = await TarWriter.open(join(parent, 'file.tar'), scratchRoot, {});
    await fileWriter.write([image]);
    const stream = new PassThrough();
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const writer = await TarWriter.open(stream, scratchRoot, {});
    expect(writer.output).toBe('-');
    await writer.write([image]);
    expect(Buffer.concat(chunks).equals(await readFile(join(parent, 'file.tar')))).toBe(true);
  });
});

describe('OciWriter', () => {
  test('writes oci-layout, index.json, every blob under its digest, and manifest.json; refuses a layout that is not empty', async () => {
    const { image, bytes } = await stagedImage();
    const root = join(await mkdtemp(join(tmpdir(), 'frozen-writers-')), 'oci');
    const writer = await OciWriter.open(root, scratchRoot, { copy: false });
    expect([writer.format, writer.keepsZstd]).toEqual(['oci', true]);
    await writer.write([image]);
    const files = await filesOf(root);
    const blobFiles = Object.keys(bytes).map((digest) => `blobs/sha256/${digest.slice(7)}`);
    expect(Object.keys(files).sort()).toEqual(['index.json', 'manifest.json', 'oci-layout', ...blobFiles].sort());
    for (const [digest, content] of Object.entries(bytes))
      expect(files[`blobs/sha256/${digest.slice(7)}`]).toEqual(content);
    expect(files['oci-layout']!.toString()).toBe('{"imageLayoutVersion":"1.0.0"}\n');
    expect(JSON.parse(files['index.json']!.toString())).toEqual({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        {
          mediaType: image.manifest!.mediaType,
          digest: image.manifest!.digest.value,
          size: bytes[image.manifest!.digest.value]!.length,
          annotations: {
            'io.containerd.image.name': 'registry.test/team/app:1',
            'org.opencontainers.image.ref.name': '1',
          },
        },
      ],
    });
    expect(JSON.parse(files['manifest.json']!.toString())).toEqual([
      {
        Config: `blobs/sha256/${image.config.digest.hex}`,
        RepoTags: ['team/app:1'],
        Layers: image.layers.map((layer) => `blobs/sha256/${layer.digest.hex}`),
      },
    ]);
    await expect(OciWriter.open(root, scratchRoot, { copy: false })).rejects.toMatchObject({
      kind: 'output',
      message: `${root} is not empty: format: 'oci' writes a new layout`, // the CLI says --format oci
    });
  });
});
