/**
 * A small registry written for the tests (node:http on 127.0.0.1, port 0)
 * that serves what a test puts in it, and misbehaves on request: lying
 * digests, truncated bodies, 500s before success, garbage, redirects, and
 * Bearer token authentication with its own token endpoint. It logs every
 * request so a test can check what the client asked.
 *
 *   const reg = await startHostileRegistry();
 *   reg.putBlob(bytes);  reg.putManifest('app', '1', json);
 *   reg.faults.push({ path: /\/blobs\//, status: 500, times: 1 });
 *   after(() => reg.stop());
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

import { listenLocal, sendBody } from './http-server.js';

export interface Fault {
  /** Which requests (matched on `METHOD path`). */
  match: RegExp;
  /** What to do: answer a status, cut the body after `bytes`, or redirect. */
  action: { status: number } | { truncateAfter: number } | { redirect: string };
  /** How many matching requests it applies to; Infinity for all. */
  times: number;
}

export interface LoggedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface HostileRegistry {
  host: string;
  url: string;
  /** `localhost:PORT`: the same server under another origin (for cross-origin redirects). */
  otherOrigin: string;
  log: LoggedRequest[];
  faults: Fault[];
  /** Tokens issued, with the scopes asked. */
  tokens: Array<{ scope: string[]; service: string | null; authorization: string | undefined }>;
  putBlob(bytes: Buffer, options?: { servedBytes?: Buffer }): string;
  /** Stores a manifest under a tag (and its digest); `digestHeader` overrides Docker-Content-Digest. */
  putManifest(repo: string, tag: string, body: Buffer | string, options?: { mediaType?: string; digestHeader?: string; servedBody?: Buffer | string }): string;
  stop(): Promise<void>;
}

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export async function startHostileRegistry(options: { bearer?: boolean } = {}): Promise<HostileRegistry> {
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, { body: Buffer; mediaType: string; digestHeader: string }>();
  const log: LoggedRequest[] = [];
  const faults: Fault[] = [];
  const tokens: HostileRegistry['tokens'] = [];
  let base = '';

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', base);
    log.push({ method: req.method ?? '', path: url.pathname, headers: req.headers });
    if (url.pathname === '/token') {
      tokens.push({ scope: url.searchParams.getAll('scope'), service: url.searchParams.get('service'), authorization: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ token: `tok-${url.searchParams.getAll('scope').join('+')}`, expires_in: 300 }));
      return;
    }
    const key = `${req.method} ${url.pathname}`;
    let truncateAfter: number | undefined;
    for (const f of faults) {
      if (f.times <= 0 || !f.match.test(key)) continue;
      f.times--;
      if ('status' in f.action) {
        res.statusCode = f.action.status;
        res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'injected failure' }] }));
        return;
      }
      if ('redirect' in f.action) {
        res.statusCode = 307;
        res.setHeader('location', f.action.redirect.replace('{path}', url.pathname));
        res.end();
        return;
      }
      truncateAfter = f.action.truncateAfter;
      break;
    }
    if (options.bearer && url.pathname.startsWith('/v2/') && !url.pathname.startsWith('/v2/storage/')) {
      const repo = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname)?.[1];
      const got = req.headers.authorization?.replace(/^Bearer /, '');
      if (!got || (repo && !got.includes(`repository:${repo}:pull`))) {
        res.statusCode = 401;
        res.setHeader('www-authenticate', `Bearer realm="${base}/token",service="hostile",scope="repository:${repo ?? ''}:pull"`);
        res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
        return;
      }
    }
    if (url.pathname === '/v2/') {
      res.end('{}');
      return;
    }
    const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    if (m) {
      const entry = manifests.get(`${m[1]}:${m[2]}`);
      if (!entry) {
        res.statusCode = 404;
        res.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
        return;
      }
      res.setHeader('content-type', entry.mediaType);
      res.setHeader('docker-content-digest', entry.digestHeader);
      res.setHeader('content-length', entry.body.length);
      res.end(req.method === 'HEAD' ? undefined : entry.body);
      return;
    }
    const b = /^\/v2\/(?:storage|.+\/blobs)\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
    if (b) {
      const body = blobs.get(b[1]!);
      if (!body) {
        res.statusCode = 404;
        res.end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
        return;
      }
      res.setHeader('docker-content-digest', b[1]!);
      sendBody(req, res, body, truncateAfter);
      return;
    }
    res.statusCode = 404;
    res.end();
  };

  const { port, url, stop } = await listenLocal(handle);
  base = url;
  return {
    host: `127.0.0.1:${port}`,
    url: base,
    otherOrigin: `localhost:${port}`,
    log,
    faults,
    tokens,
    putBlob(bytes, opts = {}) {
      const d = sha(bytes);
      blobs.set(d, opts.servedBytes ?? bytes);
      return d;
    },
    putManifest(repo, tag, body, opts = {}) {
      const bytes = Buffer.from(body);
      const d = sha(bytes);
      const served = opts.servedBody !== undefined ? Buffer.from(opts.servedBody) : bytes;
      const entry = { body: served, mediaType: opts.mediaType ?? 'application/vnd.oci.image.manifest.v1+json', digestHeader: opts.digestHeader ?? d };
      manifests.set(`${repo}:${tag}`, entry);
      manifests.set(`${repo}:${d}`, entry);
      return d;
    },
    stop,
  };
}
