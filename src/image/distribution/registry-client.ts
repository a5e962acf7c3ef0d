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
 *
 * Mirrors (Docker's `registry-mirrors`, containerd's `hosts.toml`) are
 * endpoints of their own, tried in order before the registry for the reads
 * of a pull (resolve, fetchManifest, openBlob); a mirror that cannot answer
 * is passed over for the next. A mirror is trusted no more than the
 * registry: manifests are verified before they are returned (a lie falls
 * through), blobs by the content store at commit.
 *
 * A blob whose descriptor has `urls` (non-distributable and Docker foreign
 * layers) is asked of those URLs before any mirror or the registry, with a
 * plain GET that carries no registry's credentials; it is trusted as little
 * as a mirror.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BerthError, isBerthError } from '../../errors/index.js';
import type { Logger } from '../../util/logger.js';
import { parseDigest } from '../digest/digest.js';
import { ACCEPT_MANIFESTS } from '../manifest/media-types.js';
import { parseManifest } from '../manifest/parse-manifest.js';
import type { Descriptor, ParsedManifest } from '../manifest/types.js';
import { formatReference, parseDockerReference, type ImageReference } from '../reference/index.js';
import { Authorizer, parseChallenges, repositoryScope } from './auth.js';
import { loadCertsDir } from './certs-dir.js';
import type { CredentialLookup } from './credentials.js';
import { discard, header, HttpTransport, readBody, type HttpRequest, type HttpResponse, type TlsOptions } from './http-transport.js';
import { isNetworkError, isRetryableStatus, RetryableError, withRetry, type RetryOptions } from './retry.js';

/** Redirects followed from a blob URL (Go's net/http default, which containerd has). */
const MAX_URL_REDIRECTS = 10;

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
  /**
   * Mirrors per registry host (`docker.io`, `host[:port]`): origins such as
   * `https://mirror.example` or `http://127.0.0.1:5001`, tried in order
   * before the registry when pulling. Pushes and blob checks go to the
   * registry only. Plain HTTP only for loopback hosts and
   * `insecureRegistries`; credentials, TLS (`certsDir`, `tls`) and auth
   * challenges are those of the mirror's own host, never the registry's.
   */
  mirrors?: Record<string, readonly string[]>;
  /** How long a mirror that could not be reached is passed over. Default 30 s. */
  mirrorBackoffMs?: number;
  /** Where a mirror being passed over is reported, at debug level. */
  logger?: Pick<Logger, 'debug'>;
  /** The clock for token lifetimes and mirror backoff (tests hand in a fake one). */
  now?: () => number;
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

/** One endpoint: a registry, or a mirror of one. */
interface HostState {
  /** For messages: `registry 127.0.0.1:5000`, `mirror https://mirror.example`. */
  label: string;
  mirror: boolean;
  base: URL;
  transport: HttpTransport;
  authorizer: Authorizer;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/;
const HOST_PORT = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/i;
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

function endpointHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}

/**
 * Checks the `mirrors` option and keys it by the registry's domain as
 * references name it (Docker Hub's aliases are `docker.io`). Each mirror
 * is an origin, as Docker's `registry-mirrors` wants: no path, query,
 * credentials or fragment.
 */
function parseMirrors(mirrors: Record<string, readonly string[]>, insecure: readonly string[]): Map<string, URL[]> {
  const out = new Map<string, URL[]>();
  for (const [key, list] of Object.entries(mirrors)) {
    if (!HOST_PORT.test(key)) {
      throw new BerthError('ARGUMENT_INVALID', `mirrors: registry \`${key}\` must be a host[:port] such as docker.io or 127.0.0.1:5000, without scheme or path`);
    }
    const domain = DOCKER_HUB_ALIASES.has(key.toLowerCase()) ? 'docker.io' : key.toLowerCase();
    if (!Array.isArray(list)) throw new BerthError('ARGUMENT_INVALID', `mirrors of registry \`${key}\` must be a list of URLs`);
    const urls = out.get(domain) ?? [];
    for (const text of list) {
      const what = `mirror \`${String(text)}\` of registry \`${key}\``;
      let url: URL;
      try {
        url = new URL(String(text));
      } catch {
        throw new BerthError('ARGUMENT_INVALID', `${what} is not a URL; give an origin such as https://mirror.example`);
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BerthError('ARGUMENT_INVALID', `${what}: the scheme must be https or http`);
      if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) {
        throw new BerthError('ARGUMENT_INVALID', `${what} must be an origin (scheme, host and port), without path, query, credentials or fragment`);
      }
      if (url.protocol === 'http:' && !LOOPBACK.test(url.host) && !insecure.includes(url.host)) {
        throw new BerthError('ARGUMENT_INVALID', `${what}: plain HTTP is allowed only for loopback hosts and insecure registries; use https or mark ${url.host} insecure`);
      }
      urls.push(new URL(url.origin));
    }
    out.set(domain, urls);
  }
  return out;
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

/**
 * Why a 401 or 403 happened, for the message: who asked, and the scope the
 * registry wanted (its challenge names it; `error="insufficient_scope"`
 * means the token lacked it, `invalid_token` that it was not accepted).
 */
function refusal(h: HostState, res: HttpResponse, detail: string): string {
  const challenge = parseChallenges(header(res.headers, 'www-authenticate') ?? '').find((c) => c.scheme === 'bearer' || c.scheme === 'basic');
  const who = h.authorizer.identity;
  const scope = challenge?.params.scope ? ` to \`${challenge.params.scope}\`` : '';
  const error = challenge?.params.error ? ` ${challenge.params.error}` : '';
  return `${h.label} refused ${who ? `\`${who}\` access` : 'anonymous access'}${scope} (${res.status}${error})${detail}${who ? '' : '; log in first'}`;
}

export class RegistryClient {
  readonly #opts: RegistryClientOptions;
  readonly #hosts = new Map<string, Promise<HostState>>();
  readonly #userAgent: string;
  readonly #mirrors: Map<string, URL[]>;
  /** Mirror origins that could not be reached, and until when they are passed over. */
  readonly #mirrorDown = new Map<string, number>();
  /** Blob-URL origins that could not be reached, and until when they are passed over. */
  readonly #urlDown = new Map<string, number>();
  /** `<digest> <url>`: blob URLs that sent other content for the digest. */
  readonly #urlLied = new Set<string>();
  readonly #urlTransports = new Map<string, HttpTransport>();

  /** Fails with `ARGUMENT_INVALID` naming the entry when `mirrors` has one that is not an allowed origin. */
  constructor(options: RegistryClientOptions = {}) {
    this.#opts = options;
    this.#userAgent = options.userAgent ?? 'berth/0.1';
    this.#mirrors = parseMirrors(options.mirrors ?? {}, options.insecureRegistries ?? []);
  }

  get retryOptions(): RetryOptions {
    return this.#opts.retry ?? {};
  }

  get #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  #insecure(host: string): boolean {
    return this.#opts.insecureRegistries?.includes(host) ?? false;
  }

  #cached(key: string, open: () => Promise<HostState>): Promise<HostState> {
    let p = this.#hosts.get(key);
    if (!p) {
      p = open();
      p.catch(() => this.#hosts.delete(key));
      this.#hosts.set(key, p);
    }
    return p;
  }

  /** The registry's own endpoint. */
  #host(domain: string, signal?: AbortSignal): Promise<HostState> {
    return this.#cached(domain, () => {
      const host = endpointHost(domain);
      const schemes = this.#insecure(domain) || LOOPBACK.test(domain) ? ['https:', 'http:'] : ['https:'];
      return this.#openEndpoint({ label: `registry ${domain}`, authHost: domain, mirror: false, bases: schemes.map((s) => new URL(`${s}//${host}/`)) }, signal);
    });
  }

  /** A mirror's endpoint: the scheme it was given, its own host's TLS, credentials and challenge. */
  #mirrorHost(origin: URL, signal?: AbortSignal): Promise<HostState> {
    return this.#cached(`mirror ${origin.origin}`, () => this.#openEndpoint({ label: `mirror ${origin.origin}`, authHost: origin.host, mirror: true, bases: [origin] }, signal));
  }

  /**
   * Picks the endpoint and learns its authentication: `GET /v2/` over HTTPS,
   * then plain HTTP when allowed and the HTTPS handshake failed. A 401 here
   * gives the challenge before the first real request.
   */
  async #openEndpoint(target: { label: string; authHost: string; mirror: boolean; bases: URL[] }, signal?: AbortSignal): Promise<HostState> {
    const { label, authHost, mirror, bases } = target;
    const insecure = this.#insecure(authHost);
    const tls: TlsOptions = { ...(this.#opts.certsDir ? await loadCertsDir(this.#opts.certsDir, authHost) : {}), ...this.#opts.tls?.[authHost] };
    if (insecure) tls.rejectUnauthorized = false;
    const transport = new HttpTransport(tls);
    const authorizer = new Authorizer({ transport, credentials: this.#opts.credentials?.(authHost), userAgent: this.#userAgent, ...(this.#opts.now ? { now: this.#opts.now } : {}) });
    let lastError: unknown;
    for (const base of bases) {
      try {
        const res = await withRetry(
          async () => {
            const r = await transport.request(new URL('/v2/', base), { method: 'GET', headers: { 'user-agent': this.#userAgent }, signal, idleTimeoutMs: this.#idle });
            discard(r.body);
            if (isRetryableStatus(r.status)) throw new RetryableError(`status ${r.status}`, new BerthError('REGISTRY_UNAVAILABLE', `${label} answered ${r.status} to /v2/`));
            return r;
          },
          mirror ? label : `${label} (${base.origin})`,
          // A handshake failure is not worth retrying: it is the signal to try plain HTTP.
          // A mirror is not worth waiting for: the next endpoint can answer.
          { ...this.retryOptions, signal, ...((base.protocol === 'https:' && bases.length > 1) || mirror ? { attempts: 1 } : {}) },
        );
        if (res.status === 401) authorizer.handleUnauthorized(header(res.headers, 'www-authenticate'), undefined, label);
        // Other statuses: some registries answer /v2/ oddly; the real requests will tell.
        return { label, mirror, base, transport, authorizer };
      } catch (err) {
        lastError = err;
        const cause = isBerthError(err) ? (err.cause ?? err) : err;
        if (base.protocol === 'https:' && bases.length > 1 && (isTlsHandshakeError(cause) || isTlsHandshakeError(err))) continue;
        if (isBerthError(err)) {
          transport.close();
          throw err;
        }
        break;
      }
    }
    transport.close();
    const message = (lastError as Error)?.message ?? String(lastError);
    if (/certificate|self.signed|unable to verify/i.test(message)) {
      throw new BerthError('REGISTRY_UNAVAILABLE', `${label}: TLS verification failed (${message}); add its CA to certs.d/${authHost}/ca.crt or mark it insecure`, { cause: lastError });
    }
    throw new BerthError('REGISTRY_UNAVAILABLE', `${label} cannot be reached: ${message}`, { cause: lastError });
  }

  get #idle(): number {
    return this.#opts.idleTimeoutMs ?? 60_000;
  }

  /**
   * Runs a read of a pull against each mirror of the reference's registry in
   * turn, then against the registry itself, whose error is the one that
   * counts. A mirror fails through whatever it answers: unreachable, 5xx,
   * 404, a 401 its challenge cannot satisfy, or content that does not verify
   * (only what the mirror says before a body is used: a blob's bytes are
   * checked by the store at commit, and a lie there is
   * `CONTENT_DIGEST_MISMATCH`). One that could not be reached is passed over
   * for `mirrorBackoffMs`, so a dead mirror costs one timeout, not one per blob.
   */
  async #pullFrom<T>(ref: ImageReference, what: string, signal: AbortSignal | undefined, read: (h: HostState) => Promise<T>): Promise<T> {
    for (const origin of this.#mirrors.get(ref.domain.toLowerCase()) ?? []) {
      const key = origin.origin;
      const downUntil = this.#mirrorDown.get(key);
      if (downUntil !== undefined && downUntil > this.#now) {
        this.#debug(`${what}: skipping mirror ${key}, unreachable or failing a moment ago`);
        continue;
      }
      this.#mirrorDown.delete(key);
      try {
        const out = await read(await this.#mirrorHost(origin, signal));
        this.#debug(`${what}: from mirror ${key}`);
        return out;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (isBerthError(err, 'REGISTRY_UNAVAILABLE') || isNetworkError(err)) this.#mirrorDown.set(key, this.#now + (this.#opts.mirrorBackoffMs ?? 30_000));
        const reason = err instanceof RetryableError ? err.final.message : ((err as Error)?.message ?? String(err));
        this.#debug(`${what}: mirror ${key} failed, trying the next endpoint: ${reason}`);
      }
    }
    return read(await this.#host(ref.domain, signal));
  }

  #debug(message: string): void {
    this.#opts.logger?.debug(message);
  }

  /**
   * Sends one request to the endpoint with authorization for `scope`; on a
   * 401 takes the challenge and retries once (when the body can be re-sent).
   */
  async #send(h: HostState, target: string | URL, scope: string, req: HttpRequest): Promise<HttpResponse> {
    const url = typeof target === 'string' ? new URL(target, h.base) : target;
    if (url.protocol === 'http:' && h.base.protocol === 'https:') {
      throw new BerthError('REGISTRY_INSECURE', `${h.label} sent a plain HTTP location (${url.origin}); mark it insecure to allow that`);
    }
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...req.headers };
      const authorization = url.origin === h.base.origin ? await h.authorizer.authorization(scope, req.signal) : undefined;
      if (authorization) headers.authorization = authorization;
      const res = await h.transport.request(url, { idleTimeoutMs: this.#idle, ...req, headers });
      const resendable = req.body === undefined || Buffer.isBuffer(req.body);
      if (res.status === 401 && attempt === 0 && resendable) {
        let again: boolean;
        try {
          again = h.authorizer.handleUnauthorized(header(res.headers, 'www-authenticate'), scope, h.label);
        } catch (err) {
          discard(res.body);
          throw err;
        }
        if (again) {
          discard(res.body);
          continue;
        }
      }
      // A 401 not worth another try keeps its body: the caller's error quotes it.
      return res;
    }
  }

  /** Turns an unexpected status into the right error; 5xx and 429 become retryable. */
  async #fail(h: HostState, res: HttpResponse, what: string, notFound?: BerthError): Promise<never> {
    const detail = await registryErrorText(res);
    if (res.status === 404 && notFound) throw notFound;
    if (res.status === 401 || res.status === 403) throw new BerthError('REGISTRY_UNAUTHORIZED', `${what}: ${refusal(h, res, detail)}`);
    if (isRetryableStatus(res.status)) throw new RetryableError(`status ${res.status}`, new BerthError('REGISTRY_UNAVAILABLE', `${what}: ${h.label} answered ${res.status}${detail}`));
    throw new BerthError('REGISTRY_PROTOCOL', `${what}: ${h.label} answered with unexpected status ${res.status}${detail}`);
  }

  /** Retries with backoff against the registry; a mirror gets one try, since the next endpoint can answer. */
  #retry<T>(h: HostState, fn: () => Promise<T>, describe: string, signal?: AbortSignal): Promise<T> {
    return withRetry(fn, describe, { ...this.retryOptions, signal, ...(h.mirror ? { attempts: 1 } : {}) });
  }

  /**
   * Resolves a reference to the descriptor of its manifest or index. A
   * digest reference is fetched and verified; a tag is asked with HEAD
   * (cheap, and not counted by Docker Hub's rate limit), then with GET when
   * the server does not name the digest.
   */
  async resolve(input: ImageReference | string, options: { signal?: AbortSignal } = {}): Promise<ResolvedManifest> {
    const ref = toRef(input);
    if (ref.digest) {
      const m = await this.fetchManifest(ref, { digest: ref.digest, mediaType: '', size: -1 }, options);
      return { ref, descriptor: m.descriptor, bytes: m.bytes };
    }
    return this.#pullFrom(ref, `resolving \`${formatReference(ref)}\``, options.signal, (h) => this.#resolveAt(h, ref, options.signal));
  }

  async #resolveAt(h: HostState, ref: ImageReference, signal?: AbortSignal): Promise<ResolvedManifest> {
    const name = formatReference(ref);
    const tag = ref.tag ?? 'latest';
    const scope = repositoryScope(ref.path, ['pull']);
    const path = `/v2/${ref.path}/manifests/${tag}`;
    const notFound = new BerthError('MANIFEST_NOT_FOUND', `\`${name}\`: manifest unknown to ${h.label}`);
    if (h.mirror) {
      // A mirror's answer is taken with its bytes, verified here: a HEAD would
      // let it hand a wrong size or digest to the next endpoint when it lies.
      const got = await this.#getManifest(h, ref, tag, undefined, signal);
      return { ref: { ...ref, digest: got.descriptor.digest }, descriptor: got.descriptor, bytes: got.bytes };
    }
    const headed = await this.#retry(
      h,
      async () => {
        const res = await this.#send(h, path, scope, { method: 'HEAD', headers: { accept: ACCEPT_MANIFESTS.join(', ') }, signal });
        discard(res.body);
        if (res.status === 200) return res;
        if (res.status === 405 || res.status === 400) return undefined;
        return this.#fail(h, res, `resolving \`${name}\``, notFound);
      },
      `resolving \`${name}\``,
      signal,
    );
    const digest = headed && header(headed.headers, 'docker-content-digest');
    const length = headed && Number(header(headed.headers, 'content-length'));
    const type = headed && header(headed.headers, 'content-type');
    if (headed && digest && type && Number.isSafeInteger(length) && length! > 0) {
      try {
        parseDigest(digest);
      } catch (err) {
        throw new BerthError('REGISTRY_PROTOCOL', `\`${name}\`: ${h.label} sent an invalid Docker-Content-Digest \`${digest}\``, { cause: err });
      }
      return { ref: { ...ref, digest }, descriptor: { mediaType: type.split(';')[0]!.trim(), digest, size: length! } };
    }
    // GET by tag: the bytes are hashed here, and must agree with any digest the server claims.
    const got = await this.#getManifest(h, ref, tag, undefined, signal);
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
    return this.#pullFrom(ref, `fetching manifest ${descriptor.digest} of ${ref.domain}/${ref.path}`, options.signal, async (h) => {
      const got = await this.#getManifest(h, ref, descriptor.digest, descriptor, options.signal);
      const parsed = parseManifest(got.bytes, { name: got.descriptor.digest, mediaType: got.descriptor.mediaType });
      return { descriptor: { ...got.descriptor, mediaType: parsed.mediaType }, bytes: got.bytes, parsed };
    });
  }

  async #getManifest(h: HostState, ref: ImageReference, tagOrDigest: string, expected: Descriptor | undefined, signal?: AbortSignal): Promise<{ descriptor: Descriptor; bytes: Buffer }> {
    const name = expected ? `${ref.domain}/${ref.path}@${expected.digest}` : formatReference(ref);
    const from = h.mirror ? ` from ${h.label}` : '';
    const scope = repositoryScope(ref.path, ['pull']);
    const notFound = new BerthError('MANIFEST_NOT_FOUND', `manifest \`${name}\` is unknown to ${h.label}`);
    const { res, bytes } = await this.#retry(
      h,
      async () => {
        const r = await this.#send(h, `/v2/${ref.path}/manifests/${tagOrDigest}`, scope, { method: 'GET', headers: { accept: ACCEPT_MANIFESTS.join(', ') }, signal });
        if (r.status !== 200) return this.#fail(h, r, `fetching manifest \`${name}\``, notFound);
        const limit = expected && expected.size >= 0 ? Math.min(expected.size, MAX_MANIFEST_BYTES) : MAX_MANIFEST_BYTES;
        const declared = Number(header(r.headers, 'content-length'));
        if (Number.isSafeInteger(declared) && declared > MAX_MANIFEST_BYTES) {
          discard(r.body);
          throw new BerthError('MANIFEST_INVALID', `manifest \`${name}\`${from} is ${declared} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit`);
        }
        let body: Buffer;
        try {
          body = await readBody(r.body, limit);
        } catch (err) {
          if (err instanceof RangeError) {
            throw new BerthError('CONTENT_SIZE_MISMATCH', `manifest \`${name}\`: ${h.label} sent more than the ${limit} bytes expected; nothing was stored`);
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
        throw new BerthError('CONTENT_DIGEST_MISMATCH', `manifest \`${name}\`: ${h.label} sent content with digest ${digest}, not ${want}; nothing was stored`);
      }
      if (claimed && expected && claimed !== expected.digest) {
        // Another algorithm is allowed; the same algorithm with another value is a lie.
        if (parseDigest(claimed).algorithm === parseDigest(expected.digest).algorithm) {
          throw new BerthError('CONTENT_DIGEST_MISMATCH', `manifest \`${name}\`: ${h.label} claims Docker-Content-Digest ${claimed} for it; nothing was stored`);
        }
      }
    } else {
      digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    }
    if (expected && expected.size >= 0 && bytes.length !== expected.size) {
      throw new BerthError('CONTENT_SIZE_MISMATCH', `manifest \`${name}\`${from} is ${bytes.length} bytes, not ${expected.size}; nothing was stored`);
    }
    return { descriptor: { mediaType: expected?.mediaType || mediaType, digest, size: bytes.length }, bytes };
  }

  /**
   * Opens a blob from `offset` (a Range request, for resume). A server that
   * ignores the range gets its first `offset` bytes skipped; a body whose
   * length disagrees with the descriptor fails before any byte is used.
   * The bytes are not verified here: the caller's store checks the digest
   * at commit, whichever source sent them.
   *
   * A descriptor with `urls` (a non-distributable layer, Docker's foreign
   * layer, or any blob its author placed elsewhere) is asked of those first,
   * in order, as containerd does, then of the mirrors and the registry: the
   * image spec says a client SHOULD fetch such content from its URLs, and
   * the registry may not hold it. See `#blobUrls` for the URLs taken and
   * `#openBlobUrl` for how one is asked.
   */
  async openBlob(input: ImageReference | string, descriptor: Descriptor, options: { offset?: number; signal?: AbortSignal } = {}): Promise<AsyncIterable<Uint8Array>> {
    const ref = toRef(input);
    const what = `blob ${descriptor.digest} of ${ref.domain}/${ref.path}`;
    const failed: string[] = [];
    for (const url of this.#blobUrls(descriptor, what)) {
      try {
        const body = await this.#openBlobUrl(url, descriptor, what, options);
        this.#debug(`${what}: from ${url.href}`);
        return body;
      } catch (err) {
        if (options.signal?.aborted) throw err;
        const reason = (err as Error)?.message ?? String(err);
        // Unreachable: passed over for a while, so a dead host costs one timeout, not one per blob.
        if (isNetworkError(err)) this.#urlDown.set(url.origin, this.#now + (this.#opts.mirrorBackoffMs ?? 30_000));
        this.#debug(`${what}: ${url.href} failed, trying the next source: ${reason}`);
        failed.push(`${url.href}: ${reason}`);
      }
    }
    try {
      return await this.#pullFrom(ref, `fetching ${what}`, options.signal, (h) => this.#openBlobAt(h, ref, descriptor, what, options));
    } catch (err) {
      if (failed.length === 0 || !isBerthError(err)) throw err;
      throw new BerthError(err.code, `${err.message}; its urls failed too (${failed.join('; ')})`, { cause: err });
    }
  }

  async #openBlobAt(h: HostState, ref: ImageReference, descriptor: Descriptor, what: string, options: { offset?: number; signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>> {
    const offset = options.offset ?? 0;
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    const res = await this.#send(h, `/v2/${ref.path}/blobs/${descriptor.digest}`, repositoryScope(ref.path, ['pull']), { method: 'GET', headers, signal: options.signal });
    if (res.status !== 200 && res.status !== 206) {
      return this.#fail(h, res, `fetching ${what}`, new BerthError('BLOB_NOT_FOUND', `${what} is unknown to ${h.label}`));
    }
    return blobBody(res, descriptor, offset, h.label, what);
  }

  /**
   * The descriptor's `urls` worth asking, in order. Passed over, each with a
   * debug line: what does not parse; what `#urlRefusal` refuses; a URL that
   * sent other content for this digest before; an origin that could not be
   * reached a moment ago.
   */
  #blobUrls(descriptor: Descriptor, what: string): URL[] {
    const out: URL[] = [];
    for (const text of descriptor.urls ?? []) {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        this.#debug(`${what}: ignoring url \`${text}\`: not a URL`);
        continue;
      }
      url.hash = '';
      const refused = this.#urlRefusal(url);
      if (refused) {
        this.#debug(`${what}: ignoring url \`${text}\`: ${refused}`);
        continue;
      }
      if (this.#urlLied.has(`${descriptor.digest} ${url.href}`)) {
        this.#debug(`${what}: skipping ${url.href}, which sent other content for it before`);
        continue;
      }
      const downUntil = this.#urlDown.get(url.origin);
      if (downUntil !== undefined && downUntil > this.#now) {
        this.#debug(`${what}: skipping ${url.href}, unreachable a moment ago`);
        continue;
      }
      this.#urlDown.delete(url.origin);
      out.push(url);
    }
    return out;
  }

  /**
   * Why a blob URL (or a redirect from one) may not be fetched; undefined
   * when it may. Only http and https: a `file:` URL would read this host's
   * disk. Plain HTTP follows the rule for registries and mirrors (loopback
   * hosts and `insecureRegistries` only): wrong bytes would fail the digest
   * anyway, but what is pulled would be visible on the wire. Credentials
   * in a URL would be sent by node:http as Basic auth, to a host the image
   * author chose.
   */
  #urlRefusal(url: URL): string | undefined {
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return `the scheme must be https or http, not ${url.protocol.slice(0, -1)}`;
    if (url.username || url.password) return 'credentials in a URL are not sent';
    if (url.protocol === 'http:' && !LOOPBACK.test(url.host) && !this.#insecure(url.host)) {
      return `plain HTTP is allowed only for loopback hosts and insecure registries; mark ${url.host} insecure to allow it`;
    }
    return undefined;
  }

  /**
   * Asks one blob URL: a plain GET with no registry's credentials (the host
   * is the image author's choice, not the user's), a Range for a resume as
   * for registry blobs, redirects followed while each hop passes
   * `#urlRefusal`, one try (the next source can answer). From offset 0 the
   * bytes are hashed on the way through: a URL that sends other content
   * fails at the caller's commit as any source would, and is not asked for
   * this digest again by this client, so the next pull gets the content
   * from the registry.
   */
  async #openBlobUrl(url: URL, descriptor: Descriptor, what: string, options: { offset?: number; signal?: AbortSignal }): Promise<AsyncIterable<Uint8Array>> {
    const offset = options.offset ?? 0;
    const headers: Record<string, string> = { 'user-agent': this.#userAgent, accept: `${descriptor.mediaType}, */*` };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let current = url;
    let res: HttpResponse;
    for (let hop = 0; ; hop++) {
      const transport = await this.#urlTransport(current);
      res = await transport.request(current, { method: 'GET', headers, signal: options.signal, idleTimeoutMs: this.#idle, followRedirects: false });
      const location = header(res.headers, 'location');
      if (![301, 302, 303, 307, 308].includes(res.status) || location === undefined) break;
      discard(res.body);
      if (hop >= MAX_URL_REDIRECTS) throw new BerthError('REGISTRY_PROTOCOL', `more than ${MAX_URL_REDIRECTS} redirects`);
      const next = new URL(location, current);
      const refused = this.#urlRefusal(next);
      if (refused) throw new BerthError('REGISTRY_INSECURE', `redirected to ${next.href}: ${refused}`);
      current = next;
    }
    if (res.status !== 200 && res.status !== 206) {
      discard(res.body);
      throw new BerthError(res.status === 404 ? 'BLOB_NOT_FOUND' : 'REGISTRY_PROTOCOL', `answered ${res.status}`);
    }
    const body = blobBody(res, descriptor, offset, current.origin, what);
    if (offset > 0) return body;
    const key = `${descriptor.digest} ${url.href}`;
    return watchDigest(body, descriptor.digest, (got) => {
      this.#urlLied.add(key);
      this.#debug(`${what}: ${url.href} sent content with digest ${got}; it is not asked for this blob again`);
    });
  }

  /** A transport per blob-URL origin: that host's TLS (`certsDir`, `tls`, insecure), never an authorizer. */
  async #urlTransport(url: URL): Promise<HttpTransport> {
    const found = this.#urlTransports.get(url.origin);
    if (found) return found;
    const tls: TlsOptions = { ...(this.#opts.certsDir && url.protocol === 'https:' ? await loadCertsDir(this.#opts.certsDir, url.host) : {}), ...this.#opts.tls?.[url.host] };
    if (this.#insecure(url.host)) tls.rejectUnauthorized = false;
    // Another blob may have made one while the certificates were read.
    const raced = this.#urlTransports.get(url.origin);
    if (raced) return raced;
    const transport = new HttpTransport(tls);
    this.#urlTransports.set(url.origin, transport);
    return transport;
  }

  /** Whether the repository has the blob (HEAD); its size when it does. */
  async blobExists(input: ImageReference | string, digest: string, options: { signal?: AbortSignal; push?: boolean } = {}): Promise<number | undefined> {
    const ref = toRef(input);
    const what = `blob ${digest} of ${ref.domain}/${ref.path}`;
    const h = await this.#host(ref.domain, options.signal);
    return this.#retry(
      h,
      async () => {
        const res = await this.#send(h, `/v2/${ref.path}/blobs/${digest}`, repositoryScope(ref.path, options.push ? ['pull', 'push'] : ['pull']), { method: 'HEAD', signal: options.signal });
        discard(res.body);
        if (res.status === 404) return undefined;
        if (res.status !== 200) return this.#fail(h, res, `checking ${what}`);
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
    const h = await this.#host(ref.domain, signal);
    const pushScope = repositoryScope(ref.path, ['pull', 'push']);
    const mountFrom = options.mountFrom && options.mountFrom !== ref.path ? options.mountFrom : undefined;
    /** POST to start an upload; with `from`, the registry may mount the blob instead (201). */
    const startUpload = (mount: string | undefined): Promise<URL | undefined> => {
      const startPath = new URL(`/v2/${ref.path}/blobs/uploads/`, 'http://x');
      if (mount) {
        startPath.searchParams.set('mount', descriptor.digest);
        startPath.searchParams.set('from', mount);
      }
      // A mount needs pull on the source repository too; the registry checks it.
      const scope = mount ? `${pushScope} ${repositoryScope(mount, ['pull'])}` : pushScope;
      return this.#retry(
        h,
        async () => {
          const res = await this.#send(h, startPath.pathname + startPath.search, scope, { method: 'POST', headers: { 'content-length': '0' }, body: Buffer.alloc(0), signal });
          if (res.status === 201) {
            discard(res.body);
            return undefined;
          }
          if (res.status !== 202) return this.#fail(h, res, `starting upload of ${what}${mount ? ` (mounted from ${mount})` : ''}`);
          discard(res.body);
          const loc = header(res.headers, 'location');
          if (!loc) throw new BerthError('REGISTRY_PROTOCOL', `starting upload of ${what}: no Location in the 202`);
          return new URL(loc, res.url);
        },
        `starting upload of ${what}`,
        signal,
      );
    };
    let location: URL | undefined;
    try {
      location = await startUpload(mountFrom);
    } catch (err) {
      // Refused with the source repository in the scope: the user may not read it. Upload instead, as Docker does.
      if (!mountFrom || !isBerthError(err, 'REGISTRY_UNAUTHORIZED')) throw err;
      this.#debug(`${what}: mount from ${mountFrom} refused, uploading: ${err.message}`);
      location = await startUpload(undefined);
    }
    if (location === undefined) return 'mounted';

    const chunk = options.chunkSizeBytes;
    if (chunk && chunk > 0 && descriptor.size > 0) {
      let start = 0;
      const body = await open(0);
      const reader = chunkReader(body, chunk);
      for (;;) {
        const piece = await reader.next();
        if (piece === undefined) break;
        const res = await this.#send(h, location, pushScope, {
          method: 'PATCH',
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${start + piece.length - 1}` },
          body: piece,
          signal,
        });
        if (res.status !== 202) return this.#fail(h, res, `uploading ${what} (bytes ${start}-${start + piece.length - 1})`);
        discard(res.body);
        const loc = header(res.headers, 'location');
        if (loc) location = new URL(loc, res.url);
        start += piece.length;
      }
      if (start !== descriptor.size) throw new BerthError('CONTENT_SIZE_MISMATCH', `uploading ${what}: the source gave ${start} bytes, not ${descriptor.size}`);
      location.searchParams.set('digest', descriptor.digest);
      const res = await this.#send(h, location, pushScope, { method: 'PUT', headers: { 'content-length': '0' }, body: Buffer.alloc(0), signal });
      if (res.status !== 201) return this.#fail(h, res, `completing upload of ${what}`);
      this.#checkDigestHeader(res, descriptor.digest, what);
      discard(res.body);
      return 'uploaded';
    }
    location.searchParams.set('digest', descriptor.digest);
    const res = await this.#send(h, location, pushScope, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(descriptor.size) },
      body: await open(0),
      signal,
    });
    if (res.status !== 201) return this.#fail(h, res, `uploading ${what}`);
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
    const h = await this.#host(ref.domain, options.signal);
    return this.#retry(
      h,
      async () => {
        const res = await this.#send(h, `/v2/${ref.path}/manifests/${target}`, repositoryScope(ref.path, ['pull', 'push']), {
          method: 'PUT',
          headers: { 'content-type': mediaType },
          body: bytes,
          signal: options.signal,
        });
        if (res.status !== 201 && res.status !== 200) return this.#fail(h, res, `pushing ${what}`);
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
    for (const t of this.#urlTransports.values()) t.close();
    this.#urlTransports.clear();
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

/**
 * Checks a blob response against what was asked: a 206 must start at
 * `offset`, a 200 has its first `offset` bytes skipped, and a
 * Content-Length must match the descriptor's size.
 */
function blobBody(res: HttpResponse, descriptor: Descriptor, offset: number, source: string, what: string): AsyncIterable<Uint8Array> {
  let skip = 0;
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res.headers, 'content-range') ?? '');
    if (!m || Number(m[1]) !== offset) {
      discard(res.body);
      throw new BerthError('REGISTRY_PROTOCOL', `fetching ${what}: asked ${source} for bytes from ${offset}, got Content-Range \`${header(res.headers, 'content-range') ?? ''}\``);
    }
  } else {
    skip = offset;
  }
  const length = Number(header(res.headers, 'content-length'));
  const expectedLength = descriptor.size - offset + skip;
  if (header(res.headers, 'content-length') !== undefined && Number.isSafeInteger(length) && length !== expectedLength) {
    discard(res.body);
    throw new BerthError('CONTENT_SIZE_MISMATCH', `${what}: ${source} sends ${length} bytes where ${expectedLength} are expected; nothing was stored`);
  }
  return skipBytes(res.body, skip);
}

/** Passes a whole blob through, and calls `onMismatch` with the digest it had when that is not `digest`. */
async function* watchDigest(body: AsyncIterable<Uint8Array>, digest: string, onMismatch: (got: string) => void): AsyncIterable<Uint8Array> {
  const { algorithm } = parseDigest(digest);
  const hash = createHash(algorithm);
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
  const got = `${algorithm}:${hash.digest('hex')}`;
  if (got !== digest) onMismatch(got);
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
