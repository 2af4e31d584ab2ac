/**
 * The bytes of moby's `download-frozen-image-v2.sh` layout, with no I/O: layer IDs, per-layer `json`, `manifest.json`
 * and `repositories`. Byte-compatibility with the script is the contract, so every format here follows the script's
 * jq templates and hand-written strings exactly (see docs/formats.md).
 */
import { sha256Hex } from '../digest.js';
import { FrozenError } from '../errors.js';
import {
  isObject,
  orderedObject,
  parseOrdered,
  printJq,
  setEntry,
  type OrderedJson,
  type OrderedObject,
} from '../util/ordered-json.js';

/** Each layer folder's `VERSION` file, as the script writes it. */
export const LAYER_VERSION = '1.0\n';

/** The script's v1-compatible layer ID: `sha256hex(parentId + "\n" + layerDigest + "\n")`, parent "" for the base. */
export function layerId(parentId: string, layerDigest: string): string {
  return sha256Hex(`${parentId}\n${layerDigest}\n`);
}

/** Layer IDs for a manifest's layers, base first, each chained on its parent. */
export function layerIds(layerDigests: readonly string[]): string[] {
  const ids: string[] = [];
  for (const digest of layerDigests) ids.push(layerId(ids.at(-1) ?? '', digest));
  return ids;
}

/** The script's "unimportant layer" json, taken by moby from `docker save` output. */
export function starterLayerJson(id: string, parentId: string): string {
  const json = identity(id, parentId);
  json.entries.push(
    ['created', '0001-01-01T00:00:00Z'],
    [
      'container_config',
      orderedObject([
        ['Hostname', ''],
        ['Domainname', ''],
        ['User', ''],
        ['AttachStdin', false],
        ['AttachStdout', false],
        ['AttachStderr', false],
        ['Tty', false],
        ['OpenStdin', false],
        ['StdinOnce', false],
        ['Env', null],
        ['Cmd', null],
        ['Image', ''],
        ['Volumes', null],
        ['WorkingDir', ''],
        ['Entrypoint', null],
        ['OnBuild', null],
        ['Labels', null],
      ]),
    ],
  );
  return printJq(json);
}

/** The top layer's json: `{id, parent?} + (config | del(.history, .rootfs))`, as jq would print it. */
export function topLayerJson(id: string, parentId: string, configText: string): string {
  const config = parseOrdered(configText);
  if (!isObject(config)) throw new FrozenError('protocol', 'image config is not a JSON object');
  const json = identity(id, parentId);
  for (const [key, value] of config.entries) {
    if (key !== 'history' && key !== 'rootfs') setEntry(json, key, value);
  }
  return printJq(json);
}

function identity(id: string, parentId: string): OrderedObject {
  return orderedObject(
    parentId
      ? [
          ['id', id],
          ['parent', parentId],
        ]
      : [['id', id]],
  );
}

/** One entry of `manifest.json`, the file `docker load` reads. */
export interface ManifestEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
  [other: string]: unknown;
}

/** A foreign layer's descriptor, as `docker save` writes it in `LayerSources` (in Go's field order). */
export interface LayerSource {
  readonly mediaType: string;
  readonly size: number;
  readonly digest: string;
  readonly urls: readonly string[];
}

/** A layer of an image, for `LayerSources`: its diff ID, and its descriptor when it is foreign. */
export interface SourcedLayer {
  readonly source?: { readonly diffId: string; readonly descriptor: LayerSource };
}

/**
 * The `LayerSources` of a manifest.json entry: diff ID → descriptor of each foreign layer. A Windows daemon's
 * `docker load` registers those layers with their descriptors, as its `docker pull` does, so that `docker push`
 * leaves them out. No field when the image has none, as in `docker save`'s output.
 */
export function layerSourcesField(layers: readonly SourcedLayer[]): { LayerSources?: Record<string, LayerSource> } {
  const sources = layers.flatMap((layer) =>
    layer.source ? [[layer.source.diffId, layer.source.descriptor] as const] : [],
  );
  return sources.length > 0 ? { LayerSources: Object.fromEntries(sources) } : {};
}

/** Reads an existing manifest.json (to merge into); throws SyntaxError for one that is not a list of entries. */
export function parseManifestJson(text: string): ManifestEntry[] {
  const value: unknown = JSON.parse(text);
  const isEntry = (entry: Partial<Record<keyof ManifestEntry, unknown>> | null) =>
    typeof entry?.Config === 'string' &&
    Array.isArray(entry.Layers) &&
    (entry.RepoTags === undefined || entry.RepoTags === null || Array.isArray(entry.RepoTags));
  const valid =
    Array.isArray(value) && (value as (Partial<Record<keyof ManifestEntry, unknown>> | null)[]).every(isEntry);
  if (!valid) throw new SyntaxError('not a docker manifest.json array');
  return (value as ManifestEntry[]).map((entry) => ({ ...entry, RepoTags: entry.RepoTags ?? [] }));
}

/**
 * Merges new entries into an existing manifest.json: a tag moves to its new image (an older entry that loses its
 * last tag this way is dropped), an entry for the same config and layers gains the tag, others stay as they were.
 */
export function mergeManifestEntries(
  existing: readonly ManifestEntry[],
  added: readonly ManifestEntry[],
): ManifestEntry[] {
  let entries = existing.map((entry) => ({ ...entry, RepoTags: [...entry.RepoTags] }));
  for (const entry of added) {
    const moving = new Set(entry.RepoTags);
    entries = entries.flatMap((old) => {
      const kept = old.RepoTags.filter((tag) => !moving.has(tag));
      const lostLastTag = kept.length === 0 && old.RepoTags.length > 0;
      return lostLastTag && !sameImage(old, entry) ? [] : [{ ...old, RepoTags: kept }];
    });
    const same = entries.find((old) => sameImage(old, entry));
    // The same image gains the tag, and this run's other fields (LayerSources an older frozen did not write).
    if (same) Object.assign(same, { ...entry, RepoTags: [...same.RepoTags, ...entry.RepoTags] });
    else entries.push({ ...entry, RepoTags: [...entry.RepoTags] });
  }
  return entries;
}

function sameImage(a: ManifestEntry, b: ManifestEntry): boolean {
  return a.Config === b.Config && a.Layers.length === b.Layers.length && a.Layers.every((l, i) => l === b.Layers[i]);
}

/** manifest.json as jq pretty-prints it in the script. */
export function printManifestJson(entries: readonly ManifestEntry[]): string {
  return `${JSON.stringify(entries, null, 2)}\n`;
}

/** `repositories`: image name → tag → top layer ID, in the order first seen. */
export type Repositories = Map<string, Map<string, string>>;

/** Reads an existing `repositories` file (to merge into). */
export function parseRepositories(text: string): Repositories {
  const value = parseOrdered(text);
  const repositories: Repositories = new Map();
  if (!isObject(value)) throw new SyntaxError('repositories is not a JSON object');
  for (const [name, tags] of value.entries) {
    if (!isObject(tags)) throw new SyntaxError(`repositories entry "${name}" is not an object`);
    repositories.set(name, new Map(tags.entries.map(([tag, id]) => [tag, stringValue(id, name)])));
  }
  return repositories;
}

function stringValue(value: OrderedJson, name: string): string {
  if (typeof value !== 'string') throw new SyntaxError(`repositories entry "${name}" has a non-string ID`);
  return value;
}

/** Points `name:tag` at the image's top layer ID in `repositories`. */
export function addRepositoryTag(repositories: Repositories, name: string, tag: string, topLayerId: string): void {
  const tags = repositories.get(name) ?? new Map<string, string>();
  tags.set(tag, topLayerId);
  repositories.set(name, tags);
}

/** The script writes `repositories` by hand: `{\n\t"name": { "tag": "id", "tag2": "id2" },\n\t…\n}\n`. */
export function printRepositories(repositories: Repositories): string {
  const lines = [...repositories].map(([name, tags]) => {
    const pairs = [...tags].map(([tag, id]) => `${JSON.stringify(tag)}: ${JSON.stringify(id)}`);
    return `\n\t${JSON.stringify(name)}: { ${pairs.join(', ')} }`;
  });
  return `{${lines.join(',')}\n}\n`;
}
