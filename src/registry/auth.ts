/**
 * Registry authorization: challenges parsed, Bearer tokens fetched and cached per scope, Basic credentials sent when
 * asked.
 */
import { FrozenError } from '../errors.js';
import { readLimited } from '../util/read-limited.js';
import type { Credentials } from './credentials.js';
import type { Transport } from './transport.js';

/** The most a token server's answer may hold. */
const TOKEN_RESPONSE_LIMIT = 1024 * 1024;

/**
 * Challenge-driven registry auth (distribution's token spec): a 401 names a scheme; Bearer means "get a token from
 * this realm for this scope", Basic means "send credentials". Tokens are cached per (realm, service, scope) until
 * they expire.
 */
export interface Challenge {
  /** Lowercased scheme: `bearer`, `basic`, … */
  readonly scheme: string;
  /** Parameters with lowercased names. */
  readonly params: Readonly<Record<string, string>>;
}

/** Where an authorizer gets credentials when a challenge needs them: asked once, lazily (helpers are programs). */
export type CredentialSource = () => Promise<Credentials | undefined>;

// One token: a token68-ish word, a quoted string (with \-escapes), "=", ",".
const CHALLENGE_TOKEN = /\s*(?:([!#$%&'*+\-.^_`|~0-9A-Za-z/]+)|"((?:[^"\\]|\\.)*)"|(=)|(,))/y;

/**
 * Parses `WWW-Authenticate` header values (RFC 7235): one or more challenges per value, parameters whose quoted
 * values may contain commas (scopes do), and auth-scheme names that start a new challenge.
 */
export function parseChallenges(values: readonly string[]): Challenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  for (const value of values) {
    const tokens = tokenize(value);
    let i = 0;
    while (i < tokens.length) {
      const token = tokens[i]!;
      if (token.kind !== 'word') {
        i++;
        continue;
      }
      const current = { scheme: token.text.toLowerCase(), params: {} as Record<string, string> };
      challenges.push(current);
      i++;
      // Parameters: name "=" value, separated by commas, until a word that is not followed by "=".
      while (i < tokens.length) {
        const [name, eq, val] = [tokens[i], tokens[i + 1], tokens[i + 2]];
        if (name?.kind === 'comma') {
          i++;
          continue;
        }
        if (name?.kind !== 'word' || eq?.kind !== 'equals') break;
        if (val?.kind === 'word' || val?.kind === 'quoted') {
          current.params[name.text.toLowerCase()] = val.text;
          i += 3;
        } else {
          current.params[name.text.toLowerCase()] = '';
          i += 2;
        }
      }
    }
  }
  return challenges;
}

type ChallengeToken = { kind: 'word' | 'quoted' | 'equals' | 'comma'; text: string };

function tokenize(value: string): ChallengeToken[] {
  const tokens: ChallengeToken[] = [];
  CHALLENGE_TOKEN.lastIndex = 0;
  for (let match = CHALLENGE_TOKEN.exec(value); match; match = CHALLENGE_TOKEN.exec(value)) {
    if (match[1] !== undefined) tokens.push({ kind: 'word', text: match[1] });
    else if (match[2] !== undefined) tokens.push({ kind: 'quoted', text: match[2].replace(/\\(.)/g, '$1') });
    else if (match[3] !== undefined) tokens.push({ kind: 'equals', text: '=' });
    else tokens.push({ kind: 'comma', text: ',' });
  }
  return tokens;
}

/** The `scope` a pull needs. */
export function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

interface CachedToken {
  readonly value: string;
  readonly expiresAt: number;
}

/** Tokens shorter-lived than this are refreshed before use rather than risk a 401 mid-request. */
const EXPIRY_MARGIN_MS = 5_000;
const DEFAULT_TOKEN_LIFETIME_S = 60;

/** Answers one endpoint's challenges, keeping its tokens per scope for the run. */
export class Authorizer {
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** The last challenge each registry host answered with, so later requests authorize up front. */
  private readonly challenges = new Map<string, Challenge>();

  private credentials?: Promise<Credentials | undefined>;

  constructor(
    private readonly transport: Transport,
    private readonly source: CredentialSource = () => Promise.resolve(undefined),
    private readonly now: () => number = Date.now,
  ) {}

  private getCredentials(): Promise<Credentials | undefined> {
    this.credentials ??= this.source();
    return this.credentials;
  }

  /** The Authorization header for a request, from what is already known; undefined before any challenge. */
  async authorization(host: string, scope: string, signal?: AbortSignal): Promise<string | undefined> {
    const challenge = this.challenges.get(host);
    return challenge ? this.answer(challenge, scope, undefined, signal) : undefined;
  }

  /**
   * Answers a 401. `rejected` is the Authorization the registry refused: its token is replaced once, and requests
   * that were refused the same token meanwhile share the replacement.
   */
  async challenged(host: string, scope: string, values: readonly string[], rejected?: string, signal?: AbortSignal) {
    // Bearer when offered, as containerd prefers it: a registry offering both takes tokens from anyone.
    const offered = parseChallenges(values);
    const challenge = offered.find((c) => c.scheme === 'bearer') ?? offered.find((c) => c.scheme === 'basic');
    if (!challenge) {
      throw new FrozenError(
        'auth',
        `${host} requires authentication with an unsupported scheme (${values.join('; ') || 'none named'})`,
      );
    }
    this.challenges.set(host, challenge);
    return this.answer(challenge, scope, rejected, signal);
  }

  private async answer(challenge: Challenge, scope: string, rejected?: string, signal?: AbortSignal): Promise<string> {
    if (challenge.scheme === 'basic') {
      const credentials = await this.getCredentials();
      if (!credentials || !('username' in credentials)) {
        throw new FrozenError(
          'auth',
          'authentication required (Basic); give credentials (the credentials option) or log in (docker config.json)',
        );
      }
      return basicAuthorization(credentials);
    }
    const token = await this.token(challenge, scope, rejected, signal);
    return `Bearer ${token.value}`;
  }

  private async token(
    challenge: Challenge,
    scope: string,
    rejected?: string,
    signal?: AbortSignal,
  ): Promise<CachedToken> {
    const { realm, service } = challenge.params;
    if (!realm) throw new FrozenError('auth', 'Bearer challenge without a realm');
    const key = JSON.stringify([realm, service ?? '', scope]);
    const cached = this.tokens.get(key);
    const usable = cached && cached.expiresAt - EXPIRY_MARGIN_MS > this.now() && `Bearer ${cached.value}` !== rejected;
    if (cached && usable) return cached;
    // Single-flight: parallel requests that meet the same challenge share one token request.
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.fetchToken(realm, service, scope, signal).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const token = await pending;
    this.tokens.set(key, token);
    return token;
  }

  private async fetchToken(realm: string, service: string | undefined, scope: string, signal?: AbortSignal) {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new FrozenError('auth', `token realm "${realm}" is not a URL`);
    }
    const credentials = await this.getCredentials();
    let response =
      credentials && 'identityToken' in credentials
        ? await this.postToken(url, refreshGrant(credentials.identityToken), service, scope, signal)
        : await this.getToken(url, credentials, service, scope, signal);
    if (credentials && 'username' in credentials && [404, 405].includes(response.statusCode)) {
      // A token server that answers only OAuth2's POST (as some identity providers in front of registries do):
      // the password grant, as containerd falls back to it.
      await response.body.dump();
      response = await this.postToken(url, passwordGrant(credentials), service, scope, signal);
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      if (response.statusCode === 401 || response.statusCode === 403) {
        throw new FrozenError(
          'auth',
          `token server ${url.host} rejected the ${credentials ? 'credentials' : 'anonymous request'} (${response.statusCode})`,
        );
      }
      throw new FrozenError('auth', `token server ${url.host} answered ${response.statusCode}`);
    }
    // A token is a few kilobytes; a server that sends more is not trusted with this process's memory.
    const text = (await readLimited(response.body, TOKEN_RESPONSE_LIMIT, `the token from ${url.host}`)).toString(
      'utf8',
    );
    return this.parseToken(text, url.host);
  }

  /** The token spec's GET, with Basic credentials when there are any. */
  private getToken(
    url: URL,
    credentials: Credentials | undefined,
    service: string | undefined,
    scope: string,
    signal?: AbortSignal,
  ) {
    const query = new URL(url);
    if (service) query.searchParams.set('service', service);
    query.searchParams.append('scope', scope);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (credentials && 'username' in credentials) headers.authorization = basicAuthorization(credentials);
    return this.transport.send(query, { headers, ...(signal && { signal }) });
  }

  /** An OAuth2 token request (distribution's token spec, POST): a refresh-token or a password grant. */
  private postToken(
    url: URL,
    grant: Record<string, string>,
    service: string | undefined,
    scope: string,
    signal?: AbortSignal,
  ) {
    const form = new URLSearchParams({ ...grant, client_id: 'frozen', scope });
    if (service) form.set('service', service);
    return this.transport.send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      ...(signal && { signal }),
    });
  }

  private parseToken(text: string, host: string): CachedToken {
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      throw new FrozenError('auth', `token server ${host} returned invalid JSON`);
    }
    const value = typeof body.token === 'string' && body.token ? body.token : body.access_token;
    if (typeof value !== 'string' || !value) throw new FrozenError('auth', `token server ${host} returned no token`);
    const lifetime =
      typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    return { value, expiresAt: this.now() + lifetime * 1000 };
  }
}

/** The grant of an identity token (`docker login` with an identity provider). */
function refreshGrant(refreshToken: string): Record<string, string> {
  return { grant_type: 'refresh_token', refresh_token: refreshToken };
}

function passwordGrant({ username, password }: { username: string; password: string }): Record<string, string> {
  return { grant_type: 'password', username, password };
}

function basicAuthorization({ username, password }: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Parses `user:password` (the password may contain colons). */
export function parseCredentials(text: string): { username: string; password: string } {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new FrozenError('usage', 'credentials must be given as user:password');
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}
