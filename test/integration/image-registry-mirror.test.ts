/**
 * Registry mirrors: a second Debian docker-registry in pull-through cache
 * mode (`proxy.remoteurl` = the upstream registry) as the mirror of the
 * upstream; a mirror that is stopped, that refuses, that fails, or that
 * lies (test/helpers/registry/hostile-registry.ts); and pushes, which never
 * go to a mirror.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';

import { isBerthError, type ErrorCode } from '../../src/errors/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { pullImage, pushImage, RegistryClient, type RegistryClientOptions } from '../../src/image/distribution/index.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { DOCKER_REGISTRY_BIN, freePort, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { startHostileRegistry, type HostileRegistry } from '../helpers/registry/hostile-registry.js';
import { startTokenIssuer } from '../helpers/registry/token-issuer.js';
import { which } from '../helpers/requires.js';

withLeakCheck();

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;

const retry = { attempts: 3, baseDelayMs: 10 };

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', timeout: 120_000 });
  return stdout;
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, ...names: string[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBerthError(err, code), `want ${code}, got ${String(err)}`);
    for (const n of names) assert.ok(err.message.includes(n), `message names ${n}: ${err.message}`);
    return true;
  });
}

async function storeContents(store: LocalContentStore): Promise<{ blobs: string[]; ingests: number }> {
  const blobs: string[] = [];
  for await (const b of store.list()) blobs.push(b.digest);
  return { blobs: blobs.sort(), ingests: (await store.listIngests()).length };
}

/** Waits for a condition the system reaches in the background (no duration is asserted; the deadline only bounds a hang). */
async function eventually(what: string, check: () => boolean, deadlineMs = 30_000): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`${what}: not reached within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('registry mirrors', { skip }, () => {
  let work: string;
  let upstream: RegistryServer;
  let cache: RegistryServer;
  let image: BuiltImage;
  let stores = 0;
  const clients: RegistryClient[] = [];
  const servers: Array<{ stop(): Promise<void> }> = [];

  const newStore = (): LocalContentStore => new LocalContentStore(join(work, `store-${++stores}`));
  const client = (opts: RegistryClientOptions, log?: string[]): RegistryClient => {
    const c = new RegistryClient({ retry, ...(log ? { logger: { debug: (m: string) => log.push(m) } } : {}), ...opts });
    clients.push(c);
    return c;
  };
  const allBlobs = (): string[] => [image.manifestDigest, image.configDigest, ...image.layerDigests].sort();
  const ref = (tag = '1'): string => `${upstream.host}/mirror/app:${tag}`;

  /** A test registry holding the same image as the upstream, under the same name, for lies to be told about. */
  async function hostileCopy(options: { manifestServed?: Buffer; layerServed?: (layer: Buffer) => Buffer } = {}): Promise<HostileRegistry> {
    const h = await startHostileRegistry();
    servers.push(h);
    const blob = (d: string): Promise<Buffer> => readFile(join(image.dir, 'blobs/sha256', d.slice(7)));
    h.putBlob(await blob(image.configDigest));
    for (const d of image.layerDigests) {
      const layer = await blob(d);
      h.putBlob(layer, options.layerServed ? { servedBytes: options.layerServed(layer) } : {});
    }
    const manifest = await blob(image.manifestDigest);
    h.putManifest('mirror/app', '1', manifest, options.manifestServed ? { servedBody: options.manifestServed } : {});
    return h;
  }

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}mirror-`));
    upstream = await startDockerRegistry();
    cache = await startDockerRegistry({ proxy: { remoteurl: upstream.url } });
    image = await buildBusyboxLayout(join(work, 'layout'), { extraLayerBytes: randomBytes(512 << 10) });
    await skopeo('copy', '--dest-tls-verify=false', `oci:${image.dir}:1`, `docker://${upstream.host}/mirror/app:1`);
  });
  after(async () => {
    for (const c of clients) await c.close();
    for (const s of servers) await s.stop();
    await cache?.stop();
    await upstream?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a pull through a pull-through cache mirror gets the image, and the mirror then holds its blobs', async () => {
    const log: string[] = [];
    const c = client({ mirrors: { [upstream.host]: [cache.url] } }, log);
    const store = newStore();
    const r = await pullImage(c, store, ref());
    assert.equal(r.descriptor.digest, image.manifestDigest);
    assert.deepEqual((await storeContents(store)).blobs, allBlobs());
    // The manifest came with the tag's resolution; the config and layers one by one.
    const served = [`resolving \`${ref()}\``, image.configDigest, ...image.layerDigests];
    for (const what of served) {
      assert.ok(
        log.some((l) => l.includes(what) && l.includes(`from mirror ${cache.url}`)),
        `${what} came from the mirror:\n${log.join('\n')}`,
      );
    }
    assert.ok(!log.some((l) => l.includes('failed')), log.join('\n'));
    // The cache fetched what berth asked it for from the upstream, and stores it in the background.
    for (const d of [image.configDigest, ...image.layerDigests]) await eventually(`the mirror stores ${d}`, () => cache.hasBlob(d));
  });

  test('with the mirror stopped, the pull falls through to the registry, and the dead mirror is not asked again for a while', async () => {
    const mirror = await startDockerRegistry({ proxy: { remoteurl: upstream.url } });
    servers.push(mirror);
    const log: string[] = [];
    // A clock that stands still: the backoff cannot run out during the test, however slow the host.
    const now = Date.now();
    const c = client({ mirrors: { [upstream.host]: [mirror.url] }, now: () => now }, log);
    await pullImage(c, newStore(), ref());
    assert.ok(log.some((l) => l.includes(`from mirror ${mirror.url}`)));
    await mirror.stop();
    log.length = 0;
    const store = newStore();
    const r = await pullImage(c, store, ref());
    assert.equal(r.descriptor.digest, image.manifestDigest);
    assert.deepEqual((await storeContents(store)).blobs, allBlobs());
    assert.ok(!log.some((l) => l.includes('from mirror')), log.join('\n'));
    assert.equal(log.filter((l) => l.includes(`mirror ${mirror.url} failed`)).length, 1, log.join('\n'));
    assert.ok(log.some((l) => l.includes(`skipping mirror ${mirror.url}`)), log.join('\n'));
  });

  test('a mirror nobody listens on, a mirror answering 500, and one refusing with 401 are passed over in order', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const failing = await startHostileRegistry();
    servers.push(failing);
    failing.faults.push({ match: /^(GET|HEAD) \/v2\/.+/, action: { status: 500 }, times: Infinity });
    const locked = await startDockerRegistry({ htpasswd: { username: 'u', password: 'p' } });
    servers.push(locked);
    const log: string[] = [];
    const c = client({ mirrors: { [upstream.host]: [nobody, failing.url, locked.url] } }, log);
    const store = newStore();
    const r = await pullImage(c, store, ref());
    assert.equal(r.descriptor.digest, image.manifestDigest);
    assert.deepEqual((await storeContents(store)).blobs, allBlobs());
    assert.ok(log.some((l) => l.includes(`mirror ${nobody} failed`) && /ECONNREFUSED/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => l.includes(`mirror ${failing.url} failed`) && /answered 500/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => l.includes(`mirror ${locked.url} failed`) && /REGISTRY_UNAUTHORIZED|needs a username/.test(l)), log.join('\n'));
    // One try each against the failing mirror: a mirror is not retried with backoff, the next endpoint answers.
    assert.equal(failing.log.filter((l) => l.path === '/v2/mirror/app/manifests/1').length, 1);
  });

  test('a mirror whose manifest lies is passed over: the pull gets the registry’s verified manifest', async () => {
    const manifest = await readFile(join(image.dir, 'blobs/sha256', image.manifestDigest.slice(7)));
    const liar = await hostileCopy({ manifestServed: Buffer.from(manifest.toString().replace('"schemaVersion":2', '"schemaVersion": 2')) });
    const log: string[] = [];
    const c = client({ mirrors: { [upstream.host]: [liar.url] } }, log);
    const store = newStore();
    const r = await pullImage(c, store, ref());
    assert.equal(r.descriptor.digest, image.manifestDigest);
    assert.equal((await store.readBlob(image.manifestDigest, { maxBytes: 1 << 20 })).toString(), manifest.toString());
    assert.ok(log.some((l) => l.includes(`mirror ${liar.url} failed`) && l.includes('not') && l.includes(image.manifestDigest)), log.join('\n'));
    // The blobs, honest on the mirror, still came from it.
    assert.ok(log.some((l) => l.includes(image.layerDigests[0]!) && l.includes(`from mirror ${liar.url}`)), log.join('\n'));
  });

  test('a mirror sending a layer of another size is passed over before a byte is used', async () => {
    const liar = await hostileCopy({ layerServed: (layer) => Buffer.concat([layer, Buffer.from('extra')]) });
    const log: string[] = [];
    const c = client({ mirrors: { [upstream.host]: [liar.url] } }, log);
    const store = newStore();
    await pullImage(c, store, ref());
    assert.deepEqual(await storeContents(store), { blobs: allBlobs(), ingests: 0 });
    assert.ok(log.some((l) => l.includes(`mirror ${liar.url} failed`) && /CONTENT_SIZE_MISMATCH|bytes where/.test(l)), log.join('\n'));
  });

  test('a mirror sending a layer with the right size and wrong bytes ends in CONTENT_DIGEST_MISMATCH, and nothing of it is kept', async () => {
    const liar = await hostileCopy({
      layerServed: (layer) => {
        const bad = Buffer.from(layer);
        bad[bad.length - 1] = bad[bad.length - 1]! ^ 0xff;
        return bad;
      },
    });
    const c = client({ mirrors: { [upstream.host]: [liar.url] } });
    const store = newStore();
    await rejectsWith(pullImage(c, store, ref()), 'CONTENT_DIGEST_MISMATCH', image.layerDigests[0]!);
    const contents = await storeContents(store);
    for (const d of image.layerDigests) assert.ok(!contents.blobs.includes(d), `${d} not committed`);
    assert.equal(contents.ingests, 0);
  });

  test('a mirror of docker.io, named by any of its aliases, serves `busybox` as library/busybox', async () => {
    const hub = await startHostileRegistry();
    servers.push(hub);
    const blob = (d: string): Promise<Buffer> => readFile(join(image.dir, 'blobs/sha256', d.slice(7)));
    hub.putBlob(await blob(image.configDigest));
    for (const d of image.layerDigests) hub.putBlob(await blob(d));
    hub.putManifest('library/busybox', 'latest', await blob(image.manifestDigest));
    // `index.docker.io` is Docker Hub too.
    const c = client({ mirrors: { 'index.docker.io': [hub.url] } });
    const store = newStore();
    const r = await pullImage(c, store, 'busybox');
    assert.equal(r.descriptor.digest, image.manifestDigest);
    assert.deepEqual((await storeContents(store)).blobs, allBlobs());
    assert.ok(hub.log.some((l) => l.path === '/v2/library/busybox/manifests/latest'));
  });

  test('a mirror with token auth of its own gets a token for its host with its own credentials, never the registry’s', { skip: which('openssl') ? undefined : 'needs openssl' }, async () => {
    const issuer = await startTokenIssuer({ users: { bob: { password: 'bob-pw', grants: [{ repository: 'mirror/*', actions: ['pull'] }] } } });
    servers.push(issuer);
    const mirror = await startDockerRegistry({ proxy: { remoteurl: upstream.url }, token: issuer.registryConfig });
    servers.push(mirror);
    const log: string[] = [];
    const credentials = (host: string): { username: string; password: string } | undefined =>
      host === mirror.host ? { username: 'bob', password: 'bob-pw' } : host === upstream.host ? { username: 'upstream-user', password: 'secret' } : undefined;
    const c = client({ mirrors: { [upstream.host]: [mirror.url] }, credentials }, log);
    const store = newStore();
    await pullImage(c, store, ref());
    assert.deepEqual((await storeContents(store)).blobs, allBlobs());
    assert.ok(!log.some((l) => l.includes('failed')), log.join('\n'));
    assert.ok(log.some((l) => l.includes(image.layerDigests[0]!) && l.includes(`from mirror ${mirror.url}`)), log.join('\n'));
    // One token, for bob, for the repository's pull scope, with the mirror's service.
    assert.deepEqual(
      issuer.requests.map((r) => [r.user, r.service, r.scopes, r.status]),
      [['bob', issuer.service, ['repository:mirror/app:pull'], 200]],
    );
  });

  test('a push with mirrors configured goes to the registry only', async () => {
    const watcher = await startHostileRegistry();
    servers.push(watcher);
    const c = client({ mirrors: { [upstream.host]: [watcher.url, cache.url] } });
    const store = newStore();
    const pulled = await pullImage(c, store, ref());
    const before = watcher.log.length;
    const results: string[] = [];
    await pushImage(c, store, `${upstream.host}/mirror/pushed:1`, pulled.manifestDescriptor, { onProgress: (e) => e.result && results.push(e.result) });
    assert.equal(results.length, 3);
    assert.deepEqual(watcher.log.slice(before), []);
    assert.match(await skopeo('inspect', '--tls-verify=false', '--raw', `docker://${upstream.host}/mirror/pushed:1`), /schemaVersion/);
    // The pull-through cache refuses pushes: had the push gone there, it would have failed.
    assert.ok(!existsSync(join(cache.dir, 'data/docker/registry/v2/repositories/mirror/pushed')));
  });

  test('mirror settings are checked: each bad entry fails with ARGUMENT_INVALID naming it', () => {
    const bad: Array<[Record<string, string[]>, string]> = [
      [{ 'docker.io': ['ftp://mirror.example'] }, 'ftp://mirror.example'],
      [{ 'docker.io': ['http://mirror.example'] }, 'plain HTTP'],
      [{ 'docker.io': ['https://mirror.example/v2/'] }, 'https://mirror.example/v2/'],
      [{ 'docker.io': ['https://user:pw@mirror.example'] }, 'without path, query, credentials'],
      [{ 'docker.io': ['not a url'] }, 'not a url'],
      [{ 'https://docker.io': ['https://mirror.example'] }, 'https://docker.io'],
    ];
    for (const [mirrors, names] of bad) {
      assert.throws(
        () => new RegistryClient({ mirrors }),
        (err: unknown) => {
          assert.ok(isBerthError(err, 'ARGUMENT_INVALID'), String(err));
          assert.ok(err.message.includes(names), `${err.message} names ${names}`);
          return true;
        },
      );
    }
    // Plain HTTP is fine for a loopback mirror, or one marked insecure.
    new RegistryClient({ mirrors: { 'docker.io': ['http://127.0.0.1:5000', 'http://localhost:5001'] } });
    new RegistryClient({ mirrors: { 'docker.io': ['http://mirror.example'] }, insecureRegistries: ['mirror.example'] });
  });
});
