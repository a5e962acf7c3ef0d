/**
 * Registry authentication: the `WWW-Authenticate` challenge flow of the
 * distribution spec (docs/spec/auth/token.md), as Docker Hub, GHCR and Quay
 * use it.
 *
 *   1. A request without credentials gets 401 and
 *      `WWW-Authenticate: Bearer realm="https://auth/token",service="reg",scope="repository:app:pull"`.
 *   2. The client asks the realm for a token for that service and scope,
 *      with Basic credentials when it has some (or a refresh token by POST).
 *   3. It retries with `Authorization: Bearer <token>`, and keeps the token
 *      for the scope until it expires.
 *
 * `Basic realm=...` challenges get the user's credentials directly. The
 * challenge is remembered per host, so later scopes get their token before
 * the first request instead of after a 401.
 */
import { BerthError } from '../../errors/index.js';
import type { Credentials } from './credentials.js';
import { header, readBody, type HttpTransport } from './http-transport.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` header (RFC 7235): one or more challenges,
 * each a scheme and comma-separated `key=value` or `key="quoted \" value"`.
 */
export function parseChallenges(value: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = value.length;
  const skip = (): void => {
    while (i < n && (value[i] === ' ' || value[i] === '\t' || value[i] === ',')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && !/[\s,=]/.test(value[i]!)) i++;
    return value.slice(start, i);
  };
  while (true) {
    skip();
    if (i >= n) break;
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    while (true) {
      skip();
      const save = i;
      const key = token();
      while (i < n && value[i] === ' ') i++;
      if (!key || value[i] !== '=') {
        // Not a parameter: the start of the next challenge.
        i = save;
        break;
      }
      i++;
      while (i < n && value[i] === ' ') i++;
      let v = '';
      if (value[i] === '"') {
        i++;
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++;
          v += value[i];
          i++;
        }
        i++;
      } else {
        const start = i;
        while (i < n && value[i] !== ',') i++;
        v = value.slice(start, i).trim();
      }
      challenge.params[key.toLowerCase()] = v;
    }
  }
  return out;
}

/** `repository:<name>:pull` or `repository:<name>:pull,push`. */
export function repositoryScope(repository: string, actions: readonly ('pull' | 'push')[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

export interface AuthorizerOptions {
  transport: HttpTransport;
  /** Credentials for the registry host, if any. */
  credentials?: Credentials;
  /** Transport for realms on another host (system trust). */
  realmTransport?: HttpTransport;
  userAgent: string;
  signal?: AbortSignal;
  now?: () => number;
}

/** Authorization for one registry host. */
export class Authorizer {
  readonly #opts: AuthorizerOptions;
  #challenge: Challenge | undefined;
  /** The endpoint that sent the challenge, for messages. */
  #endpoint = 'the registry';
  readonly #tokens = new Map<string, CachedToken>();
  readonly #pending = new Map<string, Promise<string>>();

  constructor(opts: AuthorizerOptions) {
    this.#opts = opts;
  }

  get #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** The `Authorization` value for a request with this scope, when the host's scheme is known. */
  async authorization(scope: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    const c = this.#challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') return this.#basic();
    if (c.scheme === 'bearer') return `Bearer ${await this.#token(scope, signal)}`;
    return undefined;
  }

  /** Who requests are made as, for messages: the user name, or undefined when anonymous. */
  get identity(): string | undefined {
    const c = this.#opts.credentials;
    return c?.username || (c?.identityToken ? 'an identity token' : undefined);
  }

  /**
   * Takes a 401's challenge. Returns true when the request is worth
   * retrying (a new scheme, or a token that may have gone stale); false
   * when the same credentials were already refused. `endpoint` names the
   * server in messages (`registry 127.0.0.1:5000`, `mirror https://m`).
   */
  handleUnauthorized(wwwAuthenticate: string | undefined, scope: string | undefined, endpoint: string): boolean {
    const challenges = wwwAuthenticate ? parseChallenges(wwwAuthenticate) : [];
    const chosen = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!chosen) {
      throw new BerthError('REGISTRY_UNAUTHORIZED', `${endpoint} refused the request and offers no supported authentication (${wwwAuthenticate ?? 'no WWW-Authenticate header'})`);
    }
    const before = this.#challenge;
    this.#challenge = chosen;
    this.#endpoint = endpoint;
    if (chosen.scheme === 'basic') {
      if (!this.#opts.credentials?.username) {
        throw new BerthError('REGISTRY_UNAUTHORIZED', `${endpoint} needs a username and password; log in first`);
      }
      return before?.scheme !== 'basic';
    }
    const key = this.#key(scope, chosen);
    const had = this.#tokens.has(key);
    this.#tokens.delete(key);
    // A token we had may have been revoked or lacked a scope the server now asks for: one retry.
    return before?.scheme !== 'bearer' || before.params.realm !== chosen.params.realm || had || (chosen.params.scope ?? '') !== (scope ?? '');
  }

  #basic(): string {
    const c = this.#opts.credentials;
    return `Basic ${Buffer.from(`${c?.username ?? ''}:${c?.password ?? ''}`).toString('base64')}`;
  }

  #key(scope: string | undefined, c: Challenge): string {
    return `${c.params.realm}\n${c.params.service ?? ''}\n${scope ?? c.params.scope ?? ''}`;
  }

  async #token(scope: string | undefined, signal?: AbortSignal): Promise<string> {
    const c = this.#challenge!;
    const key = this.#key(scope, c);
    const cached = this.#tokens.get(key);
    if (cached && cached.expiresAt > this.#now) return cached.value;
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#fetchToken(c, scope ?? c.params.scope, signal)
        .then((t) => {
          this.#tokens.set(key, t);
          return t.value;
        })
        .finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }

  async #fetchToken(c: Challenge, scope: string | undefined, signal?: AbortSignal): Promise<CachedToken> {
    const realm = c.params.realm;
    if (!realm) throw new BerthError('REGISTRY_PROTOCOL', 'bearer challenge without a realm');
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new BerthError('REGISTRY_PROTOCOL', `bearer challenge has an invalid realm \`${realm}\``);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BerthError('REGISTRY_PROTOCOL', `bearer realm \`${realm}\` is not http(s)`);
    const creds = this.#opts.credentials;
    const transport = this.#opts.realmTransport ?? this.#opts.transport;
    const headers: Record<string, string> = { 'user-agent': this.#opts.userAgent, accept: 'application/json' };
    let res;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant (what `docker login` stores for some registries).
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identityToken, client_id: 'berth' });
      if (c.params.service) form.set('service', c.params.service);
      if (scope) form.set('scope', scope);
      headers['content-type'] = 'application/x-www-form-urlencoded';
      res = await transport.request(url, { method: 'POST', headers, body: Buffer.from(form.toString()), signal, idleTimeoutMs: 30_000 });
    } else {
      if (c.params.service) url.searchParams.set('service', c.params.service);
      if (scope) for (const s of scope.split(' ')) url.searchParams.append('scope', s);
      if (creds?.username) headers.authorization = this.#basic();
      res = await transport.request(url, { method: 'GET', headers, signal, idleTimeoutMs: 30_000 });
    }
    const body = await readBody(res.body, 1 << 20);
    if (res.status === 401 || res.status === 403) {
      throw new BerthError(
        'REGISTRY_UNAUTHORIZED',
        `token service ${url.host} of ${this.#endpoint} refused ${creds?.username ? `the credentials of \`${creds.username}\`` : 'anonymous access'} for \`${scope ?? ''}\``,
      );
    }
    if (res.status !== 200) {
      throw new BerthError(res.status >= 500 ? 'REGISTRY_UNAVAILABLE' : 'REGISTRY_PROTOCOL', `token service ${url.host} of ${this.#endpoint} answered ${res.status} for \`${scope ?? ''}\``);
    }
    let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      throw new BerthError('REGISTRY_PROTOCOL', `token service ${url.host} sent a body that is not JSON`);
    }
    const value = typeof json.token === 'string' ? json.token : typeof json.access_token === 'string' ? json.access_token : undefined;
    if (!value) throw new BerthError('REGISTRY_PROTOCOL', `token service ${url.host} sent no token`);
    // The spec's default lifetime is 60 s; renew 10 s early.
    const lifetime = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
    return { value, expiresAt: this.#now + Math.max(1, lifetime - 10) * 1000 };
  }

  /** The host's last challenge header from a response, for tests and diagnostics. */
  static challengeOf(headers: import('node:http').IncomingHttpHeaders): string | undefined {
    return header(headers, 'www-authenticate');
  }
}
