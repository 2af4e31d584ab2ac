/** The OCI image layout output (with the manifest.json docker load reads), as a directory or one tar, and its writer. */
import { randomBytes } from 'node:crypto';
import { readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import type { Digest } from '../digest.js';
import { FrozenError } from '../errors.js';
import { layerSourcesField, mergeManifestEntries, printManifestJson, type ManifestEntry } from './docker-format.js';
import { makeDirectory } from '../util/make-directory.js';
import { assertWritableFolder, exists, linkOrCopy } from '../util/files.js';
import { openScratch } from '../util/scratch.js';
import {
  nothingExisting,
  type ExistingFiles,
  type KeptReferrer,
  type OutputWriter,
  type StagedImage,
} from './writer.js';

/**
 * An OCI image layout (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) plus the `manifest.json` that `docker load`
 * reads, the way `docker save` writes since Docker 25. It is built beside the target and renamed into place, so a
 * layout is whole or absent; the target must not exist or be empty.
 */
export async function writeOciLayout(
  root: string,
  images: readonly StagedImage[],
  options: { copy: boolean },
): Promise<void> {
  await assertFreshLayout(root);
  const building = join(dirname(root), `.frozen-oci-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await makeDirectory(join(building, 'blobs'));
    await writeFile(join(building, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
    const index = new Map<string, object>();
    const entries: ManifestEntry[] = [];
    for (const image of images) {
      // Listed once each: an index several platforms share, a referrer two images share.
      for (const [key, entry] of await placeImage(building, image, options.copy))
        if (!index.has(key)) index.set(key, entry);
      const tagged = image.tag && (!image.index || image.index.primary);
      entries.push({
        Config: blobPath(image.config.digest),
        RepoTags: tagged ? [`${image.tag.name}:${image.tag.tag}`] : [],
        Layers: image.layers.map((layer) => blobPath(layer.digest)),
        ...layerSourcesField(image.layers),
      });
    }
    await writeFile(
      join(building, 'index.json'),
      `${JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [...index.values()] })}\n`,
    );
    await writeFile(join(building, 'manifest.json'), printManifestJson(mergeManifestEntries([], entries)));
    await rmdir(root).catch(() => undefined);
    await rename(building, root);
  } catch (error) {
    await rm(building, { recursive: true, force: true });
    if (error instanceof FrozenError) throw error;
    throw new FrozenError('output', `cannot write ${root}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Places an image's blobs (with its index's and referrers') in the layout, and gives index.json's entries for it,
 * each with the key that says when two images share one. Several platforms of one reference are listed as their
 * index (a sparse one, when some platforms were not pulled); an image alone as itself.
 */
async function placeImage(root: string, image: StagedImage, copy: boolean): Promise<[string, object][]> {
  const place = (digest: Digest, from: string) => placeBlob(root, digest, from, copy);
  const manifest = keptManifest(image);
  await place(manifest.digest, manifest.path);
  await place(image.config.digest, image.config.path);
  for (const layer of image.layers) await place(layer.digest, layer.path);
  if (image.index) {
    await place(image.index.digest, image.index.path);
    for (const other of image.index.others) await place(other.digest, other.path);
  }
  const listed = image.index ?? manifest;
  const entries: [string, object][] = [[`${listed.digest.value} ${image.canonical}`, await indexEntry(listed, image)]];
  for (const referrer of image.referrers ?? []) {
    await place(referrer.digest, referrer.path);
    for (const blob of referrer.blobs) await place(blob.digest, blob.path);
    entries.push([`${referrer.digest.value} ${image.canonical}`, referrerEntry(referrer)]);
  }
  return entries;
}

function keptManifest(image: StagedImage): NonNullable<StagedImage['manifest']> {
  if (!image.manifest)
    throw new FrozenError(
      'output',
      `format: 'oci' needs the manifest of ${image.canonical}, and it is not in the cache`,
    );
  return image.manifest;
}

/** index.json's entry for an image manifest or index, with the name annotations containerd and docker read. */
async function indexEntry(
  manifest: { readonly digest: Digest; readonly mediaType: string; readonly path: string },
  image: StagedImage,
): Promise<object> {
  const ref = image.tag
    ? { 'io.containerd.image.name': image.canonical, 'org.opencontainers.image.ref.name': image.tag.tag }
    : undefined;
  const size = (await stat(manifest.path)).size;
  return { mediaType: manifest.mediaType, digest: manifest.digest.value, size, ...(ref && { annotations: ref }) };
}

/** cosign's `kind` annotation in the layouts `cosign save` writes (pkg/oci/layout), by tag suffix. */
const COSIGN_KINDS: Readonly<Record<string, string>> = {
  sig: 'dev.cosignproject.cosign/sigs',
  att: 'dev.cosignproject.cosign/atts',
  sbom: 'dev.cosignproject.cosign/sboms',
};

/**
 * index.json's entry for a referrer. A cosign artifact is marked as `cosign save` marks it (`kind`), which `cosign
 * verify --local-image` reads; it gets no image name, or containerd's importer would make it an image and fail to
 * unpack its payloads. An OCI referrer is found by its `subject`, and listed as the referrers API lists it.
 */
function referrerEntry(referrer: KeptReferrer): object {
  const kind = referrer.tag && COSIGN_KINDS[referrer.tag.slice(referrer.tag.lastIndexOf('.') + 1)];
  const annotations = { ...referrer.annotations, ...(kind && { kind }) };
  return {
    mediaType: referrer.mediaType,
    digest: referrer.digest.value,
    size: referrer.size,
    ...(referrer.artifactType && { artifactType: referrer.artifactType }),
    ...(Object.keys(annotations).length > 0 && { annotations }),
  };
}

function blobPath(digest: Digest): string {
  return `blobs/${digest.algorithm}/${digest.hex}`;
}

async function placeBlob(root: string, digest: Digest, from: string, copy: boolean): Promise<void> {
  const target = join(root, blobPath(digest));
  if (await exists(target)) return;
  await makeDirectory(dirname(target));
  await linkOrCopy(from, target, copy);
}

/**
 * A layout is written only where nothing is: `root` is absent or an empty directory, in a folder that can be
 * written. Checked before any download too.
 */
export async function assertFreshLayout(root: string): Promise<void> {
  const entries = await readdir(root).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    if (error.code === 'ENOTDIR')
      throw new FrozenError('output', `${root} exists and is not a directory: format: 'oci' writes a new layout`);
    throw new FrozenError('output', `cannot read ${root}: ${error.message}`, { cause: error });
  });
  if (entries.length > 0) throw new FrozenError('output', `${root} is not empty: format: 'oci' writes a new layout`);
  await assertWritableFolder(dirname(root), root); // the layout is built beside it
}

/**
 * The OCI writer: nothing is written until the images are verified, then the layout is built beside its target and
 * renamed into place. Its staging folder is a scratch folder (beside the cache, so blobs are linked, not copied).
 */
export class OciWriter implements OutputWriter {
  readonly format = 'oci';
  /** Every reader of OCI layouts knows zstd. */
  readonly keepsZstd = true;

  private constructor(
    private readonly target: string | Writable,
    private readonly scratch: string,
    private readonly options: { readonly copy: boolean },
  ) {}

  /**
   * Checks that a layout (or, for a stream or a path ending in `.tar`, a tar of one) can be written at `target`
   * before any download, and makes the scratch folder.
   */
  static async open(
    target: string | Writable,
    scratchRoot: () => Promise<string>,
    options: { readonly copy: boolean },
  ): Promise<OciWriter> {
    if (typeof target === 'string' && isTarPath(target)) await (await tarModule()).assertTarTarget(target);
    else if (typeof target === 'string') await assertFreshLayout(target);
    const scratch = await openScratch(await scratchRoot());
    try {
      await makeDirectory(join(scratch, 'staging'));
    } catch (error) {
      await rm(scratch, { recursive: true, force: true });
      throw error;
    }
    return new OciWriter(target, scratch, options);
  }

  get output(): string {
    return typeof this.target === 'string' ? this.target : '-';
  }

  get staging(): string {
    return join(this.scratch, 'staging');
  }

  existing(_config: Digest, layers: readonly Digest[]): ExistingFiles {
    return nothingExisting(layers);
  }

  async write(images: readonly StagedImage[]): Promise<void> {
    try {
      if (typeof this.target === 'string' && !isTarPath(this.target)) {
        await writeOciLayout(this.target, images, this.options);
        return;
      }
      // A tar of the layout: built in the scratch folder (blobs linked from the cache), then packed.
      const layout = join(this.scratch, 'layout');
      await writeOciLayout(layout, images, this.options);
      await (await tarModule()).packTo(layout, this.target);
    } finally {
      await rm(this.scratch, { recursive: true, force: true });
    }
  }

  async discard(): Promise<void> {
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/** tar.ts, loaded only for a tar: tar-stream costs layout pulls start-up time for nothing. */
function tarModule(): Promise<typeof import('./tar.js')> {
  return import('./tar.js');
}

/** `-o images.tar` with `format: 'oci'` asks for the layout as one tar (what `docker save` writes since Docker 25). */
export function isTarPath(path: string): boolean {
  return path.endsWith('.tar');
}
