/**
 * Credentials from a Docker `config.json` (`~/.docker/config.json`, or
 * `$DOCKER_CONFIG/config.json`): its `auths` section, keyed by registry host
 * as `docker login` writes it (`https://index.docker.io/v1/` for Docker
 * Hub, `host:port` or `https://host:port` for others). Credential helpers
 * (`credsStore`, `credHelpers`) are not run.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError, isErrno } from '../../errors/index.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (`identitytoken`), exchanged at the token realm. */
  identityToken?: string;
}

/** Looks up credentials by registry host. */
export type CredentialLookup = (host: string) => Credentials | undefined;

/** The key a config.json entry is stored under, reduced to a host: scheme and path dropped, Docker Hub's aliases folded. */
export function normalizeAuthKey(key: string): string {
  let host = key.trim().replace(/^[a-z]+:\/\//i, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  host = host.toLowerCase();
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'registry.hub.docker.com') return 'docker.io';
  return host;
}

/** Parses the `auths` of a config.json into a lookup. Bad entries fail naming the key. */
export function credentialsFromDockerConfig(config: unknown, source = 'config.json'): CredentialLookup {
  const table = new Map<string, Credentials>();
  const auths = (config as { auths?: unknown } | null)?.auths;
  if (auths !== undefined && (typeof auths !== 'object' || auths === null)) {
    throw new BerthError('ARGUMENT_INVALID', `${source}: \`auths\` must be an object`);
  }
  for (const [key, entry] of Object.entries((auths ?? {}) as Record<string, unknown>)) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const creds: Credentials = {};
    if (typeof e.auth === 'string' && e.auth !== '') {
      const decoded = Buffer.from(e.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) throw new BerthError('ARGUMENT_INVALID', `${source}: \`auths["${key}"].auth\` is not base64 of user:password`);
      creds.username = decoded.slice(0, colon);
      creds.password = decoded.slice(colon + 1);
    }
    if (typeof e.username === 'string' && e.username) creds.username = e.username;
    if (typeof e.password === 'string' && e.password) creds.password = e.password;
    if (typeof e.identitytoken === 'string' && e.identitytoken) creds.identityToken = e.identitytoken;
    if (creds.username || creds.identityToken) table.set(normalizeAuthKey(key), creds);
  }
  return (host) => table.get(normalizeAuthKey(host));
}

/** Reads a config.json; a missing file means no credentials. Default path: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`. */
export async function loadDockerConfig(path?: string): Promise<CredentialLookup> {
  const file = path ?? join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return () => undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BerthError('ARGUMENT_INVALID', `${file} is not valid JSON`, { cause: err });
  }
  return credentialsFromDockerConfig(json, file);
}
