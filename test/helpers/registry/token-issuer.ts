/**
 * A token server for the tests, speaking Docker's token protocol
 * (distribution's docs/spec/auth/token.md) on 127.0.0.1, for a
 * `docker-registry` configured with `auth.token` to trust it:
 *
 *   GET /token?service=S&scope=repository:a/app:pull,push&scope=...
 *   Authorization: Basic ...                     (none: anonymous)
 *   -> 200 {"token","access_token","expires_in","issued_at"}
 *   -> 401 when the credentials are wrong
 *
 * As Docker Hub does, a scope the user may not have is left out of the
 * token rather than refused outright; the registry then answers 401
 * `insufficient_scope`. Every request is recorded with what was asked,
 * granted and left out, so tests can assert the scopes a client asked for.
 *
 * Tokens are JWTs signed with ES256 by a key whose certificate, issued by a
 * CA made here with the openssl CLI, is the header's `x5c` chain. That is
 * what distribution 2.8 checks (registry/auth/token/token.go): `iss` is the
 * configured issuer, `aud` the service, `exp`/`nbf` within 60 s of leeway,
 * the chain verifies to `rootcertbundle`, and the signature (libtrust: raw
 * r||s for ECDSA) with the leaf's key; then each request needs its
 * `{type, name, action}` in the `access` claim.
 *
 *   const issuer = await startTokenIssuer({ users: { alice: { password: 'pw', grants: [{ repository: 'a/*', actions: ['pull', 'push'] }] } } });
 *   const reg = await startDockerRegistry({ token: issuer.registryConfig });
 *   after(() => Promise.all([reg.stop(), issuer.stop()]));
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';

import { TEST_TMP_PREFIX, testTmpRoot } from '../paths.js';
import { listenLocal } from './http-server.js';

export type TokenAction = 'pull' | 'push' | 'delete' | '*';

/** What a user may do: `repository` is a name, or a prefix ending in `/*` (`a/*` is every repository under `a/`). */
export interface TokenGrant {
  repository: string;
  actions: readonly TokenAction[];
}

export interface TokenUser {
  password: string;
  grants: readonly TokenGrant[];
}

/** How the next token is spoiled, to check that the registry verifies it. */
export type TokenFault = 'expired' | 'untrusted-key' | 'wrong-audience' | 'wrong-issuer';

export interface TokenIssuerOptions {
  users?: Record<string, TokenUser>;
  /** What requests without credentials get. Default: nothing. */
  anonymous?: readonly TokenGrant[];
  /** The registry's name, the `aud` of tokens. Default `berth-test-registry`. */
  service?: string;
  /** The `iss` of tokens. Default `berth-test-issuer`. */
  issuer?: string;
  /** Lifetime given to tokens (the claim and `expires_in`). Default 300. */
  expiresInSeconds?: number;
}

export interface TokenRequest {
  /** The Basic user name, undefined for anonymous requests. */
  user: string | undefined;
  service: string | null;
  /** The `scope` parameters as sent, one entry each. */
  scopes: string[];
  /** `type:name:action` triples put in the token. */
  granted: string[];
  /** `type:name:action` triples asked for and left out. */
  refused: string[];
  /** 200, or 401 for bad credentials. */
  status: number;
  fault?: TokenFault;
  /** The token issued (on 200). */
  token?: string;
}

/** distribution's `auth.token` settings for a registry that trusts this issuer. */
export interface RegistryTokenConfig {
  realm: string;
  service: string;
  issuer: string;
  rootcertbundle: string;
}

export interface TokenIssuer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  /** The CA certificate (PEM file) that the registry's `rootcertbundle` names. */
  rootCertBundle: string;
  registryConfig: RegistryTokenConfig;
  requests: TokenRequest[];
  /** Users, changeable between tests. */
  users: Record<string, TokenUser>;
  /** Spoils the next tokens issued, one fault each, in order. */
  faults: TokenFault[];
  /** Lifetime of the next tokens. */
  expiresInSeconds: number;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Signer {
  key: KeyObject;
  /** DER certificates, leaf first, base64 (standard, padded) as `x5c` wants. */
  x5c: string[];
}

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC_P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA, and a signing key with a certificate from it; and a second, self-signed key the registry does not trust. */
async function makeKeys(dir: string): Promise<{ signer: Signer; untrusted: Signer; caPath: string }> {
  const p = (n: string): string => join(dir, n);
  openssl('req', '-x509', ...EC_P256, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=berth test token CA');
  openssl('req', ...EC_P256, '-keyout', p('signer.key'), '-out', p('signer.csr'), '-subj', '/CN=berth test token issuer');
  await writeFile(p('signer.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n');
  openssl('x509', '-req', '-in', p('signer.csr'), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', p('signer.crt'), '-days', '2', '-extfile', p('signer.cnf'));
  openssl('req', '-x509', ...EC_P256, '-keyout', p('rogue.key'), '-out', p('rogue.crt'), '-days', '2', '-subj', '/CN=berth test token issuer');
  const load = async (keyFile: string, certFile: string): Promise<Signer> => ({
    key: createPrivateKey(await readFile(p(keyFile))),
    x5c: [new X509Certificate(await readFile(p(certFile))).raw.toString('base64')],
  });
  return { signer: await load('signer.key', 'signer.crt'), untrusted: await load('rogue.key', 'rogue.crt'), caPath: p('ca.crt') };
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** A compact JWS, ES256: the signature is r||s (IEEE P1363), as JOSE and libtrust want, not DER. */
function signJwt(signer: Signer, claims: object): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: signer.x5c };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = sign('sha256', Buffer.from(input), { key: signer.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(signature)}`;
}

function grantedActions(grants: readonly TokenGrant[], repository: string): Set<string> {
  const out = new Set<string>();
  for (const g of grants) {
    const matches = g.repository.endsWith('/*') ? repository.startsWith(g.repository.slice(0, -1)) : g.repository === repository;
    if (!matches) continue;
    for (const a of g.actions) {
      if (a === '*') ['pull', 'push', 'delete'].forEach((x) => out.add(x));
      else out.add(a);
    }
  }
  return out;
}

/** `repository:a/b:pull,push` → type, name, actions. The name may hold `:` (a port), so actions follow the last one. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: scope.slice(last + 1).split(',').filter(Boolean) };
}

function basicUser(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+(.+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export async function startTokenIssuer(options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
  const dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}token-issuer-`));
  let keys: Awaited<ReturnType<typeof makeKeys>>;
  try {
    keys = await makeKeys(dir);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const service = options.service ?? 'berth-test-registry';
  const issuerName = options.issuer ?? 'berth-test-issuer';

  const state: Pick<TokenIssuer, 'requests' | 'users' | 'faults' | 'expiresInSeconds'> = {
    requests: [],
    users: { ...(options.users ?? {}) },
    faults: [],
    expiresInSeconds: options.expiresInSeconds ?? 300,
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://issuer');
    if (url.pathname !== '/token' || req.method !== 'GET') {
      res.statusCode = 404;
      res.end();
      return;
    }
    const scopes = url.searchParams.getAll('scope');
    const record: TokenRequest = { user: undefined, service: url.searchParams.get('service'), scopes, granted: [], refused: [], status: 200 };
    state.requests.push(record);
    const basic = basicUser(req.headers.authorization);
    let grants: readonly TokenGrant[] = options.anonymous ?? [];
    if (basic) {
      record.user = basic.user;
      const user = state.users[basic.user];
      if (!user || user.password !== basic.password) {
        record.status = 401;
        res.statusCode = 401;
        res.setHeader('content-type', 'application/json');
        res.setHeader('www-authenticate', 'Basic realm="berth-test-issuer"');
        res.end(JSON.stringify({ details: 'incorrect username or password' }));
        return;
      }
      grants = user.grants;
    }
    const access: Array<{ type: string; name: string; actions: string[] }> = [];
    for (const scope of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
      const parsed = parseScope(scope);
      if (!parsed) continue;
      const allowed = parsed.type === 'repository' ? grantedActions(grants, parsed.name) : new Set<string>();
      const ok = parsed.actions.filter((a) => allowed.has(a));
      for (const a of parsed.actions) (ok.includes(a) ? record.granted : record.refused).push(`${parsed.type}:${parsed.name}:${a}`);
      if (ok.length) access.push({ type: parsed.type, name: parsed.name, actions: ok });
    }
    const fault = state.faults.shift();
    if (fault) record.fault = fault;
    const now = Math.floor(Date.now() / 1000);
    const lifetime = state.expiresInSeconds;
    // distribution allows 60 s of clock skew on exp: an expired token is well past it.
    const exp = fault === 'expired' ? now - 600 : now + lifetime;
    const claims = {
      iss: fault === 'wrong-issuer' ? `${issuerName}-other` : issuerName,
      sub: basic?.user ?? '',
      aud: fault === 'wrong-audience' ? `${service}-other` : service,
      exp,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const token = signJwt(fault === 'untrusted-key' ? keys.untrusted : keys.signer, claims);
    record.token = token;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ token, access_token: token, expires_in: lifetime, issued_at: new Date(now * 1000).toISOString() }));
  };

  const { url, stop: stopServer } = await listenLocal(handle);
  const realm = `${url}/token`;
  const stop = async (): Promise<void> => {
    await stopServer();
    await rm(dir, { recursive: true, force: true });
  };
  const issuer: TokenIssuer = {
    url,
    realm,
    service,
    issuer: issuerName,
    rootCertBundle: keys.caPath,
    registryConfig: { realm, service, issuer: issuerName, rootcertbundle: keys.caPath },
    get requests() {
      return state.requests;
    },
    get users() {
      return state.users;
    },
    get faults() {
      return state.faults;
    },
    get expiresInSeconds() {
      return state.expiresInSeconds;
    },
    set expiresInSeconds(v: number) {
      state.expiresInSeconds = v;
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
  return issuer;
}
