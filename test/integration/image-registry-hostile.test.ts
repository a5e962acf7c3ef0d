/**
 * The registry client against a registry that lies, truncates, fails and
 * redirects (test/helpers/registry/hostile-registry.ts): every failure is a
 * clear error naming the digest, and nothing unverified reaches the store.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { isBerthError, type ErrorCode } from '../../src/errors/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { pullImage, RegistryClient } from '../../src/image/distribution/index.js';
import { MEDIA_TYPE } from '../../src/image/manifest/index.js';
import { startHostileRegistry, type HostileRegistry } from '../helpers/registry/hostile-registry.js';

const retry = { attempts: 3, baseDelayMs: 5 };

interface Image {
  manifest: Buffer;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  layer: Buffer;
}

function makeImage(reg: HostileRegistry, options: { layerServed?: Buffer } = {}): Image {
  const layer = gzipSync(randomBytes(600 << 10));
  const layerDigest = reg.putBlob(layer, options.layerServed ? { servedBytes: options.layerServed } : {});
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }));
  const configDigest = reg.putBlob(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociManifest,
      config: { mediaType: MEDIA_TYPE.ociConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: MEDIA_TYPE.ociLayerGzip, digest: layerDigest, size: layer.length }],
    }),
  );
  return { manifest, manifestDigest: reg.putManifest('app', '1', manifest), configDigest, layerDigest, layer };
}

async function rejectsWith(p: Promise<unknown>, code: ErrorCode, names: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isBerthError(err, code), `want ${code}, got ${String(err)}`);
    assert.ok(err.message.includes(names), `message names ${names}: ${err.message}`);
    return true;
  });
}

async function storeContents(store: LocalContentStore): Promise<{ blobs: string[]; ingests: number }> {
  const blobs: string[] = [];
  for await (const b of store.list()) blobs.push(b.digest);
  return { blobs, ingests: (await store.listIngests()).length };
}

describe('hostile registry', () => {
  let reg: HostileRegistry;
  let work: string;
  let store: LocalContentStore;
  let client: RegistryClient;
  beforeEach(async () => {
    reg = await startHostileRegistry();
    work = await mkdtemp(join(tmpdir(), 'berth-hostile-'));
    store = new LocalContentStore(join(work, 'store'));
    client = new RegistryClient({ retry });
  });
  afterEach(async () => {
    await client.close();
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('a manifest whose bytes do not match the digest the server claims is refused, nothing stored', async () => {
    const img = makeImage(reg);
    const other = Buffer.from(img.manifest.toString().replace('"schemaVersion":2', '"schemaVersion":2 '));
    reg.putManifest('app', '1', img.manifest, { servedBody: other });
    await rejectsWith(pullImage(client, store, `${reg.host}/app:1`), 'CONTENT_DIGEST_MISMATCH', img.manifestDigest);
    assert.deepEqual(await storeContents(store), { blobs: [], ingests: 0 });
  });

  test('a pull by digest refuses a manifest that hashes to something else', async () => {
    const img = makeImage(reg);
    const fake = `sha256:${'e'.repeat(64)}`;
    reg.putManifest('app', fake, img.manifest, { digestHeader: fake });
    await rejectsWith(client.resolve(`${reg.host}/app@${fake}`), 'CONTENT_DIGEST_MISMATCH', fake);
  });

  test('garbage JSON with an honest digest fails MANIFEST_INVALID naming the digest, nothing stored', async () => {
    const digest = reg.putManifest('app', 'garbage', '{"schemaVersion": 2, "layers": [}');
    await rejectsWith(pullImage(client, store, `${reg.host}/app:garbage`), 'MANIFEST_INVALID', digest);
    assert.deepEqual(await storeContents(store), { blobs: [], ingests: 0 });
  });

  test('a blob that lies about its digest is not committed and its ingest is dropped', async () => {
    const img = makeImage(reg);
    // Same size, other bytes.
    const bad = Buffer.from(img.layer);
    bad.writeUInt8(bad.readUInt8(bad.length - 1) ^ 0xff, bad.length - 1);
    reg.putBlob(img.layer, { servedBytes: bad });
    await rejectsWith(pullImage(client, store, `${reg.host}/app:1`), 'CONTENT_DIGEST_MISMATCH', img.layerDigest);
    const contents = await storeContents(store);
    assert.ok(!contents.blobs.includes(img.layerDigest));
    assert.equal(contents.ingests, 0);
  });

  test('a 500 before success is retried, for the manifest and for a blob', async () => {
    const img = makeImage(reg);
    reg.faults.push({ match: /^GET .*\/manifests\//, action: { status: 500 }, times: 1 });
    reg.faults.push({ match: /^HEAD .*\/manifests\//, action: { status: 503 }, times: 1 });
    reg.faults.push({ match: new RegExp(`^GET .*/blobs/${img.layerDigest}`), action: { status: 502 }, times: 2 });
    const r = await pullImage(client, store, `${reg.host}/app:1`);
    assert.equal(r.descriptor.digest, img.manifestDigest);
    assert.ok(await store.findInfo(img.layerDigest));
    assert.equal(reg.log.filter((l) => l.method === 'GET' && l.path.endsWith(img.layerDigest)).length, 3);
  });

  test('500 for good ends with REGISTRY_UNAVAILABLE naming the blob, nothing committed', async () => {
    const img = makeImage(reg);
    reg.faults.push({ match: new RegExp(`^GET .*/blobs/${img.layerDigest}`), action: { status: 500 }, times: Infinity });
    await rejectsWith(pullImage(client, store, `${reg.host}/app:1`), 'REGISTRY_UNAVAILABLE', img.layerDigest);
    assert.ok(!(await storeContents(store)).blobs.includes(img.layerDigest));
  });

  test('a truncated download resumes with a Range request from the bytes already held', async () => {
    const img = makeImage(reg);
    reg.faults.push({ match: new RegExp(`^GET .*/blobs/${img.layerDigest}`), action: { truncateAfter: 200_000 }, times: 1 });
    await pullImage(client, store, `${reg.host}/app:1`);
    assert.ok(await store.findInfo(img.layerDigest));
    const gets = reg.log.filter((l) => l.method === 'GET' && l.path.endsWith(img.layerDigest));
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.headers.range, undefined);
    const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.headers.range ?? '')?.[1]);
    assert.ok(from > 0 && from <= 200_000, `resumed from ${from}`);
  });

  test('a download truncated every time fails naming the blob, and keeps the partial ingest for later', async () => {
    const img = makeImage(reg);
    reg.faults.push({ match: new RegExp(`^GET .*/blobs/${img.layerDigest}`), action: { truncateAfter: 1000 }, times: Infinity });
    await rejectsWith(pullImage(client, store, `${reg.host}/app:1`), 'REGISTRY_UNAVAILABLE', img.layerDigest);
    assert.ok(!(await storeContents(store)).blobs.includes(img.layerDigest));
  });

  test('blob redirects are followed, and credentials never reach another origin', async () => {
    const bearer = await startHostileRegistry({ bearer: true });
    const authed = new RegistryClient({ retry, credentials: () => ({ username: 'u', password: 'p' }) });
    try {
      const img = makeImage(bearer);
      bearer.faults.push({
        match: new RegExp(`^GET /v2/app/blobs/${img.layerDigest}`),
        action: { redirect: `http://${bearer.otherOrigin}/v2/storage/${img.layerDigest}` },
        times: 1,
      });
      await pullImage(authed, store, `${bearer.host}/app:1`);
      const storage = bearer.log.find((l) => l.path === `/v2/storage/${img.layerDigest}`);
      assert.ok(storage, 'the redirect was followed');
      assert.equal(storage.headers.host, bearer.otherOrigin);
      assert.equal(storage.headers.authorization, undefined);
      const first = bearer.log.find((l) => l.path === `/v2/app/blobs/${img.layerDigest}` && l.headers.authorization);
      assert.ok(first, 'the registry itself got the token');
    } finally {
      await authed.close();
      await bearer.stop();
    }
  });

  test('an unknown layer media type fails MANIFEST_UNSUPPORTED naming the layer', async () => {
    const img = makeImage(reg);
    const m = JSON.parse(img.manifest.toString());
    m.layers[0].mediaType = 'application/x-mystery';
    reg.putManifest('app', 'odd', JSON.stringify(m));
    await rejectsWith(pullImage(client, store, `${reg.host}/app:odd`), 'MANIFEST_UNSUPPORTED', img.layerDigest);
  });
});

describe('bearer token flow', () => {
  let reg: HostileRegistry;
  let work: string;
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a 401 challenge leads to a token for the repository scope, sent with Basic credentials, reused across blobs', async () => {
    reg = await startHostileRegistry({ bearer: true });
    work = await mkdtemp(join(tmpdir(), 'berth-bearer-'));
    const img = makeImage(reg);
    const client = new RegistryClient({ retry, credentials: (host) => (host === reg.host ? { username: 'alice', password: 'pw' } : undefined) });
    try {
      const r = await pullImage(client, new LocalContentStore(join(work, 'store')), `${reg.host}/app:1`);
      assert.equal(r.descriptor.digest, img.manifestDigest);
    } finally {
      await client.close();
    }
    assert.equal(reg.tokens.length, 1, JSON.stringify(reg.tokens));
    assert.deepEqual(reg.tokens[0]!.scope, ['repository:app:pull']);
    assert.equal(reg.tokens[0]!.service, 'hostile');
    assert.equal(reg.tokens[0]!.authorization, `Basic ${Buffer.from('alice:pw').toString('base64')}`);
    const blobGets = reg.log.filter((l) => l.path.includes('/blobs/'));
    assert.ok(blobGets.every((l) => l.headers.authorization === 'Bearer tok-repository:app:pull'));
  });
});
