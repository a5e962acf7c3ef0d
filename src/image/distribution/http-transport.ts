/**
 * HTTP for the registry client, on node:http and node:https.
 *
 * Why not the global `fetch`: registries need a CA per host
 * (`certs.d/<host>/ca.crt`), which Node's bundled undici only takes through
 * an `Agent` that the public `undici` package exports; Node 20 does not
 * expose it. node:https takes `ca`, `cert` and `key` per agent, streams
 * bodies both ways with backpressure, and needs no dependency.
 *
 * One `HttpTransport` per registry endpoint keeps a keep-alive agent (the
 * registry's TLS settings). Redirects are followed here: a registry sends
 * blob GETs to storage (S3, a CDN) with a signed URL, so the
 * `Authorization` header is dropped when the origin changes.
 */
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Readable } from 'node:stream';

export interface TlsOptions {
  /** CA certificates (PEM) trusted besides the system's. */
  ca?: Buffer[];
  /** Client certificate and key (PEM), for registries that ask for one. */
  cert?: Buffer;
  key?: Buffer;
  /** false only for registries marked insecure. */
  rejectUnauthorized?: boolean;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  /** A Buffer can be re-sent (after a 401 or a redirect); a stream cannot. */
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** Fails the request when no byte arrives for this long (connect, headers or body). */
  idleTimeoutMs?: number;
  /** Follow 301/302/303/307/308 (GET and HEAD only). Default true. */
  followRedirects?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 10;

/** A single header value (the first, when repeated). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads a whole body, failing when it passes `maxBytes`. */
export async function readBody(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body) {
    n += (chunk as Buffer).length;
    if (n > maxBytes) {
      body.destroy();
      throw new RangeError(`body larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drains and discards a body so the connection can be reused. */
export function discard(body: Readable): void {
  body.resume();
  body.on('error', () => {});
}

export class HttpTransport {
  readonly #httpsAgent: https.Agent;
  readonly #httpAgent: http.Agent;
  readonly #tls: TlsOptions;

  constructor(tls: TlsOptions = {}) {
    this.#tls = tls;
    // Layers are fetched in parallel; a few sockets per host is what Docker and containerd use.
    // `ca` replaces Node's trust store; a registry's own CA is added to it, as Docker does.
    const ca = tls.ca?.length ? [...rootCertificates, ...tls.ca.map((b) => b.toString('utf8'))] : undefined;
    this.#httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 16, ...tls, ...(ca ? { ca } : {}) });
    this.#httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  }

  get tls(): TlsOptions {
    return this.#tls;
  }

  async request(url: URL, req: HttpRequest): Promise<HttpResponse> {
    let current = url;
    const headers = { ...req.headers };
    for (let hop = 0; ; hop++) {
      const res = await this.#once(current, { ...req, headers });
      const location = header(res.headers, 'location');
      const redirect = [301, 302, 303, 307, 308].includes(res.status) && location !== undefined;
      if (!redirect || req.followRedirects === false || (req.method !== 'GET' && req.method !== 'HEAD')) return res;
      discard(res.body);
      if (hop >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url.href}`);
      const next = new URL(location, current);
      if (next.origin !== current.origin) {
        // Credentials for the registry must not reach the storage it redirects to.
        delete headers.authorization;
        delete headers.Authorization;
      }
      current = next;
    }
  }

  #once(url: URL, req: HttpRequest): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const mod = isHttps ? https : http;
      const headers: Record<string, string> = { ...req.headers };
      if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length);
      const options: https.RequestOptions = {
        method: req.method,
        headers,
        signal: req.signal,
        // Same-origin requests use the registry's agent (its CA); others get system trust.
        agent: isHttps ? this.#httpsAgent : this.#httpAgent,
      };
      const r = mod.request(url, options, (res) => {
        if (req.idleTimeoutMs !== undefined) {
          res.setTimeout(req.idleTimeoutMs, () => res.destroy(new Error(`no data from ${url.host} for ${req.idleTimeoutMs} ms`)));
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
      });
      if (req.idleTimeoutMs !== undefined) {
        r.setTimeout(req.idleTimeoutMs, () => r.destroy(new Error(`no answer from ${url.host} within ${req.idleTimeoutMs} ms`)));
      }
      r.on('error', reject);
      if (req.body === undefined || Buffer.isBuffer(req.body)) {
        r.end(req.body);
      } else {
        req.body.on('error', (err) => r.destroy(err));
        req.body.pipe(r);
      }
    });
  }

  /** Closes idle sockets. Idempotent. */
  close(): void {
    this.#httpsAgent.destroy();
    this.#httpAgent.destroy();
  }
}
