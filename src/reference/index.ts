/**
 * Image references, parsed by the distribution grammar (github.com/distribution/reference) with Docker's
 * normalization: `[host[:port]/]path[:tag][@algo:hex]`, plus the download-frozen-image seed form `name:tag@<64 hex>`
 * which pins a v1-style image ID rather than a digest.
 */
import { parseDigest, type Digest } from '../digest.js';
import { FrozenError } from '../errors.js';

/** A parsed image reference, normalized as Docker normalizes it. */
export interface ImageReference {
  /** Registry as named by the user after normalization: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly registry: string;
  /** Repository path inside the registry: `library/busybox`, `team/app`. */
  readonly repository: string;
  /** The tag, when given (or defaulted to `latest` when neither digest nor tag was given). */
  readonly tag?: string;
  /** The manifest digest to pull, when pinned. */
  readonly digest?: Digest;
  /** A 64-hex image ID (config digest hex) or manifest digest hex the pulled image must have. */
  readonly imageId?: string;
  /** The short name Docker shows and `RepoTags` use: `busybox`, `user/app`, `localhost:5000/team/app`. */
  readonly familiarName: string;
  /** What the user typed. */
  readonly original: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const DOCKER_HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', DOCKER_HUB]);
const REPOSITORY_MAX_LENGTH = 255;

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])`;
const DOMAIN_RE = new RegExp(`^${HOST}(?::[0-9]+)?$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

/**
 * Parses and normalizes an image reference (`busybox` → `docker.io/library/busybox:latest`).
 *
 * @throws {FrozenError} `reference` for one that is malformed, in one line that says why.
 */
export function parseReference(input: string): ImageReference {
  const fail = (why: string): never => {
    throw new FrozenError('reference', `invalid reference "${input}": ${why}`);
  };
  if (typeof input !== 'string')
    throw new FrozenError('reference', `invalid reference: ${JSON.stringify(input) ?? typeof input} is not a string`);
  if (input.length === 0) fail('empty');
  if (/\s/.test(input)) fail('contains white space');
  // skopeo's `docker://busybox` and a registry URL pasted whole are common slips: say what to write instead.
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(input)?.[0];
  if (scheme) {
    const httpHint = /^https?:/i.test(scheme) ? ' (plain http is used for loopback and insecureRegistries hosts)' : '';
    fail(`a reference has no scheme: write "${input.slice(scheme.length)}"${httpHint}`);
  }

  const at = input.indexOf('@');
  const namePart = at < 0 ? input : input.slice(0, at);
  const pin = at < 0 ? undefined : input.slice(at + 1);

  // A tag colon comes after the last slash; a colon before it belongs to a host:port.
  const lastSlash = namePart.lastIndexOf('/');
  const tagColon = namePart.indexOf(':', lastSlash + 1);
  const name = tagColon < 0 ? namePart : namePart.slice(0, tagColon);
  const tag = tagColon < 0 ? undefined : namePart.slice(tagColon + 1);

  if (IMAGE_ID_RE.test(name)) fail('a 64-hex image ID is not a repository name');
  const { registry, repository } = splitDomain(name, fail);
  if (!PATH_RE.test(repository)) {
    fail(repository.toLowerCase() !== repository ? 'repository name must be lowercase' : 'malformed repository name');
  }
  if (repository.length > REPOSITORY_MAX_LENGTH)
    fail(`repository name longer than ${REPOSITORY_MAX_LENGTH} characters`);
  if (tag !== undefined && !TAG_RE.test(tag)) fail('malformed tag');

  const { digest, imageId } = parsePin(pin, fail);
  const defaultedTag = tag ?? (digest ? undefined : 'latest');
  return {
    registry,
    repository,
    ...(defaultedTag !== undefined && { tag: defaultedTag }),
    ...(digest && { digest }),
    ...(imageId && { imageId }),
    familiarName: familiarName(registry, repository),
    original: input,
  };
}

function splitDomain(name: string, fail: (why: string) => never): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isDomain = first === 'localhost' || /[.:]/.test(first) || (first !== '' && first !== first.toLowerCase());
  if (!isDomain) {
    return { registry: DOCKER_HUB, repository: slash < 0 ? `library/${name}` : name };
  }
  if (!DOMAIN_RE.test(first)) fail('malformed registry host');
  const rest = name.slice(slash + 1);
  if (DOCKER_HUB_ALIASES.has(first.toLowerCase())) {
    return { registry: DOCKER_HUB, repository: rest.includes('/') ? rest : `library/${rest}` };
  }
  return { registry: first, repository: rest };
}

function parsePin(pin: string | undefined, fail: (why: string) => never): { digest?: Digest; imageId?: string } {
  if (pin === undefined) return {};
  if (IMAGE_ID_RE.test(pin)) return { imageId: pin };
  if (!DIGEST_RE.test(pin)) fail('malformed digest (want algorithm:hex, or a 64-hex image ID)');
  try {
    return { digest: parseDigest(pin) };
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  }
}

function familiarName(registry: string, repository: string): string {
  if (registry !== DOCKER_HUB) return `${registry}/${repository}`;
  const parts = repository.split('/');
  return parts.length === 2 && parts[0] === 'library' ? parts[1]! : repository;
}

/** The host that serves the registry API: Docker Hub's name is not its API host. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** `name:tag` for RepoTags and messages; undefined when the reference has no tag. */
export function familiarTag(ref: ImageReference): string | undefined {
  return ref.tag === undefined ? undefined : `${ref.familiarName}:${ref.tag}`;
}

/**
 * The fully qualified form, e.g. `docker.io/library/busybox:latest@sha256:…`, of a reference given as text or
 * already parsed.
 *
 * @throws {FrozenError} `reference` for text that is no reference (or anything that is neither).
 */
export function canonicalReference(reference: ImageReference | string): string {
  const ref = typeof reference === 'object' && reference !== null ? reference : parseReference(reference);
  const tag = ref.tag === undefined ? '' : `:${ref.tag}`;
  const pin = ref.digest ? `@${ref.digest.value}` : ref.imageId ? `@${ref.imageId}` : '';
  return `${ref.registry}/${ref.repository}${tag}${pin}`;
}

/** The references in the order given, each once normalized: `busybox` and `docker.io/library/busybox:latest` are one. */
export function distinctReferences<T>(items: readonly T[], referenceOf: (item: T) => ImageReference): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const key = canonicalReference(referenceOf(item));
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A list of references from a JavaScript caller, checked before any is parsed. */
export function assertImageList(images: unknown): asserts images is readonly string[] {
  if (!Array.isArray(images)) throw new FrozenError('reference', 'images must be an array of image references');
}
