/**
 * Registry credentials the way Docker and the containers tools keep them: `auths` entries (base64 `auth`,
 * `username`/`password`, `identitytoken`), `credHelpers` per registry and `credsStore` for all, through the
 * docker-credential-helper protocol. Docker Hub is keyed `https://index.docker.io/v1/`.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { FrozenError } from '../errors.js';
import { readJsonFile } from '../util/json-file.js';

/** Credentials for one registry: a user and password, or an identity token (an OAuth2 refresh token). */
export type Credentials = { readonly username: string; readonly password: string } | { readonly identityToken: string };

interface ConfigFile {
  readonly auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  readonly credHelpers?: Record<string, string>;
  readonly credsStore?: string;
}

/** Which credential files to read (default: docker's config.json, then containers' auth.json). */
export interface CredentialFiles {
  /** `--authfile`: only this file is read. */
  readonly authfile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** How long a credential helper may take to answer (default 30 s). */
  readonly helperTimeoutMs?: number;
}

const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const HELPER_TIMEOUT_MS = 30_000;

/** The credential files, read once, and their helpers, asked when a registry wants credentials. */
export class CredentialStore {
  private constructor(
    private readonly files: readonly ConfigFile[],
    private readonly helperTimeoutMs: number,
  ) {}

  /** Reads `--authfile`, else the files the containers tools and Docker read, in their order (`credentialFiles`). */
  static async load(options: CredentialFiles = {}): Promise<CredentialStore> {
    const paths = options.authfile ? [options.authfile] : credentialFiles(options.env ?? process.env);
    const files: ConfigFile[] = [];
    for (const path of paths) {
      const file = (await readJsonFile(path, {
        required: options.authfile !== undefined,
        what: 'credentials file',
      })) as ConfigFile | undefined;
      if (file) files.push(file);
    }
    return new CredentialStore(files, options.helperTimeoutMs ?? HELPER_TIMEOUT_MS);
  }

  /**
   * Credentials for a registry host (`docker.io`, `localhost:5000`), or for one repository of it: an `auths` key
   * with a namespace (`quay.io/team`, as containers' auth.json allows) applies to the repositories under it, the
   * longest such key first, before the host's own entry. Undefined when no file has any.
   */
  async lookup(registry: string, repository?: string): Promise<Credentials | undefined> {
    const wanted = normalizeKey(registry);
    for (const file of this.files) {
      const helperKey = Object.keys(file.credHelpers ?? {}).find((key) => normalizeKey(key) === wanted);
      const helper = helperKey ? file.credHelpers![helperKey] : file.credsStore;
      if (helper) return runHelper(helper, helperKey ?? serverUrl(registry), this.helperTimeoutMs);
      const authKey = bestAuthKey(file, wanted, repository);
      if (authKey) return fromEntry(file.auths![authKey]!, registry);
    }
    return undefined;
  }

  /**
   * The namespaced `auths` key that `lookup(registry, repository)` would use, if any: repositories with the same
   * answer (undefined for most) share credentials, and so an authorizer.
   */
  namespaceFor(registry: string, repository: string): string | undefined {
    const wanted = normalizeKey(registry);
    for (const file of this.files) {
      if (file.credsStore || Object.keys(file.credHelpers ?? {}).some((key) => normalizeKey(key) === wanted))
        return undefined;
      const authKey = bestAuthKey(file, wanted, repository);
      if (authKey) return isNamespaceKey(authKey) ? authKey : undefined;
    }
    return undefined;
  }
}

/**
 * Where credentials are looked for, first to last, as containers-auth.json(5) orders them: `$REGISTRY_AUTH_FILE`
 * (else `$XDG_RUNTIME_DIR/containers/auth.json`, where `podman login` writes), `$XDG_CONFIG_HOME/containers/auth.json`,
 * then Docker's `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`).
 */
export function credentialFiles(env: NodeJS.ProcessEnv): string[] {
  const runtimeDir = env.XDG_RUNTIME_DIR || (process.getuid && `/run/containers/${process.getuid()}`);
  const runtimeFile = runtimeDir && join(runtimeDir, ...(env.XDG_RUNTIME_DIR ? ['containers'] : []), 'auth.json');
  return [
    env.REGISTRY_AUTH_FILE || runtimeFile,
    join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'containers', 'auth.json'),
    join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'config.json'),
  ].filter((path): path is string => !!path);
}

/** The `auths` key for a host, or for a repository of it: the longest namespace holding it, else the host's own. */
function bestAuthKey(file: ConfigFile, host: string, repository: string | undefined): string | undefined {
  const keys = Object.keys(file.auths ?? {});
  const repositoryPath = repository && `${host}/${repository}`;
  const namespaced = keys
    .filter(
      (key) => isNamespaceKey(key) && repositoryPath && `${repositoryPath}/`.startsWith(`${normalizeNamespace(key)}/`),
    )
    .sort((a, b) => b.length - a.length);
  return namespaced[0] ?? keys.find((key) => !isNamespaceKey(key) && normalizeKey(key) === host);
}

/**
 * `quay.io/team` (no scheme, a path): a namespace. URL forms (`https://index.docker.io/v1/`) and a bare host with
 * Docker's API path (`registry.example/v1/`, as Docker reads it) name hosts.
 */
function isNamespaceKey(key: string): boolean {
  if (key.includes('://')) return false;
  const path = key.replace(/\/+$/, '').split('/').slice(1).join('/');
  return path !== '' && path !== 'v1' && path !== 'v2';
}

/** `index.docker.io/library/busybox` → `docker.io/library/busybox`; trailing slashes dropped. */
function normalizeNamespace(key: string): string {
  const [host, ...path] = key.replace(/\/+$/, '').split('/');
  return [normalizeKey(host!), ...path].join('/');
}

/** `https://index.docker.io/v1/`, `registry-1.docker.io`, `http://host:5000/v2/` → `docker.io`, `host:5000`. */
function normalizeKey(key: string): string {
  const host = key
    .replace(/^[a-z]+:\/\//i, '')
    .split('/')[0]!
    .toLowerCase();
  return ['index.docker.io', 'registry-1.docker.io', 'docker.io'].includes(host) ? 'docker.io' : host;
}

function serverUrl(registry: string): string {
  return normalizeKey(registry) === 'docker.io' ? DOCKER_HUB_KEY : registry;
}

function fromEntry(entry: NonNullable<ConfigFile['auths']>[string], registry: string): Credentials | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw new FrozenError('auth', `the stored credentials for ${registry} are malformed`);
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * `docker-credential-<helper> get`, the server URL on stdin, `{ServerURL, Username, Secret}` on stdout. A helper
 * that has nothing for the server answers with an error: no credentials. `<token>` as user means an identity token.
 */
async function runHelper(helper: string, server: string, timeoutMs: number): Promise<Credentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) throw new FrozenError('auth', `invalid credential helper name "${helper}"`);
  const program = `docker-credential-${helper}`;
  // Loaded here, not with the module: most runs use no helper, and every run would pay to load it.
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(program, ['get'], { stdio: ['pipe', 'pipe', 'pipe'] });
    // Our own timer, not spawn's `timeout`: that one outlives a helper that never started, and kept the process
    // alive for its whole length after the pull had ended.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill();
    }, timeoutMs);
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stdin.on('error', () => undefined); // a helper that exits without reading; its exit code tells
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      // Not installed (a config.json from a desktop, "credsStore": "desktop", in CI): no credentials, as when the
      // helper has none, so anonymous pulls still work; a registry that wants credentials then says so.
      if (error.code === 'ENOENT') resolve(undefined);
      else reject(new FrozenError('auth', `credential helper ${program} cannot run: ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut)
        return reject(
          new FrozenError('auth', `credential helper ${program} did not answer within ${timeoutMs / 1000} s`),
        );
      if (code !== 0) return resolve(undefined);
      try {
        const answer = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (!answer.Secret) return resolve(undefined);
        resolve(
          answer.Username === '<token>'
            ? { identityToken: answer.Secret }
            : { username: answer.Username ?? '', password: answer.Secret },
        );
      } catch {
        reject(new FrozenError('auth', `credential helper ${program} answered something that is not JSON`));
      }
    });
    child.stdin.end(server);
  });
}
