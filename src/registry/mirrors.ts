/**
 * Where a registry's content can come from: its mirrors, in order, then the registry itself ("upstream"). Any
 * registry may have mirrors. A mirror URL carries its path prefix in one of two conventions:
 * - before `/v2/` (Docker, Artifactory, Nexus): `https://m.example/some/path` → `https://m.example/some/path/v2/<repo>/…`
 * - inside the repository (Harbor, regclient): `https://m.example/v2/hub` → `https://m.example/v2/hub/<repo>/…`
 */
import { FrozenError } from '../errors.js';
import { readConfigFile } from '../util/config-file.js';
import { readJsonFile } from '../util/json-file.js';
import { apiHost } from '../reference/index.js';
import type { Credentials } from './credentials.js';

/** One place a repository's content can come from: a mirror, or the registry itself. */
export interface Endpoint {
  /** How the endpoint is named in reports: the mirror URL as configured, or the upstream host. */
  readonly name: string;
  readonly mirror: boolean;
  /** `https://host[:port]` (or `http://` for a mirror configured so). */
  readonly origin: string;
  /** Path before `/v2`, without a trailing slash. */
  readonly pathPrefix: string;
  /** Repository-name prefix after `/v2/`, without slashes at either end. */
  readonly repositoryPrefix: string;
  /** Whether tags may be resolved here. Upstream always; a mirror only when trusted. */
  readonly resolveTags: boolean;
  /** Credentials configured for this mirror; upstream's come from --creds or the credential files. */
  readonly credentials?: Credentials;
}

/** A mirror as frozen's config file gives it. */
export interface MirrorEntry {
  readonly url: string;
  readonly resolveTags?: boolean;
  readonly credentials?: Credentials;
}

/** registry (normalized: `docker.io`, `host:port`) → its mirrors in order. */
export type MirrorMap = ReadonlyMap<string, readonly Endpoint[]>;

/** Where mirrors are configured: flags, frozen's config file, Docker's daemon.json. */
export interface MirrorSources {
  /** `--mirror` values: `URL` (for Docker Hub) or `REGISTRY=URL`. */
  readonly mirrors?: readonly string[];
  /** `--trusted-mirror` values, same forms: mirrors that may resolve tags. */
  readonly trustedMirrors?: readonly string[];
  /** The config file; undefined for the default `$XDG_CONFIG_HOME/frozen/config.json`. */
  readonly configFile?: string;
  /** Docker's daemon.json (its `registry-mirrors` apply to Docker Hub); false to ignore it. */
  readonly daemonConfig?: string | false;
  readonly env?: NodeJS.ProcessEnv;
}

const DOCKER_HUB = 'docker.io';
const DEFAULT_DAEMON_CONFIG = '/etc/docker/daemon.json';

/** Merges mirrors from flags, `$FROZEN_MIRRORS`, the config file and daemon.json, in that order. */
export async function loadMirrors(sources: MirrorSources = {}): Promise<MirrorMap> {
  const env = sources.env ?? process.env;
  const entries: [string, MirrorEntry][] = [
    ...(sources.mirrors ?? []).map((text) => parseMirrorFlag(text, false)),
    ...(sources.trustedMirrors ?? []).map((text) => parseMirrorFlag(text, true)),
    ...(env.FROZEN_MIRRORS ?? '')
      .split(/[\s,]+/)
      .filter(Boolean)
      .map((text) => parseMirrorFlag(text, false)),
    ...(await fromConfigFile(sources.configFile, env)),
    ...(await fromDaemonConfig(sources.daemonConfig ?? env.FROZEN_DAEMON_CONFIG ?? DEFAULT_DAEMON_CONFIG)),
  ];
  const map = new Map<string, Endpoint[]>();
  for (const [registry, entry] of entries) {
    const list = map.get(registry) ?? [];
    if (!list.some((known) => known.name === entry.url)) list.push(mirrorEndpoint(entry));
    map.set(registry, list);
  }
  return map;
}

/** The endpoints for a registry: its mirrors in order, then upstream. */
export function endpointsFor(registry: string, mirrors: MirrorMap): Endpoint[] {
  const host = apiHost(registry);
  const upstream: Endpoint = {
    name: host,
    mirror: false,
    origin: `https://${host}`,
    pathPrefix: '',
    repositoryPrefix: '',
    resolveTags: true,
  };
  return [...(mirrors.get(normalizeRegistry(registry)) ?? []), upstream];
}

function parseMirrorFlag(text: string, resolveTags: boolean): [string, MirrorEntry] {
  const equals = text.indexOf('=');
  const [registry, url] = equals < 0 ? [DOCKER_HUB, text] : [text.slice(0, equals), text.slice(equals + 1)];
  return [normalizeRegistry(registry), { url, resolveTags }];
}

async function fromConfigFile(path: string | undefined, env: NodeJS.ProcessEnv): Promise<[string, MirrorEntry][]> {
  const { file, config } = await readConfigFile(path, env);
  const mirrors = (config as { mirrors?: unknown } | undefined)?.mirrors;
  if (mirrors === undefined) return [];
  if (typeof mirrors !== 'object' || mirrors === null || Array.isArray(mirrors)) {
    throw new FrozenError('usage', `${file}: "mirrors" must map registries to lists of mirrors`);
  }
  return Object.entries(mirrors).flatMap(([registry, list]) => {
    if (!Array.isArray(list)) throw new FrozenError('usage', `${file}: mirrors of ${registry} must be a list`);
    return list.map((item: unknown): [string, MirrorEntry] => [normalizeRegistry(registry), configEntry(item, file)]);
  });
}

function configEntry(item: unknown, file: string): MirrorEntry {
  if (typeof item === 'string') return { url: item };
  const entry = item as { url?: unknown; resolveTags?: unknown; username?: unknown; password?: unknown };
  if (typeof entry?.url !== 'string') throw new FrozenError('usage', `${file}: a mirror needs a "url"`);
  const credentials =
    typeof entry.username === 'string' && typeof entry.password === 'string'
      ? { username: entry.username, password: entry.password }
      : undefined;
  return { url: entry.url, resolveTags: entry.resolveTags === true, ...(credentials && { credentials }) };
}

/** dockerd's `registry-mirrors` are Docker Hub mirrors. */
async function fromDaemonConfig(path: string | false): Promise<[string, MirrorEntry][]> {
  if (path === false) return [];
  const config = (await readJsonFile(path, { required: false, what: 'daemon config' })) as
    { 'registry-mirrors'?: unknown } | undefined;
  const list = config?.['registry-mirrors'];
  return Array.isArray(list)
    ? list.filter((url): url is string => typeof url === 'string').map((url) => [DOCKER_HUB, { url }])
    : [];
}

/** Validates a mirror URL (like dockerd: a scheme, no query, fragment or user info) and splits its prefix. */
function mirrorEndpoint(entry: MirrorEntry): Endpoint {
  let url: URL;
  try {
    url = new URL(entry.url);
  } catch {
    throw new FrozenError('usage', `invalid mirror "${entry.url}": not a URL (want https://host[:port][/path])`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.search || url.hash || url.username || url.password) {
    throw new FrozenError(
      'usage',
      `invalid mirror "${entry.url}": want http(s)://host[:port][/path], without query, fragment or user info`,
    );
  }
  const path = url.pathname.replace(/\/+$/, '');
  const v2 = /^(.*?)\/v2(?:\/(.*))?$/.exec(path);
  return {
    name: entry.url,
    mirror: true,
    origin: url.origin,
    pathPrefix: v2 ? v2[1]! : path,
    repositoryPrefix: v2 ? (v2[2] ?? '') : '',
    resolveTags: entry.resolveTags === true,
    ...(entry.credentials && { credentials: entry.credentials }),
  };
}

function normalizeRegistry(registry: string): string {
  const lower = registry
    .toLowerCase()
    .replace(/^[a-z]+:\/\//, '')
    .replace(/\/.*$/, '');
  return ['index.docker.io', 'registry-1.docker.io', DOCKER_HUB].includes(lower) ? DOCKER_HUB : lower;
}
