/**
 * One run's connection to registries: transport, credentials, mirrors and their health, one authorizer per endpoint.
 */
import { readFile } from 'node:fs/promises';
import type { Dispatcher } from 'undici';
import { FrozenError } from '../errors.js';
import type { ManifestCache } from '../manifest/cache.js';
import { apiHost, type ImageReference } from '../reference/index.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { Authorizer } from './auth.js';
import { RegistryClient } from './client.js';
import { CredentialStore, type Credentials } from './credentials.js';
import { endpointsFor, loadMirrors, type Endpoint, type MirrorMap } from './mirrors.js';
import { MirrorHealth, Remote, type RequestNotices } from './remote.js';
import { Transport } from './transport.js';
import { speaksOnlyV1, V1Registry } from './v1.js';

/**
 * An undici Dispatcher as frozen uses it: by its `dispatch` (undici's request API calls it). Typed by shape, so
 * that a caller's undici 6, 7 or 8 Agent, ProxyAgent or MockAgent is accepted whatever undici frozen itself has.
 */
export interface DispatcherLike {
  dispatch(options: never, handler: never): boolean;
}

/** How frozen reaches registries: shared by `pull`, `inspect` and the others. */
export interface RegistryOptions {
  /** Credentials for every registry (not mirrors), sent when a registry or its token server asks. */
  readonly credentials?: Credentials | undefined;
  /** A docker config.json or containers auth.json to read credentials from, instead of the default ones. */
  readonly authfile?: string | undefined;
  /** Mirrors: `URL` (Docker Hub) or `REGISTRY=URL`, tried in order before the registry. */
  readonly mirrors?: readonly string[] | undefined;
  /** Mirrors, same forms, that may also resolve tags. */
  readonly trustedMirrors?: readonly string[] | undefined;
  /** frozen's config file (default `$XDG_CONFIG_HOME/frozen/config.json`). */
  readonly configFile?: string | undefined;
  /** Docker's daemon.json, whose `registry-mirrors` apply to Docker Hub (default /etc/docker/daemon.json); false to ignore. */
  readonly daemonConfig?: string | false | undefined;
  /** Hosts reached with unverified TLS, or plain http when they do not speak TLS (loopback hosts may use plain http too). */
  readonly insecureRegistries?: readonly string[] | undefined;
  /** A PEM file of CA certificates to trust besides the system's (and NODE_EXTRA_CA_CERTS). */
  readonly caFile?: string | undefined;
  /** Give up connecting after this long (default 30 s). */
  readonly connectTimeoutMs?: number | undefined;
  /** Give up on a response that sends nothing for this long (default 120 s); retried like other network errors. */
  readonly stallTimeoutMs?: number | undefined;
  /** Further attempts after a retryable failure, a whole number (default 5). */
  readonly retries?: number | undefined;
  /** The first retry's backoff in ms, 0 or more; it doubles each time (default 250 ms). `Retry-After` wins. */
  readonly retryDelayMs?: number | undefined;
  /**
   * The undici dispatcher to use (a MockAgent in tests, a proxy agent): any undici version's Agent, ProxyAgent or
   * MockAgent, whose `dispatch` alone is used. One you pass stays open.
   */
  readonly dispatcher?: DispatcherLike | undefined;
}

/**
 * One run's connection to registries: the transport, credentials, mirrors and their health, and one authorizer
 * (challenges, tokens, credentials) per endpoint. Upstream gets --creds, else the credential files' entry for the
 * registry; a mirror gets its configured credentials, else the files' entry for its own host, never upstream's.
 */
export class RegistrySession {
  private readonly authorizers = new Map<string, Authorizer>();
  private readonly health = new MirrorHealth();
  private readonly v1Hosts = new Map<string, Promise<boolean>>();

  private constructor(
    private readonly transport: Transport,
    private readonly store: CredentialStore,
    private readonly mirrors: MirrorMap,
    private readonly credentials: Credentials | undefined,
    readonly retry: RetryPolicy,
  ) {}

  /**
   * Reads every setting first, so a bad file fails before anything else happens. `surelyAsked` names registries the
   * run will ask something whatever happens: where no mirror stands in front of one, its connection is opened at
   * once (see EarlyConnections).
   */
  static async open(options: RegistryOptions = {}, surelyAsked: readonly string[] = []): Promise<RegistrySession> {
    checkRegistryOptions(options);
    const store = await CredentialStore.load(options.authfile ? { authfile: options.authfile } : {});
    const mirrors = await loadMirrors({
      ...(options.mirrors && { mirrors: options.mirrors }),
      ...(options.trustedMirrors && { trustedMirrors: options.trustedMirrors }),
      ...(options.configFile && { configFile: options.configFile }),
      ...(options.daemonConfig !== undefined && { daemonConfig: options.daemonConfig }),
    });
    const ca = options.caFile ? await readCaFile(options.caFile) : undefined;
    const transport = await Transport.create({
      ...(options.dispatcher && { dispatcher: options.dispatcher as unknown as Dispatcher }),
      ...(options.insecureRegistries && { insecureRegistries: options.insecureRegistries }),
      ...(ca && { ca }),
      ...(options.connectTimeoutMs && { connectTimeoutMs: options.connectTimeoutMs }),
      ...(options.stallTimeoutMs && { stallTimeoutMs: options.stallTimeoutMs }),
      connectEarly: surelyAsked.flatMap((registry) => {
        const endpoints = endpointsFor(registry, mirrors);
        return endpoints.length === 1 ? [endpoints[0]!.origin] : [];
      }),
    });
    const retry = {
      retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
      baseDelayMs: options.retryDelayMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
    };
    return new RegistrySession(transport, store, mirrors, options.credentials, retry);
  }

  /**
   * The image's repository through its endpoints: mirrors in order, then the registry; manifests through `cache`
   * first, when given.
   */
  remote(
    ref: ImageReference,
    how: { notices?: RequestNotices | undefined; cache?: ManifestCache | undefined } = {},
  ): Remote {
    const clients = endpointsFor(ref.registry, this.mirrors).map(
      (endpoint) =>
        new RegistryClient(
          endpoint,
          ref.repository,
          this.transport,
          this.authorizerFor(endpoint, ref.registry, ref.repository),
        ),
    );
    return new Remote(clients, this.health, this.retry, this.transport, {
      repository: `${ref.registry}/${ref.repository}`,
      ...how,
    });
  }

  /** The image's repository on a v1 registry (mirrors do not apply: they are v2). */
  v1(ref: ImageReference, notices?: RequestNotices): V1Registry {
    const registry = ref.registry;
    return new V1Registry(
      this.transport,
      registry,
      ref.repository,
      async () => this.credentials ?? this.store.lookup(registry, ref.repository),
      this.retry,
      notices,
    );
  }

  /** Whether the registry speaks only v1 (asked once per run). */
  speaksOnlyV1(registry: string, signal?: AbortSignal): Promise<boolean> {
    let answer = this.v1Hosts.get(registry);
    if (!answer) {
      answer = speaksOnlyV1(this.transport, apiHost(registry), signal);
      this.v1Hosts.set(registry, answer);
    }
    return answer;
  }

  /** Whether requests to the registry at `host` share one HTTP/2 connection (known once it was connected to). */
  multiplexes(host: string): boolean {
    return this.transport.protocols()[new URL(`https://${host}`).origin] === 'h2';
  }

  /** HTTP requests sent so far, per `host[:port]`. */
  requestCounts(): Record<string, number> {
    return this.transport.requestCounts();
  }

  /** Connections opened so far, per `host[:port]`. */
  connectionCounts(): Record<string, number> {
    return this.transport.connectionCounts();
  }

  async close(): Promise<void> {
    await this.transport.close();
  }

  /**
   * One authorizer (challenges, tokens, credentials asked once) per endpoint, and per credential namespace within
   * it: repositories under a namespaced auth.json key (`quay.io/team`) get its credentials, the rest the host's.
   */
  private authorizerFor(endpoint: Endpoint, registry: string, repository: string): Authorizer {
    const namespace = endpoint.mirror || this.credentials ? undefined : this.store.namespaceFor(registry, repository);
    const key = namespace ? `${endpoint.name} ${namespace}` : endpoint.name;
    let authorizer = this.authorizers.get(key);
    if (!authorizer) {
      const credentials = endpoint.mirror
        ? async () => endpoint.credentials ?? this.store.lookup(new URL(endpoint.origin).host)
        : async () => this.credentials ?? this.store.lookup(registry, repository);
      authorizer = new Authorizer(this.transport, credentials);
      this.authorizers.set(key, authorizer);
    }
    return authorizer;
  }
}

/** Numbers and a dispatcher a JavaScript caller got wrong are refused before anything starts, in one line. */
function checkRegistryOptions(options: RegistryOptions): void {
  const refuse = (name: string, want: string, value: unknown) => {
    throw new FrozenError('usage', `${name} must be ${want}, not ${JSON.stringify(value)}`);
  };
  const { retries, retryDelayMs, connectTimeoutMs, stallTimeoutMs, dispatcher } = options;
  if (retries !== undefined && !(Number.isSafeInteger(retries) && retries >= 0))
    refuse('retries', 'a whole number, 0 or more', retries);
  if (retryDelayMs !== undefined && !(Number.isFinite(retryDelayMs) && retryDelayMs >= 0))
    refuse('retryDelayMs', 'a number of milliseconds, 0 or more', retryDelayMs);
  for (const [name, value] of Object.entries({ connectTimeoutMs, stallTimeoutMs })) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0))
      refuse(name, 'a number of milliseconds, more than 0', value);
  }
  if (dispatcher !== undefined && typeof (dispatcher as { dispatch?: unknown }).dispatch !== 'function')
    refuse('dispatcher', 'an undici Dispatcher', typeof dispatcher);
}

async function readCaFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new FrozenError('usage', `cannot read CA file ${path}: ${(error as Error).message}`);
  }
}
