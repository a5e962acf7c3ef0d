/**
 * Starts Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 for a
 * test: filesystem storage in a temp dir, optionally htpasswd Basic auth,
 * token auth (trusting a test issuer, see token-issuer.ts), TLS, and
 * pull-through cache mode (`proxy`, a mirror of another registry). Stop it
 * with `stop()` (or `await using`), which kills it by pid and removes its
 * directory.
 *
 *   const reg = await startDockerRegistry({ htpasswd: { username: 'u', password: 'p' } });
 *   const mirror = await startDockerRegistry({ proxy: { remoteurl: reg.url } });
 *   after(() => Promise.all([mirror.stop(), reg.stop()]));
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import bcrypt from 'bcryptjs';

import { TEST_TMP_PREFIX, testTmpRoot } from '../paths.js';

export const DOCKER_REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryServer {
  /** `127.0.0.1:PORT`, the host part of references. */
  host: string;
  port: number;
  url: string;
  dir: string;
  pid: number;
  /** Whether the registry's storage holds this blob (a pull-through cache stores what it served, in the background). */
  hasBlob(digest: string): boolean;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface StartRegistryOptions {
  htpasswd?: { username: string; password: string };
  tls?: { certPath: string; keyPath: string; caPem: Buffer };
  /** Bearer token auth (`auth.token`): the issuer's realm, the service and issuer names, and the CA bundle its certificates chain to. */
  token?: { realm: string; service: string; issuer: string; rootcertbundle: string };
  /** Pull-through cache of `remoteurl` (pushes are refused in this mode), with credentials for the remote if it needs them. */
  proxy?: { remoteurl: string; username?: string; password?: string };
  /**
   * `validation.manifests.urls`: regular expressions for the descriptor
   * `urls` a pushed manifest may carry (foreign and non-distributable
   * layers). Without `allow`, distribution 2.8 refuses every manifest with
   * urls; a layer with urls need not be in the registry.
   */
  manifestUrls?: { allow: string[]; deny?: string[] };
}

/** A YAML double-quoted scalar (JSON's string syntax is a subset). */
const yamlString = (s: string): string => JSON.stringify(s);

/** A port free on 127.0.0.1 now (the kernel picks it; the registry binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

function ping(url: string, caPem?: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = (url.startsWith('https:') ? httpsRequest : httpRequest)(`${url}/v2/`, { method: 'GET', ca: caPem, timeout: 1000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startDockerRegistry(options: StartRegistryOptions = {}): Promise<RegistryServer> {
  if (options.htpasswd && options.token) throw new Error('startDockerRegistry: htpasswd and token auth are exclusive');
  const dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}registry-`));
  const port = await freePort();
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '  secret: berth-test-secret',
  ];
  if (options.tls) lines.push('  tls:', `    certificate: ${options.tls.certPath}`, `    key: ${options.tls.keyPath}`);
  if (options.htpasswd) {
    const file = join(dir, 'htpasswd');
    // distribution reads bcrypt only; bcryptjs writes the $2b$ form it accepts.
    await writeFile(file, `${options.htpasswd.username}:${bcrypt.hashSync(options.htpasswd.password, 5)}\n`);
    lines.push('auth:', '  htpasswd:', '    realm: berth-test', `    path: ${file}`);
  }
  if (options.token) {
    const t = options.token;
    lines.push('auth:', '  token:', `    realm: ${yamlString(t.realm)}`, `    service: ${yamlString(t.service)}`, `    issuer: ${yamlString(t.issuer)}`, `    rootcertbundle: ${yamlString(t.rootcertbundle)}`);
  }
  if (options.proxy) {
    const p = options.proxy;
    lines.push('proxy:', `  remoteurl: ${yamlString(p.remoteurl)}`);
    if (p.username !== undefined) lines.push(`  username: ${yamlString(p.username)}`);
    if (p.password !== undefined) lines.push(`  password: ${yamlString(p.password)}`);
  }
  if (options.manifestUrls) {
    const u = options.manifestUrls;
    lines.push('validation:', '  manifests:', '    urls:', '      allow:', ...u.allow.map((r) => `        - ${yamlString(r)}`));
    if (u.deny?.length) lines.push('      deny:', ...u.deny.map((r) => `        - ${yamlString(r)}`));
  }
  const config = join(dir, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn(DOCKER_REGISTRY_BIN, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const scheme = options.tls ? 'https' : 'http';
  const url = `${scheme}://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await ping(url, options.tls?.caPem))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const hasBlob = (digest: string): boolean => {
    const [algorithm, hex] = digest.split(':') as [string, string];
    return existsSync(join(dir, 'data/docker/registry/v2/blobs', algorithm, hex.slice(0, 2), hex, 'data'));
  };
  return { host: `127.0.0.1:${port}`, port, url, dir, pid: child.pid!, hasBlob, stop, [Symbol.asyncDispose]: stop };
}
