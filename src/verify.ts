/**
 * Proves a docker-archive (a directory or a tar) loadable without a daemon, the way `docker load` checks it:
 * manifest.json names a config and layers that exist; each config is JSON whose `rootfs.diff_ids` match the layers
 * one to one; each layer, decompressed, hashes to its diff ID; every RepoTag is `name:tag`.
 */
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { posix, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { FrozenError, throwIfAborted } from './errors.js';
import { diffIdOf } from './transfer/decompress.js';
import { parseReference } from './reference/index.js';
import { counted } from './util/counted.js';
import { hardLinkedByInode, inodeKey, isWithin } from './util/files.js';

/** One reason an archive would not load: what is wrong, and where. */
export interface VerifyProblem {
  /** The manifest.json entry: its first RepoTag, or `entry N`. */
  readonly image: string;
  readonly message: string;
}

/** What `verifyArchive` found. */
export interface VerifyResult {
  readonly images: number;
  readonly layers: number;
  readonly problems: readonly VerifyProblem[];
  /** What `docker load` accepts but other loaders do not: configs and layers that are (or `tar -c` makes) hard links. */
  readonly warnings: readonly VerifyProblem[];
}

/** What verify needs from an archive: small files by name, and the diff ID of layer files. */
interface Archive {
  readonly kind: 'directory' | 'tar';
  read(name: string): Promise<Buffer | undefined>;
  /** sha256 of each named file after decompressing it, or why it could not be hashed. */
  diffIds(names: readonly string[], signal?: AbortSignal): Promise<Map<string, string | Error>>;
  /** Names that are hard links: in a tar, each to the name it links to; in a directory, each to its other names there. */
  hardLinks(names: readonly string[]): Promise<Map<string, string[]>>;
}

interface ManifestEntry {
  Config?: unknown;
  RepoTags?: unknown;
  Layers?: unknown;
}

/**
 * Proves a docker-archive (a directory or a tar) loadable without a daemon, as `docker load` would check it.
 *
 * @throws {FrozenError} `usage` when nothing is at `path`; problems with the archive are in the result, not thrown.
 */
export async function verifyArchive(
  path: string,
  options: { readonly signal?: AbortSignal | undefined } = {},
): Promise<VerifyResult> {
  const { signal } = options;
  throwIfAborted(signal);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new FrozenError('usage', `${path}: no such file or directory`);
  let archive: Archive;
  try {
    archive = info.isDirectory() ? await directoryArchive(path) : await tarArchive(path, signal);
  } catch (error) {
    throwIfAborted(signal);
    return failed(path, `not a readable directory or tar archive (${(error as Error).message})`);
  }
  const manifestBytes = await archive.read('manifest.json');
  if (!manifestBytes) return failed(path, 'no manifest.json: not loadable by Docker 29 or the containerd image store');
  let entries: ManifestEntry[];
  try {
    entries = JSON.parse(manifestBytes.toString('utf8')) as ManifestEntry[];
    if (!Array.isArray(entries)) throw new Error('not an array');
  } catch (error) {
    return failed(path, `manifest.json is not a JSON array (${(error as Error).message})`);
  }
  const problems: VerifyProblem[] = [];
  const planned: { image: string; config: string; layers: string[]; diffIds: string[] }[] = [];
  for (const [index, entry] of entries.entries()) {
    const image =
      Array.isArray(entry.RepoTags) && typeof entry.RepoTags[0] === 'string' ? entry.RepoTags[0] : `entry ${index}`;
    const found = (message: string) => problems.push({ image, message });
    const plan = await checkEntry(entry, archive, found);
    if (plan) planned.push({ image, ...plan });
  }
  const hashes = await archive.diffIds([...new Set(planned.flatMap((p) => p.layers))], signal);
  throwIfAborted(signal); // a layer cut short by the abort reads as an error: the abort is what happened
  const hardLinks = await archive.hardLinks([...new Set(planned.flatMap((p) => [p.config, ...p.layers]))]);
  const { layers, warnings } = checkLayers(planned, hashes, hardLinks, archive.kind, problems);
  return { images: entries.length, layers, problems, warnings };
}

/**
 * Each planned layer's diff ID against its config's, into `problems`; and a warning per config or layer that is a
 * hard link (one line for each set of linked names). Returns the layers counted and the warnings.
 */
function checkLayers(
  planned: readonly { image: string; config: string; layers: string[]; diffIds: string[] }[],
  hashes: ReadonlyMap<string, string | Error>,
  hardLinks: Map<string, string[]>,
  kind: Archive['kind'],
  problems: VerifyProblem[],
): { layers: number; warnings: VerifyProblem[] } {
  const warnings: VerifyProblem[] = [];
  const warnOnce = (image: string, subject: string, name: string) => {
    const linkedTo = hardLinks.get(name);
    if (linkedTo === undefined) return;
    // One line for a pair: the names this one is linked to need none of their own.
    for (const warned of [name, ...linkedTo]) hardLinks.delete(warned);
    warnings.push({ image, message: hardLinkWarning(subject, linkedTo.join(', '), kind) });
  };
  let layers = 0;
  for (const plan of planned) {
    warnOnce(plan.image, `config ${plan.config}`, plan.config);
    for (const [i, layer] of plan.layers.entries()) {
      layers++;
      const got = hashes.get(layer);
      if (got instanceof Error)
        problems.push({ image: plan.image, message: `layer ${i + 1} (${layer}): ${got.message}` });
      else if (got !== plan.diffIds[i])
        problems.push({
          image: plan.image,
          message: `layer ${i + 1} (${layer}): diff ID ${got} does not match the config's ${plan.diffIds[i]}`,
        });
      warnOnce(plan.image, `layer ${i + 1} (${layer})`, layer);
    }
  }
  return { layers, warnings };
}

function failed(path: string, message: string): VerifyResult {
  return { images: 0, layers: 0, problems: [{ image: path, message }], warnings: [] };
}

/**
 * docker load follows a tar's hard links; containers/image (skopeo, podman load) reads one as an empty file, and
 * containerd's importer finds no file there.
 */
function hardLinkWarning(subject: string, linkedTo: string, kind: Archive['kind']): string {
  return kind === 'tar'
    ? `${subject} is a hard link to ${linkedTo} in the tar: docker load follows it, but skopeo, podman load and containerd's importer do not (make the tar with tar --hard-dereference)`
    : `${subject} is the same file as ${linkedTo}: tar -c writes one of them as a hard link, which docker load follows but skopeo, podman load and containerd's importer do not (use tar --hard-dereference)`;
}

async function checkEntry(entry: ManifestEntry, archive: Archive, found: (message: string) => void) {
  for (const tag of Array.isArray(entry.RepoTags) ? entry.RepoTags : []) {
    if (typeof tag !== 'string' || !isNamedTagged(tag)) found(`RepoTag ${JSON.stringify(tag)} is not name:tag`);
  }
  if (typeof entry.Config !== 'string') return (found('no Config'), undefined);
  if (!Array.isArray(entry.Layers) || !entry.Layers.every((l): l is string => typeof l === 'string'))
    return (found('Layers is not a list of paths'), undefined);
  const configBytes = await archive.read(entry.Config);
  if (!configBytes) return (found(`config ${entry.Config} is missing`), undefined);
  let diffIds: unknown;
  try {
    diffIds = (JSON.parse(configBytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
  } catch {
    return (found(`config ${entry.Config} is not valid JSON`), undefined);
  }
  if (!Array.isArray(diffIds) || diffIds.length !== entry.Layers.length) {
    return (
      found(
        `config ${entry.Config} lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} diff IDs for ${counted(entry.Layers.length, 'layer')}`,
      ),
      undefined
    );
  }
  return { config: entry.Config, layers: entry.Layers, diffIds: diffIds as string[] };
}

function isNamedTagged(tag: string): boolean {
  try {
    const ref = parseReference(tag);
    return ref.digest === undefined && ref.imageId === undefined && tag.slice(tag.lastIndexOf('/') + 1).includes(':');
  } catch {
    return false;
  }
}

const SMALL_FILE_LIMIT = 64 * 1024 * 1024;

/** A directory: names are confined to it (no `..`, no symlink out of it). */
async function directoryArchive(root: string): Promise<Archive> {
  const base = await realpath(root);
  const confined = async (name: string): Promise<string | undefined> => {
    const target = await realpath(resolve(base, name)).catch(() => undefined);
    return target !== undefined && isWithin(target, base) ? target : undefined;
  };
  return {
    kind: 'directory',
    async read(name) {
      const path = await confined(name);
      if (!path || (await stat(path)).size > SMALL_FILE_LIMIT) return undefined;
      return readFile(path);
    },
    async diffIds(names, signal) {
      const result = new Map<string, string | Error>();
      for (const name of names) {
        if (signal?.aborted) break;
        const path = await confined(name);
        const file = path && (createReadStream(path, { signal }) as AsyncIterable<Buffer>);
        result.set(
          name,
          file ? await diffIdOf(file).catch((error: Error) => error) : new Error('missing (or outside the archive)'),
        );
      }
      return result;
    },
    async hardLinks(names) {
      // Every file in the tree: a config or layer may share its inode with any of them (a cache kept inside).
      const namesOf = await hardLinkedByInode(base, (await readdir(base, { recursive: true })).sort());
      const result = new Map<string, string[]>();
      for (const name of names) {
        const path = await confined(name);
        const info = path && (await stat(path).catch(() => undefined));
        if (!path || !info) continue;
        const others = (namesOf.get(inodeKey(info)) ?? []).filter((other) => other !== relative(base, path));
        if (others.length > 0) result.set(name, others);
      }
      return result;
    },
  };
}

/**
 * A tar (plain or gzip): one pass for the small files, one for the layers; `./` prefixes, symlinks (as docker save
 * makes for a layer it has saved already) and hard links (as tar -c makes for a second name of a file) resolved.
 */
async function tarArchive(file: string, signal?: AbortSignal): Promise<Archive> {
  const small = new Map<string, Buffer>();
  const links = new Map<string, string>();
  const hardLinks = new Map<string, string>();
  await eachEntry(file, signal, async (name, header, stream) => {
    if (header.type === 'symlink' && header.linkname)
      links.set(name, posix.normalize(posix.join(posix.dirname(name), header.linkname)));
    if (header.type === 'link' && header.linkname) hardLinks.set(name, tarName(header.linkname));
    if (
      header.type === 'file' &&
      (header.size ?? 0) <= SMALL_FILE_LIMIT &&
      (name === 'manifest.json' || name.endsWith('.json'))
    ) {
      small.set(name, await collect(stream));
    } else stream.resume();
  });
  // A name through its symlink (one level, as docker save writes them), then the file a hard link names.
  const linked = (name: string) => links.get(tarName(name)) ?? tarName(name);
  const real = (name: string) => hardLinks.get(linked(name)) ?? linked(name);
  return {
    kind: 'tar',
    read: async (name) => small.get(real(name)) ?? (await smallFile(file, real(name))),
    async diffIds(names, signal) {
      const askedFor = new Map<string, string[]>();
      for (const name of names) askedFor.set(real(name), [...(askedFor.get(real(name)) ?? []), name]);
      const result = new Map<string, string | Error>(
        names.map((name) => [name, new Error('missing from the archive')]),
      );
      await eachEntry(file, signal, async (name, header, stream) => {
        const asked = askedFor.get(name);
        if (asked === undefined || header.type !== 'file') return void stream.resume();
        const diffId = await diffIdOf(stream as AsyncIterable<Buffer>).catch((error: Error) => error);
        for (const original of asked) result.set(original, diffId);
      });
      return result;
    },
    hardLinks(names) {
      const result = new Map<string, string[]>();
      for (const name of names) {
        const target = hardLinks.get(linked(name));
        if (target !== undefined) result.set(name, [target]);
      }
      return Promise.resolve(result);
    },
  };
}

/** One small file of a tar, read by a pass of its own: the target of a link whose name does not end in .json. */
async function smallFile(file: string, wanted: string): Promise<Buffer | undefined> {
  let found: Buffer | undefined;
  await eachEntry(file, undefined, async (name, header, stream) => {
    if (name === wanted && found === undefined && header.type === 'file' && (header.size ?? 0) <= SMALL_FILE_LIMIT)
      found = await collect(stream);
    else stream.resume();
  });
  return found;
}

function tarName(name: string): string {
  return posix
    .normalize(name)
    .replace(/^(\.\/)+/, '')
    .replace(/^\/+/, '');
}

type Entry = { type?: string | null; size?: number; linkname?: string | null };

async function eachEntry(
  file: string,
  signal: AbortSignal | undefined,
  visit: (name: string, header: Entry, stream: Readable) => Promise<void>,
): Promise<void> {
  const tar = extract();
  const done = new Promise<void>((resolve, reject) => {
    tar.on('entry', (header, stream, next) => {
      visit(tarName(header.name), header, stream as unknown as Readable).then(() => next(), reject);
    });
    tar.on('finish', resolve);
    tar.on('error', reject);
  });
  const head = await readHead(file);
  const source = createReadStream(file, { signal });
  if (head[0] === 0x1f && head[1] === 0x8b) await Promise.all([pipeline(source, createGunzip(), tar), done]);
  else await Promise.all([pipeline(source, tar), done]);
}

async function readHead(file: string): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(4);
    await handle.read(buffer, 0, 4, 0);
    return buffer;
  } finally {
    await handle.close();
  }
}

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
