/**
 * The download-frozen-image-v2 directory as an output writer: verified files placed and manifest.json merged, all at
 * once or not at all.
 */
import { mkdir, mkdtemp, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { Digest } from '../digest.js';
import { abortedError, FrozenError } from '../errors.js';
import { acquireLock } from '../util/file-lock.js';
import { removeOrphans } from '../util/process.js';
import {
  addRepositoryTag,
  LAYER_VERSION,
  layerIds,
  layerSourcesField,
  mergeManifestEntries,
  parseManifestJson,
  parseRepositories,
  printManifestJson,
  printRepositories,
  starterLayerJson,
  topLayerJson,
  type ManifestEntry,
  type Repositories,
} from './docker-format.js';
import { makeDirectory } from '../util/make-directory.js';
import { exists } from '../util/files.js';
import { allSettledOrThrow } from '../util/settle.js';
import { LayerLinks } from './layer-links.js';
import { StagedChanges, type PreparedFolder } from './staged-changes.js';
import type { ExistingFiles, OutputWriter, StagedImage } from './writer.js';

/** How a directory is written. */
export interface DirectoryOptions {
  /** Copy blobs into the directory instead of hard-linking them. */
  readonly copy?: boolean;
}

const MANIFEST_JSON = 'manifest.json';
const COMMIT_LOCK = '.frozen-commit.lock';
const REPOSITORIES = 'repositories';

/**
 * A download-frozen-image-v2 directory. `commit` places every verified blob (hard link from the cache, or a copy)
 * and writes `manifest.json` last, so the manifest never names a file that is missing or unverified. The
 * staging folder inside it holds temporary files (and the cache, with `--no-cache`); `discard` leaves the
 * directory as it was.
 */
export class DockerDirectory implements OutputWriter {
  readonly format = 'dir';
  readonly keepsZstd = false;

  /** Layer folders made ahead in staging, by layer ID (see `prepare`); undefined where none was made. */
  private readonly prepared = new Map<string, Promise<PreparedFolder | undefined>>();
  private readonly preparing = pLimit(FOLDERS_PREPARED_AT_ONCE);
  /**
   * Set once the commit begins, or the run gives up: then nothing more is prepared (a folder not begun by then is
   * made by the commit, which would otherwise wait for it: all of them, in a pull that found every blob cached).
   */
  private finished = false;

  private constructor(
    readonly root: string,
    readonly staging: string,
    private readonly createdRoot: boolean,
    private readonly options: DirectoryOptions,
  ) {}

  static async open(root: string, options: DirectoryOptions = {}): Promise<DockerDirectory> {
    const existing = await stat(root).catch(() => undefined);
    if (existing && !existing.isDirectory()) {
      throw new FrozenError(
        'output',
        `cannot write to ${root}: it exists and is not a directory (format: 'tar' writes a file)`,
      );
    }
    const existed = existing !== undefined;
    try {
      await makeDirectory(root);
      await removeOrphans(root, STAGING_PREFIX);
      const staging = await mkdtemp(join(root, `${STAGING_PREFIX}${process.pid}-`));
      return new DockerDirectory(root, staging, !existed, options);
    } catch (error) {
      throw new FrozenError('output', `cannot write to ${root}: ${(error as Error).message}`, { cause: error });
    }
  }

  get output(): string {
    return this.root;
  }

  /**
   * Where an image's config and layers live once committed: `<root>/<hex>.json`, `<root>/<layerId>/layer.tar`. A
   * directory this run made holds none of them: nothing is named, and no blob is looked for there.
   */
  existing(config: Digest, layers: readonly Digest[]): ExistingFiles {
    if (this.createdRoot && !this.finished) return { layers: layers.map(() => undefined) };
    const ids = layerIds(layers.map((layer) => layer.value));
    return {
      config: join(this.root, `${config.hex}.json`),
      layers: ids.map((id) => join(this.root, id, 'layer.tar')),
    };
  }

  /**
   * Makes ahead, in staging, the folders of these layers that the directory does not hold, each with its VERSION and
   * the json the script starts a layer with, while the blobs download: on a disk where each file made costs a
   * fraction of a millisecond, making them took most of the commit (60 ms for 40 layers). The commit takes those
   * still new then; the top layer's json, which needs the config, it writes itself. A failure here only leaves the
   * commit to make the folder.
   */
  prepare(layers: readonly Digest[]): void {
    const ids = layerIds(layers.map((layer) => layer.value));
    ids.forEach((id, index) => {
      if (this.prepared.has(id)) return;
      const parent = index > 0 ? ids[index - 1]! : '';
      const made = this.preparing(() => this.prepareFolder(id, parent)).catch(() => undefined);
      this.prepared.set(id, made);
    });
  }

  private async prepareFolder(id: string, parent: string): Promise<PreparedFolder | undefined> {
    if (this.finished || (await exists(join(this.root, id)))) return undefined;
    const path = join(this.staging, `prepared-${id}`);
    await mkdir(path);
    await Promise.all([
      writeFile(join(path, 'VERSION'), LAYER_VERSION),
      writeFile(join(path, 'json'), starterLayerJson(id, parent)),
    ]);
    return { path, files: ['VERSION', 'json'] };
  }

  write(images: readonly StagedImage[], signal?: AbortSignal): Promise<void> {
    return this.commit(images, signal);
  }

  /** `signal` can stop the wait for another run's commit; once this one has begun, it finishes. */
  async commit(images: readonly StagedImage[], signal?: AbortSignal): Promise<void> {
    this.finished = true;
    try {
      // Runs writing into one directory at once each merge into manifest.json and repositories: one at a time, or
      // the last to write would drop the others' entries.
      const release = await acquireLock(join(this.root, COMMIT_LOCK), signal ? { signal } : {}).catch(
        (error: unknown) => {
          throw signal?.aborted ? abortedError(signal, error) : error;
        },
      );
      try {
        await this.commitFiles(images);
      } finally {
        await release();
      }
    } catch (error) {
      if (error instanceof FrozenError) throw error;
      throw new FrozenError('output', `cannot write to ${this.root}: ${(error as Error).message}`, { cause: error });
    }
  }

  private async commitFiles(images: readonly StagedImage[]): Promise<void> {
    // Read the existing files first: if they are unreadable, fail before anything changes.
    const existingEntries = await this.readExisting(MANIFEST_JSON, parseManifestJson, []);
    const repositories = await this.readExisting(REPOSITORIES, parseRepositories, new Map() as Repositories);
    const changes = new StagedChanges(this.root, this.staging);
    const links = await LayerLinks.of(this.root, this.createdRoot);
    const entries: ManifestEntry[] = [];
    for (const image of images) {
      const ids = await this.placeImage(image, changes, links);
      entries.push({
        Config: `${image.config.digest.hex}.json`,
        RepoTags: image.tag ? [`${image.tag.name}:${image.tag.tag}`] : [],
        Layers: ids.map((id) => `${id}/layer.tar`),
        ...layerSourcesField(image.layers),
      });
      const top = ids.at(-1);
      if (image.tag && top) addRepositoryTag(repositories, image.tag.name, image.tag.tag, top);
    }
    await changes.write(REPOSITORIES, printRepositories(repositories));
    await changes.write(MANIFEST_JSON, printManifestJson(mergeManifestEntries(existingEntries, entries)));
    await changes.apply();
    await this.removeStaging();
  }

  /** Removes the staging area, and the directory itself if this run created it and it is empty. */
  async discard(): Promise<void> {
    await this.removeStaging();
    if (this.createdRoot) await rmdir(this.root).catch(() => undefined);
  }

  private async placeImage(image: StagedImage, changes: StagedChanges, links: LayerLinks): Promise<readonly string[]> {
    const copy = this.options.copy === true;
    await changes.place(`${image.config.digest.hex}.json`, image.config.path, copy);
    const ids = image.legacy?.ids ?? layerIds(image.layers.map((layer) => layer.digest.value));
    const layers = image.layers.map((layer, index) => ({ file: join(ids[index]!, 'layer.tar'), blob: layer.path }));
    const linked = copy ? [] : await links.assign(layers);
    // Layer IDs within one image are distinct, so its layers can be placed in parallel (images stay in order,
    // which keeps the script's rule for a json two images share); a few at a time, as each holds files open and
    // an image may have over a hundred layers (macOS allows a process 256 open files).
    const limit = pLimit(LAYERS_PLACED_AT_ONCE);
    await allSettledOrThrow(
      layers.map((_, index) => limit(() => this.placeLayer(image, ids, index, changes, linked[index] !== true))),
    );
    return ids;
  }

  private async placeLayer(
    image: StagedImage,
    ids: readonly string[],
    index: number,
    changes: StagedChanges,
    copy: boolean,
  ): Promise<void> {
    const id = ids[index]!;
    // A folder made ahead holds its VERSION and starter json already.
    const prepared = await changes.folder(id, image.legacy ? undefined : await this.prepared.get(id));
    const top = index === ids.length - 1;
    const parent = index > 0 ? ids[index - 1]! : '';
    // The script writes a layer's json only when missing or empty, except the top layer's, always; the v1 script
    // always writes the registry's.
    const json = image.legacy
      ? image.legacy.json[index]!
      : top
        ? topLayerJson(id, parent, image.config.text)
        : prepared || (await changes.hasContent(join(id, 'json')))
          ? undefined
          : starterLayerJson(id, parent);
    await allSettledOrThrow([
      prepared ? Promise.resolve() : changes.write(join(id, 'VERSION'), LAYER_VERSION),
      json === undefined ? Promise.resolve() : changes.write(join(id, 'json'), json),
      changes.place(join(id, 'layer.tar'), image.layers[index]!.path, copy),
    ]);
  }

  /** Removes the staging folder, once no folder is being prepared in it any more. */
  private async removeStaging(): Promise<void> {
    this.finished = true;
    await Promise.all(this.prepared.values());
    await rm(this.staging, { recursive: true, force: true });
  }

  private async readExisting<T>(name: string, parse: (text: string) => T, empty: T): Promise<T> {
    let text: string;
    try {
      text = await readFile(join(this.root, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return empty;
      throw new FrozenError('output', `cannot read ${join(this.root, name)}: ${(error as Error).message}`);
    }
    try {
      return parse(text);
    } catch (error) {
      throw new FrozenError(
        'output',
        `${join(this.root, name)} exists but is not valid (${(error as Error).message}); refusing to overwrite it`,
      );
    }
  }
}

const STAGING_PREFIX = '.frozen-staging-';
const LAYERS_PLACED_AT_ONCE = 8;
/** Folders `prepare` makes at once: few, so that the blobs' own file work is not kept waiting behind them. */
const FOLDERS_PREPARED_AT_ONCE = 2;
