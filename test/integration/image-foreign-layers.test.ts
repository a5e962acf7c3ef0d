/**
 * Foreign (Docker) and non-distributable (OCI) layers: the descriptor's
 * `urls` are asked first, in order, with a plain GET that carries no
 * registry credentials; a URL that is down, answers 404 or sends the wrong
 * length passes to the next and finally to the registry; a URL that sends
 * other bytes never gets them stored; schemes other than http(s), URLs with
 * credentials and plain HTTP to a non-loopback host are never fetched.
 *
 * The registry is Debian's docker-registry (distribution 2.8), which takes a
 * manifest whose foreign layer it does not hold once the layer's URL passes
 * `validation.manifests.urls.allow`; the URLs point at a node:http server
 * started here. Manifests with URLs distribution refuses (file:, ftp:) are
 * served by the test registry of hostile-registry.ts.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { pullAndUnpack, RegistryClient, type RegistryClientOptions } from '../../src/image/distribution/index.js';
import { MEDIA_TYPE } from '../../src/image/manifest/index.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { DOCKER_REGISTRY_BIN, freePort, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { startHostileRegistry } from '../helpers/registry/hostile-registry.js';
import { listenLocal, sendBody } from '../helpers/registry/http-server.js';
import { tarOf } from '../helpers/registry/image-with-config.js';

withLeakCheck();

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : undefined;

const retry = { attempts: 3, baseDelayMs: 10 };
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (digest: string): string => digest.slice('sha256:'.length);
const login = { username: 'berth', password: 'foreign-secret' };

/** What the URL server does for one path. */
type Route = { serve: Buffer; truncateOnceAfter?: number } | { status: number } | { redirect: string };

interface UrlServer {
  origin: string;
  routes: Map<string, Route>;
  log: Array<{ path: string; headers: IncomingHttpHeaders }>;
  requests(path: string): number;
  stop(): Promise<void>;
}

/** The host that foreign layers' URLs name: serves blob bytes (with Range), statuses and redirects per path, and logs every request. */
async function startUrlServer(): Promise<UrlServer> {
  const routes = new Map<string, Route>();
  const log: UrlServer['log'] = [];
  const { url, stop } = await listenLocal((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    log.push({ path, headers: req.headers });
    const route = routes.get(path);
    if (!route) {
      res.statusCode = 404;
      res.end('not here');
      return;
    }
    if ('status' in route) {
      res.statusCode = route.status;
      res.end('refused');
      return;
    }
    if ('redirect' in route) {
      res.statusCode = 302;
      res.setHeader('location', route.redirect);
      res.end();
      return;
    }
    const truncateAfter = route.truncateOnceAfter;
    delete route.truncateOnceAfter;
    sendBody(req, res, route.serve, truncateAfter);
  });
  return {
    origin: url,
    routes,
    log,
    requests: (path) => log.filter((r) => r.path === path).length,
    stop,
  };
}

interface ForeignImage {
  manifest: Buffer;
  manifestType: string;
  config: Buffer;
  layer: Buffer;
  layerDigest: string;
  /** The file the layer holds (`data/payload`), to check the unpacked layer. */
  payload: Buffer;
}

/**
 * One image whose single layer is foreign (Docker schema 2) or
 * non-distributable (OCI, `tar` or `tar+gzip`), with the `urls` given.
 */
async function foreignImage(kind: 'docker-foreign' | 'oci-nondistributable-gzip' | 'oci-nondistributable-tar', urls: (layerDigest: string) => string[], payloadBytes = 4096): Promise<ForeignImage> {
  const payload = randomBytes(payloadBytes);
  const tarball = await tarOf([{ name: 'data/', type: 'directory' }, { name: 'data/payload', data: payload }]);
  const layer = kind === 'oci-nondistributable-tar' ? tarball : gzipSync(tarball, { level: 1 });
  const layerDigest = sha256(layer);
  const docker = kind === 'docker-foreign';
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(tarball)] } }));
  const layerType = docker ? MEDIA_TYPE.dockerLayerForeignGzip : kind === 'oci-nondistributable-tar' ? MEDIA_TYPE.ociLayerNondistributable : MEDIA_TYPE.ociLayerNondistributableGzip;
  const manifestType = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: manifestType,
      config: { mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: layerType, digest: layerDigest, size: layer.length, urls: urls(layerDigest) }],
    }),
  );
  return { manifest, manifestType, config, layer, layerDigest, payload };
}

describe('foreign and non-distributable layers', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let urls: UrlServer;
  let pusher: RegistryClient;
  let dirs = 0;
  const clients: RegistryClient[] = [];

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}foreign-`));
    urls = await startUrlServer();
    reg = await startDockerRegistry({ htpasswd: login, manifestUrls: { allow: ['^http://127\\.0\\.0\\.1:[0-9]+/'] } });
    pusher = new RegistryClient({ retry, credentials: () => login });
  });
  after(async () => {
    for (const c of [pusher, ...clients]) await c?.close();
    await reg?.stop();
    await urls?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A puller with the registry's credentials, recording which hosts it looked credentials up for, and its debug log. */
  const puller = (opts: RegistryClientOptions = {}): { client: RegistryClient; credentialHosts: string[]; debug: string[] } => {
    const credentialHosts: string[] = [];
    const debug: string[] = [];
    const client = new RegistryClient({
      retry,
      credentials: (host) => {
        credentialHosts.push(host);
        return login;
      },
      logger: { debug: (m) => debug.push(m) },
      ...opts,
    });
    clients.push(client);
    return { client, credentialHosts, debug };
  };

  const fresh = (): { store: LocalContentStore; layersRoot: string } => {
    const n = ++dirs;
    return { store: new LocalContentStore(join(work, `store-${n}`)), layersRoot: join(work, `layers-${n}`) };
  };

  /** Pushes config and manifest (and the layer blob only when asked) to `repo:1`. */
  async function push(repo: string, image: ForeignImage, options: { layerToo?: boolean } = {}): Promise<string> {
    const ref = `${reg.host}/${repo}:1`;
    await pusher.pushBlob(ref, { mediaType: 'application/octet-stream', digest: sha256(image.config), size: image.config.length }, () => Readable.from([image.config]));
    if (options.layerToo) await pusher.pushBlob(ref, { mediaType: 'application/octet-stream', digest: image.layerDigest, size: image.layer.length }, () => Readable.from([image.layer]));
    await pusher.pushManifest(ref, image.manifest, image.manifestType);
    assert.equal(reg.hasBlob(image.layerDigest), options.layerToo === true, 'the registry holds the layer only when the test pushed it');
    return ref;
  }

  async function assertUnpacked(store: LocalContentStore, layersRoot: string, image: ForeignImage, result: Awaited<ReturnType<typeof pullAndUnpack>>): Promise<void> {
    assert.equal(result.layers.length, 1);
    assert.ok((await readFile(join(result.layers[0]!.dir!, 'data/payload'))).equals(image.payload));
    assert.ok(await store.findInfo(image.layerDigest), 'the layer blob is in the store');
    assert.deepEqual(await store.listIngests(), []);
    assert.deepEqual(await readdir(layersRoot), [basename(result.layers[0]!.dir!)]);
  }

  test('a Docker foreign layer comes from its url, not the registry, and no credentials go to the url host', async () => {
    const image = await foreignImage('docker-foreign', (d) => [`${urls.origin}/a/${hex(d)}`]);
    const path = `/a/${hex(image.layerDigest)}`;
    urls.routes.set(path, { serve: image.layer });
    const ref = await push('foreign/docker', image);
    const { client, credentialHosts, debug } = puller();
    const { store, layersRoot } = fresh();
    const result = await pullAndUnpack(client, store, ref, layersRoot);
    await assertUnpacked(store, layersRoot, image, result);
    assert.equal(urls.requests(path), 1, 'one GET to the url');
    assert.equal(reg.hasBlob(image.layerDigest), false);
    for (const r of urls.log) assert.equal(r.headers.authorization, undefined, `no Authorization header reaches the url host (${r.path})`);
    assert.deepEqual([...new Set(credentialHosts)], [reg.host], 'credentials are looked up for the registry only');
    assert.ok(debug.some((m) => m.includes(`from ${urls.origin}${path}`)), debug.join('\n'));
  });

  test('an OCI non-distributable layer whose urls are down, 404 or of the wrong length comes from the registry', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const image = await foreignImage('oci-nondistributable-gzip', (d) => [`${dead}/gone/${hex(d)}`, `${urls.origin}/missing/${hex(d)}`, `${urls.origin}/short/${hex(d)}`]);
    const short = `/short/${hex(image.layerDigest)}`;
    urls.routes.set(short, { serve: image.layer.subarray(0, image.layer.length - 1) });
    const ref = await push('foreign/fallback', image, { layerToo: true });
    const { client, debug } = puller();
    const { store, layersRoot } = fresh();
    const result = await pullAndUnpack(client, store, ref, layersRoot);
    await assertUnpacked(store, layersRoot, image, result);
    assert.equal(urls.requests(`/missing/${hex(image.layerDigest)}`), 1);
    assert.equal(urls.requests(short), 1);
    const failed = debug.filter((m) => m.includes('failed, trying the next source'));
    assert.equal(failed.length, 3, debug.join('\n'));
    assert.ok(failed[0]!.includes(dead) && failed[1]!.includes('/missing/') && failed[2]!.includes('/short/'), 'tried in order');
    assert.ok(failed[2]!.includes('bytes where'), `the wrong length is named: ${failed[2]}`);
  });

  test('every url failing and the registry lacking the layer fails naming the urls; nothing is stored', async () => {
    const image = await foreignImage('docker-foreign', (d) => [`${urls.origin}/nowhere/${hex(d)}`]);
    const ref = await push('foreign/nowhere', image);
    const { client } = puller();
    const { store, layersRoot } = fresh();
    await assert.rejects(pullAndUnpack(client, store, ref, layersRoot), (err: unknown) => {
      assert.ok(isBerthError(err, 'BLOB_NOT_FOUND'), String(err));
      assert.ok(err.message.includes(`${urls.origin}/nowhere/`) && err.message.includes('404'), err.message);
      return true;
    });
    assert.equal(await store.findInfo(image.layerDigest), undefined);
    assert.deepEqual(await store.listIngests(), []);
    assert.deepEqual((await readdir(layersRoot)).filter((n) => !n.startsWith('.')), []);
  });

  test('a redirect from a url is followed, still without credentials', async () => {
    const image = await foreignImage('oci-nondistributable-gzip', (d) => [`${urls.origin}/moved/${hex(d)}`]);
    const target = `/here/${hex(image.layerDigest)}`;
    urls.routes.set(`/moved/${hex(image.layerDigest)}`, { redirect: `http://localhost:${new URL(urls.origin).port}${target}` });
    urls.routes.set(target, { serve: image.layer });
    const ref = await push('foreign/redirect', image);
    const { client } = puller();
    const { store, layersRoot } = fresh();
    await assertUnpacked(store, layersRoot, image, await pullAndUnpack(client, store, ref, layersRoot));
    assert.equal(urls.requests(target), 1);
    assert.ok(urls.log.filter((r) => r.path === target).every((r) => r.headers.authorization === undefined));
  });

  test('a download from a url cut midway resumes from the url with a Range request', async () => {
    const image = await foreignImage('docker-foreign', (d) => [`${urls.origin}/cut/${hex(d)}`], 256 << 10);
    const path = `/cut/${hex(image.layerDigest)}`;
    urls.routes.set(path, { serve: image.layer, truncateOnceAfter: 100_000 });
    const ref = await push('foreign/resume', image);
    const { client } = puller();
    const { store, layersRoot } = fresh();
    await assertUnpacked(store, layersRoot, image, await pullAndUnpack(client, store, ref, layersRoot));
    const ranges = urls.log.filter((r) => r.path === path).map((r) => r.headers.range);
    assert.equal(ranges[0], undefined);
    assert.ok(
      ranges.slice(1).some((r) => r !== undefined && /^bytes=[1-9][0-9]*-$/.test(r)),
      `a later request asks for the rest: ${JSON.stringify(ranges)}`,
    );
    assert.equal(reg.hasBlob(image.layerDigest), false);
  });

  test('a url sending other bytes of the right length: CONTENT_DIGEST_MISMATCH, nothing stored; the next pull gets the registry copy', async () => {
    const image = await foreignImage('oci-nondistributable-tar', (d) => [`${urls.origin}/liar/${hex(d)}`]);
    const path = `/liar/${hex(image.layerDigest)}`;
    const lie = Buffer.from(image.layer);
    // A byte of the file's data: still a valid tar of the same length, another digest.
    const at = lie.indexOf(image.payload.subarray(0, 32)) + 100;
    lie[at] = lie[at]! ^ 0xff;
    urls.routes.set(path, { serve: lie });
    const ref = await push('foreign/liar', image, { layerToo: true });
    const { client, debug } = puller();
    const { store, layersRoot } = fresh();
    await assert.rejects(pullAndUnpack(client, store, ref, layersRoot), (err: unknown) => {
      assert.ok(isBerthError(err, 'CONTENT_DIGEST_MISMATCH'), String(err));
      return true;
    });
    assert.equal(await store.findInfo(image.layerDigest), undefined, 'the bad bytes are not stored');
    assert.deepEqual(await store.listIngests(), []);
    assert.deepEqual(await readdir(layersRoot), [], 'no layer directory, no temporary one');
    assert.ok(debug.some((m) => m.includes(path) && m.includes('not asked for this blob again')), debug.join('\n'));

    const result = await pullAndUnpack(client, store, ref, layersRoot);
    await assertUnpacked(store, layersRoot, image, result);
    assert.equal(urls.requests(path), 1, 'the url that lied is not asked again');
  });

  test('file:, ftp:, credentialed and plain-HTTP non-loopback urls are never fetched; the registry serves the layer', async () => {
    // distribution refuses such urls in a manifest, so the test registry serves it.
    const hostile = await startHostileRegistry();
    try {
      const onDisk = join(work, 'layer-on-disk');
      const image = await foreignImage('docker-foreign', (d) => [
        `file://${onDisk}`,
        `ftp://127.0.0.1:${new URL(urls.origin).port}/ftp/${hex(d)}`,
        `http://user:pw@127.0.0.1:${new URL(urls.origin).port}/cred/${hex(d)}`,
        `http://192.0.2.1/testnet/${hex(d)}`,
        'not a url',
      ]);
      await writeFile(onDisk, image.layer);
      for (const p of ['ftp', 'cred']) urls.routes.set(`/${p}/${hex(image.layerDigest)}`, { serve: image.layer });
      hostile.putBlob(image.config);
      hostile.putBlob(image.layer);
      hostile.putManifest('foreign/schemes', '1', image.manifest, { mediaType: image.manifestType });
      const before = urls.log.length;
      const { client, debug } = puller();
      const { store, layersRoot } = fresh();
      await assertUnpacked(store, layersRoot, image, await pullAndUnpack(client, store, `${hostile.host}/foreign/schemes:1`, layersRoot));
      assert.equal(urls.log.length, before, 'the url server was not asked');
      assert.equal(hostile.log.filter((r) => r.method === 'GET' && r.path === `/v2/foreign/schemes/blobs/${image.layerDigest}`).length, 1, 'the registry served the layer');
      const ignored = debug.filter((m) => m.includes('ignoring url'));
      assert.equal(ignored.length, 5, debug.join('\n'));
      assert.ok(ignored[0]!.includes('file://') && ignored[0]!.includes('https or http'), ignored[0]);
      assert.ok(ignored[1]!.includes('ftp://') && ignored[1]!.includes('https or http'), ignored[1]);
      assert.ok(ignored[2]!.includes('credentials'), ignored[2]);
      assert.ok(ignored[3]!.includes('192.0.2.1') && ignored[3]!.includes('plain HTTP'), ignored[3]);
      assert.ok(ignored[4]!.includes('not a URL'), ignored[4]);
    } finally {
      await hostile.stop();
    }
  });
});
