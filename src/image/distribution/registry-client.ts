/**
 * A client for the OCI Distribution Specification (and Docker Registry v2,
 * its ancestor): resolve references, fetch manifests and blobs, push blobs
 * and manifests. Pull and push orchestration (`pullImage`, `pushImage`)
 * sit on top of it.
 *
 * Per registry host it keeps one endpoint: HTTPS, or plain HTTP for
 * loopback hosts and hosts marked insecure (after an HTTPS attempt fails
 * its handshake, as Docker does); TLS trust from `certs.d/<host>/`; and an
 * `Authorizer` that follows the host's `WWW-Authenticate` challenge. Every
 * manifest is checked against the digest it was asked by, or the
 * `Docker-Content-Digest` the server claims, before anyone parses it
 * (DESIGN.md rule 6).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BerthError, isBerthError } from '../../errors/index.js';
import { parseDigest } from '../digest/digest.js';
import { ACCEPT_MANIFESTS } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse-manifest.js';
import type { Descriptor, ParsedManifest } from '../manifest/types.js';
import { formatReference, parseDockerReference, type ImageReference } from '../reference/index.js';
import { Authorizer, repositoryScope } from './auth.js';
import { loadCertsDir } from './certs-dir.js';
import type { CredentialLookup } from './credentials.js';
import { discard, header, HttpTransport, readBody, type HttpRequest, type HttpResponse, type TlsOptions } from './http-transport.js';
import { isNetworkError, isRetryableStatus, RetryableError, withRetry, type RetryOptions } from './retry.js';

/** Manifests larger than this are refused (containerd's limit). */
export const MAX_MANIFEST_BYTES = 4 << 20;

export interface RegistryClientOptions {
  /** Credentials per registry host (see `loadDockerConfig`). */
  credentials?: CredentialLookup;
  /** Hosts (`host[:port]`) where plain HTTP and unverified TLS are allowed. Loopback hosts may use plain HTTP always. */
  insecureRegistries?: readonly string[];
  /** A Docker-style `certs.d` directory: `<certsDir>/<host[:port]>/ca.crt`, `client.cert`, `client.key`. */
  certsDir?: string;
  /** TLS settings per host, over what `certsDir` gives (tests hand in a CA this way). */
  tls?: Record<string, TlsOptions>;
  retry?: RetryOptions;
  /** Fails a request when nothing arrives for this long. Default 60 s. */
  idleTimeoutMs?: number;
  userAgent?: string;
}

export interface ResolvedManifest {
  /** The reference with its tag (and the digest it resolved to). */
  ref: ImageReference;
  descriptor: Descriptor;
  /** The verified bytes, when they were fetched to resolve (GET by tag, or by digest). */
  bytes?: Buffer;
}

export interface FetchedManifest {
  descriptor: Descriptor;
  bytes: Buffer;
  parsed: ParsedManifest;
}

export interface BlobUploadOptions {
  /** Repository (same registry) to mount the blob from instead of uploading it. */
  mountFrom?: string;
  /** Upload in PATCH chunks of this size; by default one PUT (monolithic). */
  chunkSizeBytes?: number;
  signal?: AbortSignal;
}

/** How a pushed blob got there. */
export type BlobPushResult = 'exists' | 'mounted' | 'uploaded';

interface HostState {
  domain: string;
  base: URL;
  transport: HttpTransport;
  authorizer: Authorizer;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/;

function endpointHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

function toRef(ref: ImageReference | string): ImageReference {
  return typeof ref === 'string' ? parseDockerReference(ref) : ref;
}

/** TLS failures that mean "this port speaks plain HTTP". */
function isTlsHandshakeError(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code ?? '';
  return code === 'EPROTO' || code.startsWith('ERR_SSL_') || code === 'ECONNRESET' || /wrong version number|packet length too long/i.test(String((err as Error)?.message));
}

/** Reads a registry's error body (`{"errors":[{"code","message"}]}`) into a short text. */
async function registryErrorText(res: HttpResponse): Promise<string> {
  let text = '';
  try {
    const body = await readBody(res.body, 64 << 10);
    const json = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const first = json.errors?.[0];
    if (first) text = [first.code, first.message].filter(Boolean).join(': ');
  } catch {
    discard(res.body);
  }
  return text ? ` (${text})` : '';
}

export class RegistryClient {
  readonly #opts: RegistryClientOptions;
  readonly #hosts = new Map<string, Promise<HostState>>();
  readonly #userAgent: string;

  constructor(options: RegistryClientOptions = {}) {
    this.#opts = options;
    this.#userAgent = options.userAgent ?? 'berth/0.1';
  }

  get retryOptions(): RetryOptions {
    return this.#opts.retry ?? {};
  }

  #insecure(domain: string): boolean {
    return this.#opts.insecureRegistries?.includes(domain) ?? false;
  }

  #host(domain: string, signal?: AbortSignal): Promise<HostState> {
    let p = this.#hosts.get(domain);
    if (!p) {
      p = this.#openHost(domain, signal);
      p.catch(() => this.#hosts.delete(domain));
      this.#hosts.set(domain, p);
    }
    return p;
  }

  /**
   * Picks the endpoint and learns its authentication: `GET /v2/` over HTTPS,
   * then plain HTTP when allowed and the HTTPS handshake failed. A 401 here
   * gives the challenge before the first real request.
   */
  async #openHost(domain: string, signal?: AbortSignal): Promise<HostState> {
    const host = endpointHost(domain);
    const insecure = this.#insecure(domain);
    const tls: TlsOptions = { ...(this.#opts.certsDir ? await loadCertsDir(this.#opts.certsDir, domain) : {}), ...this.#opts.tls?.[domain] };
    if (insecure) tls.rejectUnauthorized = false;
    const transport = new HttpTransport(tls);
    const authorizer = new Authorizer({ transport, credentials: this.#opts.credentials?.(domain), userAgent: this.#userAgent });
    const schemes = insecure || LOOPBACK.test(domain) ? ['https:', 'http:'] : ['https:'];
    let lastError: unknown;
    for (const scheme of schemes) {
      const base = new URL(`${scheme}//${host}/`);
      try {
        const res = await withRetry(
          async () => {
            const r = await transport.request(new URL('/v2/', base), { method: 'GET', headers: { 'user-agent': this.#userAgent }, signal, idleTimeoutMs: this.#idle });
            discard(r.body);
            if (isRetryableStatus(r.status)) throw new RetryableError(`status ${r.status}`, new BerthError('REGISTRY_UNAVAILABLE', `registry ${domain} answered ${r.status} to /v2/`));
            return r;
          },
          `registry ${domain} (${base.origin})`,
          // A handshake failure is not worth retrying: it is the signal to try plain HTTP.
          { ...this.retryOptions, signal, ...(scheme === 'https:' && schemes.length > 1 ? { attempts: 1 } : {}) },
        );
        if (res.status === 401) authorizer.handleUnauthorized(header(res.headers, 'www-authenticate'), undefined, domain);
        else if (res.status !== 200 && res.status !== 404) {
          // Some registries answer /v2/ oddly; the real requests will tell.
        }
        return { domain, base, transport, authorizer };
      } catch (err) {
        lastError = err;
        const cause = isBerthError(err) ? (err.cause ?? err) : err;
        if (scheme === 'https:' && schemes.length > 1 && (isTlsHandshakeError(cause) || isTlsHandshakeError(err))) continue;
        if (isBerthError(err)) throw err;
        break;
      }
    }
    transport.close();
    const message = (lastError as Error)?.message ?? String(lastError);
    if (/certificate|self.signed|unable to verify/i.test(message)) {
      throw new BerthError('REGISTRY_UNAVAILABLE', `registry ${domain}: TLS verification failed (${message}); add its CA to certs.d/${domain}/ca.crt or mark it insecure`, { cause: lastError });
    }
    throw new BerthError('REGISTRY_UNAVAILABLE', `registry ${domain} cannot be reached: ${message}`, { cause: lastError });
  }

  get #idle(): number {
    return this.#opts.idleTimeoutMs ?? 60_000;
  }

  /**
   * Sends one request to the registry with authorization for `scope`; on a
   * 401 takes the challenge and retries once (when the body can be re-sent).
   */
  async #send(ref: ImageReference, target: string | URL, scope: string, req: HttpRequest): Promise<HttpResponse> {
    const h = await this.#host(ref.domain, req.signal);
    const url = typeof target === 'string' ? new URL(target, h.base) : target;
    if (url.protocol === 'http:' && h.base.protocol === 'https:') {
      throw new BerthError('REGISTRY_INSECURE', `registry ${ref.domain} sent a plain HTTP location (${url.origin}); mark it insecure to allow that`);
    }
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
      const authorization = url.origin === h.base.origin ? await h.authorizer.authorization(scope, req.signal) : undefined;
      if (authorization) headers.authorization = authorization;
      const res = await h.transport.request(url, { idleTimeoutMs: this.#idle, ...req, headers });
      const resendable = req.body === undefined || Buffer.isBuffer(req.body);
      if (res.status === 401 && attempt === 0 && resendable) {
        discard(res.body);
        if (h.authorizer.handleUnauthorized(header(res.headers, 'www-authenticate'), scope, ref.domain)) continue;
        return res;
      }
      return res;
    }
  }

  /** Turns an unexpected status into the right error; 5xx and 429 become retryable. */
  async #fail(res: HttpResponse, what: string, notFound?: BerthError): Promise<never> {
    const detail = await registryErrorText(res);
    if (res.status === 404 && notFound) throw notFound;
    if (res.status === 401 || res.status === 403) throw new BerthError('REGISTRY_UNAUTHORIZED', `${what}: the registry refused access (${res.status})${detail}`);
    if (isRetryableStatus(res.status)) throw new RetryableError(`status ${res.status}`, new BerthError('REGISTRY_UNAVAILABLE', `${what}: the registry answered ${res.status}${detail}`));
    throw new BerthError('REGISTRY_PROTOCOL', `${what}: unexpected status ${res.status}${detail}`);
  }

  #retry<T>(fn: () => Promise<T>, describe: string, signal?: AbortSignal): Promise<T> {
    return withRetry(fn, describe, { ...this.retryOptions, signal });
  }

  /**
   * Resolves a reference to the descriptor of its manifest or index. A
   * digest reference is fetched and verified; a tag is asked with HEAD
   * (cheap, and not counted by Docker Hub's rate limit), then with GET when
   * the server does not name the digest.
   */
  async resolve(input: ImageReference | string, options: { signal?: AbortSignal } = {}): Promise<ResolvedManifest> {
    const ref = toRef(input);
    const name = formatReference(ref);
    if (ref.digest) {
      const m = await this.fetchManifest(ref, { digest: ref.digest, mediaType: '', size: -1 }, options);
      return { ref, descriptor: m.descriptor, bytes: m.bytes };
    }
    const tag = ref.tag ?? 'latest';
    const scope = repositoryScope(ref.path, ['pull']);
    const path = `/v2/${ref.path}/manifests/${tag}`;
    const notFound = new BerthError('MANIFEST_NOT_FOUND', `\`${name}\`: manifest unknown to the registry`);
    const headed = await this.#retry(
      async () => {
        const res = await this.#send(ref, path, scope, { method: 'HEAD', headers: { accept: ACCEPT_MANIFESTS.join(', ') }, signal: options.signal });
        discard(res.body);
        if (res.status === 200) return res;
        if (res.status === 405 || res.status === 400) return undefined;
        return this.#fail(res, `resolving \`${name}\``, notFound);
      },
      `resolving \`${name}\``,
      options.signal,
    );
    const digest = headed && header(headed.headers, 'docker-content-digest');
    const length = headed && Number(header(headed.headers, 'content-length'));
    const type = headed && header(headed.headers, 'content-type');
    if (headed && digest && type && Number.isSafeInteger(length) && length! > 0) {
      try {
        parseDigest(digest);
      } catch (err) {
        throw new BerthError('REGISTRY_PROTOCOL', `\`${name}\`: the registry sent an invalid Docker-Content-Digest \`${digest}\``, { cause: err });
      }
      return { ref: { ...ref, digest }, descriptor: { mediaType: type.split(';')[0]!.trim(), digest, size: length! } };
    }
    // GET by tag: the bytes are hashed here, and must agree with any digest the server claims.
    const got = await this.#getManifest(ref, tag, undefined, options.signal);
    return { ref: { ...ref, digest: got.descriptor.digest }, descriptor: got.descriptor, bytes: got.bytes };
  }

  /**
   * Fetches a manifest or index by descriptor and verifies it: size (when
   * known, `size >= 0`) and digest, then strict parsing. Nothing is returned
   * for a document that lies.
   */
  async fetchManifest(input: ImageReference | string, descriptor: Descriptor, options: { signal?: AbortSignal } = {}): Promise<FetchedManifest> {
    const ref = toRef(input);
    parseDigest(descriptor.digest);
    const got = await this.#getManifest(ref, descriptor.digest, descriptor, options.signal);
    const parsed = parseManifest(got.bytes, { name: got.descriptor.digest, mediaType: got.descriptor.mediaType });
    return { descriptor: { ...got.descriptor, mediaType: parsed.mediaType }, bytes: got.bytes, parsed };
  }

  async #getManifest(ref: ImageReference, tagOrDigest: string, expected: Descriptor | undefined, signal?: AbortSignal): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const name = expected ? `${ref.domain}/${ref.path}@${expected.digest}` : formatReference(ref);
    const scope = repositoryScope(ref.path, ['pull']);
    const notFound = new BerthError('MANIFEST_NOT_FOUND', `manifest \`${name}\` is unknown to the registry`);
    const { res, bytes } = await this.#retry(
      async () => {
        const r = await this.#send(ref, `/v2/${ref.path}/manifests/${tagOrDigest}`, scope, { method: 'GET', headers: { accept: ACCEPT_MANIFESTS.join(', ') }, signal });
        if (r.status !== 200) return this.#fail(r, `fetching manifest \`${name}\``, notFound);
        const limit = expected && expected.size >= 0 ? Math.min(expected.size, MAX_MANIFEST_BYTES) : MAX_MANIFEST_BYTES;
        const declared = Number(header(r.headers, 'content-length'));
        if (Number.isSafeInteger(declared) && declared > MAX_MANIFEST_BYTES) {
          discard(r.body);
          throw new BerthError('MANIFEST_INVALID', `manifest \`${name}\` is ${declared} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
        }
        let body: Buffer;
        try {
          body = await readBody(r.body, limit);
        } catch (err) {
          if (err instanceof RangeError) {
            throw new BerthError('CONTENT_SIZE_MISMATCH', `manifest \`${name}\`: the registry sent more than the ${limit} bytes expected; nothing was stored`);
          }
          throw err;
        }
        return { res: r, bytes: body };
      },
      `fetching manifest \`${name}\``,
      signal,
    );
    const claimed = header(res.headers, 'docker-content-digest');
    const mediaType = (header(res.headers, 'content-type') ?? '').split(';')[0]!.trim();
    // The digest to trust: the one we asked for, else the server's claim, else our own hash.
    const want = expected?.digest ?? claimed;
    let digest: string;
    if (want) {
      const { algorithm } = parseDigest(want);
      digest = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
      if (digest !== want) {
        throw new BerthError('CONTENT_DIGEST_MISMATCH', `manifest \`${name}\`: the registry sent content with digest ${digest}, not ${want}; nothing was stored`);
      }
      if (claimed && expected && claimed !== expected.digest) {
        // Another algorithm is allowed; the same algorithm with another value is a lie.
        if (parseDigest(claimed).algorithm === parseDigest(expected.digest).algorithm) {
          throw new BerthError('CONTENT_DIGEST_MISMATCH', `manifest \`${name}\`: the registry claims Docker-Content-Digest ${claimed} for it; nothing was stored`);
        }
      }
    } else {
      digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    }
    if (expected && expected.size >= 0 && bytes.length !== expected.size) {
      throw new BerthError('CONTENT_SIZE_MISMATCH', `manifest \`${name}\` is ${bytes.length} bytes, not ${expected.size}; nothing was stored`);
    }
    return { descriptor: { mediaType: expected?.mediaType || mediaType, digest, size: bytes.length }, bytes };
  }

  /**
   * Opens a blob from `offset` (a Range request, for resume). A server that
   * ignores the range gets its first `offset` bytes skipped; a body whose
   * length disagrees with the descriptor fails before any byte is used.
   */
  async openBlob(input: ImageReference | string, descriptor: Descriptor, options: { offset?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Uint8Array>> {
    const ref = toRef(input);
    const offset = options.offset ?? 0;
    const what = `blob ${descriptor.digest} of ${ref.domain}/${ref.path}`;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.#send(ref, `/v2/${ref.path}/blobs/${descriptor.digest}`, repositoryScope(ref.path, ['pull']), { method: 'GET', headers, signal: options.signal });
    if (res.status !== 200 && res.status !== 206) {
      return this.#fail(res, `fetching ${what}`, new BerthError('BLOB_NOT_FOUND', `${what} is unknown to the registry`));
    }
    let skip = 0;
    if (res.status === 206) {
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.headers, 'content-range') ?? '');
      if (!m || Number(m[1]) !== offset) {
        discard(res.body);
        throw new BerthError('REGISTRY_PROTOCOL', `fetching ${what}: asked for bytes from ${offset}, got Content-Range \`${header(res.headers, 'content-range') ?? ''}\``);
      }
    } else {
      skip = offset;
    }
    const length = Number(header(res.headers, 'content-length'));
    const expectedLength = descriptor.size - offset + skip;
    if (header(res.headers, 'content-length') !== undefined && Number.isSafeInteger(length) && length !== expectedLength) {
      discard(res.body);
      throw new BerthError('CONTENT_SIZE_MISMATCH', `${what}: the registry sends ${length} bytes where ${expectedLength} are expected; nothing was stored`);
    }
    return skipBytes(res.body, skip);
  }

  /** Whether the repository has the blob (HEAD); its size when it does. */
  async blobExists(input: ImageReference | string, digest: string, options: { signal?: AbortSignal; push?: boolean } = {}): Promise<number | undefined> {
    const ref = toRef(input);
    const what = `blob ${digest} of ${ref.domain}/${ref.path}`;
    return this.#retry(
      async () => {
        const res = await this.#send(ref, `/v2/${ref.path}/blobs/${digest}`, repositoryScope(ref.path, options.push ? ['pull', 'push'] : ['pull']), { method: 'HEAD', signal: options.signal });
        discard(res.body);
        if (res.status === 404) return undefined;
        if (res.status !== 200) return this.#fail(res, `checking ${what}`);
        const n = Number(header(res.headers, 'content-length'));
        return Number.isSafeInteger(n) ? n : -1;
      },
      `checking ${what}`,
      options.signal,
    );
  }

  /**
   * Pushes a blob unless the repository has it: a cross-repository mount
   * when `mountFrom` is given and the registry agrees, else an upload,
   * monolithic or in PATCH chunks. `open(start)` supplies the bytes from
   * `start` (a retry of a chunked upload restarts at the server's offset).
   */
  async pushBlob(input: ImageReference | string, descriptor: Descriptor, open: (start: number) => Readable | Promise<Readable>, options: BlobUploadOptions = {}): Promise<BlobPushResult> {
    const ref = toRef(input);
    const { signal } = options;
    const what = `blob ${descriptor.digest} to ${ref.domain}/${ref.path}`;
    if ((await this.blobExists(ref, descriptor.digest, { signal, push: true })) !== undefined) return 'exists';
    const scope =
      repositoryScope(ref.path, ['pull', 'push']) + (options.mountFrom && options.mountFrom !== ref.path ? ` ${repositoryScope(options.mountFrom, ['pull'])}` : '');
    const startPath = new URL(`/v2/${ref.path}/blobs/uploads/`, 'http://x');
    if (options.mountFrom && options.mountFrom !== ref.path) {
      startPath.searchParams.set('mount', descriptor.digest);
      startPath.searchParams.set('from', options.mountFrom);
    }
    let location = await this.#retry(
      async () => {
        const res = await this.#send(ref, startPath.pathname + startPath.search, scope, { method: 'POST', headers: { 'content-length': '0' }, body: Buffer.alloc(0), signal });
        if (res.status === 201) {
          discard(res.body);
          return undefined;
        }
        if (res.status !== 202) return this.#fail(res, `starting upload of ${what}`);
        discard(res.body);
        const loc = header(res.headers, 'location');
        if (!loc) throw new BerthError('REGISTRY_PROTOCOL', `starting upload of ${what}: no Location in the 202`);
        return new URL(loc, res.url);
      },
      `starting upload of ${what}`,
      signal,
    );
    if (location === undefined) return 'mounted';

    const chunk = options.chunkSizeBytes;
    if (chunk && chunk > 0 && descriptor.size > 0) {
      let start = 0;
      const body = await open(0);
      const reader = chunkReader(body, chunk);
      for (;;) {
        const piece = await reader.next();
        if (piece === undefined) break;
        const res = await this.#send(ref, location, scope, {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + piece.length - 1}` },
          body: piece,
          signal,
        });
        if (res.status !== 202) return this.#fail(res, `uploading ${what} (bytes ${start}-${start + piece.length - 1})`);
        discard(res.body);
        const loc = header(res.headers, 'location');
        if (loc) location = new URL(loc, res.url);
        start += piece.length;
      }
      if (start !== descriptor.size) throw new BerthError('CONTENT_SIZE_MISMATCH', `uploading ${what}: the source gave ${start} bytes, not ${descriptor.size}`);
      location.searchParams.set('digest', descriptor.digest);
      const res = await this.#send(ref, location, scope, { method: 'PUT', headers: { 'content-length': '0' }, body: Buffer.alloc(0), signal });
      if (res.status !== 201) return this.#fail(res, `completing upload of ${what}`);
      this.#checkDigestHeader(res, descriptor.digest, what);
      discard(res.body);
      return 'uploaded';
    }
    location.searchParams.set('digest', descriptor.digest);
    const res = await this.#send(ref, location, scope, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
      body: await open(0),
      signal,
    });
    if (res.status !== 201) return this.#fail(res, `uploading ${what}`);
    this.#checkDigestHeader(res, descriptor.digest, what);
    discard(res.body);
    return 'uploaded';
  }

  #checkDigestHeader(res: HttpResponse, digest: string, what: string): void {
    const claimed = header(res.headers, 'docker-content-digest');
    if (claimed && claimed !== digest && parseDigest(claimed).algorithm === parseDigest(digest).algorithm) {
      throw new BerthError('CONTENT_DIGEST_MISMATCH', `${what}: the registry stored it as ${claimed}`);
    }
  }

  /**
   * Uploads a manifest or index under a tag or its digest; returns the
   * digest. The registry's `Docker-Content-Digest` must agree with ours.
   */
  async pushManifest(input: ImageReference | string, bytes: Buffer, mediaType: string, options: { tag?: string; signal?: AbortSignal } = {}): Promise<string> {
    const ref = toRef(input);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const target = options.tag ?? ref.tag ?? digest;
    const what = `manifest ${digest} to ${ref.domain}/${ref.path}:${target}`;
    return this.#retry(
      async () => {
        const res = await this.#send(ref, `/v2/${ref.path}/manifests/${target}`, repositoryScope(ref.path, ['pull', 'push']), {
          method: 'PUT',
          headers: { 'content-type': mediaType },
          body: bytes,
          signal: options.signal,
        });
        if (res.status !== 201 && res.status !== 200) return this.#fail(res, `pushing ${what}`);
        this.#checkDigestHeader(res, digest, what);
        discard(res.body);
        return digest;
      },
      `pushing ${what}`,
      options.signal,
    );
  }

  /** Closes idle connections. Idempotent. */
  async close(): Promise<void> {
    const hosts = [...this.#hosts.values()];
    this.#hosts.clear();
    for (const p of hosts) {
      try {
        (await p).transport.close();
      } catch {
        // a host that never opened has nothing to close
      }
    }
  }

  /** Whether an error from this client is worth a retry at a higher level (a blob stream cut midway). */
  static isRetryable(err: unknown): boolean {
    return isNetworkError(err);
  }
}

async function* skipBytes(body: Readable, skip: number): AsyncIterable<Uint8Array> {
  let left = skip;
  for await (const chunk of body) {
    let c = chunk as Buffer;
    if (left > 0) {
      if (c.length <= left) {
        left -= c.length;
        continue;
      }
      c = c.subarray(left);
      left = 0;
    }
    yield c;
  }
}

/** Reads a stream in pieces of exactly `size` bytes (the last may be shorter). */
function chunkReader(body: Readable, size: number): { next(): Promise<Buffer | undefined> } {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let pending: Buffer[] = [];
  let held = 0;
  let done = false;
  return {
    async next() {
      while (!done && held < size) {
        const r = await it.next();
        if (r.done) {
          done = true;
          break;
        }
        pending.push(r.value);
        held += r.value.length;
      }
      if (held === 0) return undefined;
      const all = Buffer.concat(pending);
      const out = all.subarray(0, Math.min(size, all.length));
      const rest = all.subarray(out.length);
      pending = rest.length ? [rest] : [];
      held = rest.length;
      return out;
    },
  };
}
