/**
 * TLS settings per registry from a Docker-style certificate directory:
 *
 *   <certsDir>/<host[:port]>/ca.crt         trusted CA (any `*.crt` file)
 *   <certsDir>/<host[:port]>/client.cert    client certificate
 *   <certsDir>/<host[:port]>/client.key     its key
 *
 * (`/etc/docker/certs.d` for Docker, `/etc/containers/certs.d` for podman.)
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrno } from '../../errors/index.js';
import type { TlsOptions } from './http-transport.js';

export async function loadCertsDir(certsDir: string, host: string): Promise<TlsOptions> {
  const dir = join(certsDir, host.replace(/^\[|\]$/g, ''));
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return {};
    throw err;
  }
  const out: TlsOptions = {};
  const ca = await Promise.all(names.filter((n) => n.endsWith('.crt')).map((n) => readFile(join(dir, n))));
  if (ca.length) out.ca = ca;
  const certs = names.filter((n) => n.endsWith('.cert'));
  for (const c of certs) {
    const key = `${c.slice(0, -'.cert'.length)}.key`;
    if (names.includes(key)) {
      out.cert = await readFile(join(dir, c));
      out.key = await readFile(join(dir, key));
      break;
    }
  }
  return out;
}
