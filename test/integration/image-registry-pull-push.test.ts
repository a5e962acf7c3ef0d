/**
 * berth's registry client against a real registry (Debian's docker-registry,
 * distribution 2.8) on 127.0.0.1, with images berth did not write: skopeo
 * pushes a busybox image built here, berth pulls it; berth pushes, skopeo
 * reads back. Plain HTTP, htpasswd Basic auth, and TLS with a test CA.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomBytes } from 'node:crypto';

import { isBerthError } from '../../src/errors/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { loadDockerConfig, pullImage, pushImage, RegistryClient, type PullProgress } from '../../src/image/distribution/index.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { makeTestCa } from '../helpers/registry/test-ca.js';
import { which } from '../helpers/requires.js';

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const retry = { attempts: 3, baseDelayMs: 10 };

describe('registry: plain HTTP', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let image: BuiltImage;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-registry-test-'));
    reg = await startDockerRegistry();
    // Two layers, the second large enough to span many chunks.
    image = await buildBusyboxLayout(join(work, 'layout'), { extraLayerBytes: randomBytes(3 << 20) });
    skopeo('copy', '--dest-tls-verify=false', `oci:${image.dir}:1`, `docker://${reg.host}/busybox:1`);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('pull of an image pushed by skopeo stores manifest, config and layers with their digests', async () => {
    const store = new LocalContentStore(join(work, 'store1'));
    const client = new RegistryClient({ retry });
    const events: PullProgress[] = [];
    try {
      const result = await pullImage(client, store, `${reg.host}/busybox:1`, { onProgress: (e) => events.push(e) });
      assert.equal(result.descriptor.digest, image.manifestDigest);
      assert.equal(result.manifestDescriptor.digest, image.manifestDigest);
      assert.equal(result.ref.digest, image.manifestDigest);
      assert.equal(result.config.os, 'linux');
      assert.deepEqual(result.config.rootfs.diff_ids, image.diffIds);
      assert.deepEqual(result.manifest.layers.map((l) => l.digest), image.layerDigests);
      for (const d of [image.manifestDigest, image.configDigest, ...image.layerDigests]) assert.ok(await store.findInfo(d), `${d} is in the store`);
      for (const d of image.layerDigests) {
        const phases = events.filter((e) => e.id === d).map((e) => e.phase);
        assert.equal(phases[0], 'waiting');
        assert.ok(phases.includes('downloading') && phases.includes('verifying'), phases.join(','));
        assert.equal(phases.at(-1), 'done');
        const last = events.filter((e) => e.id === d).at(-1)!;
        assert.equal(last.current, last.total);
      }
      // A second pull fetches nothing: every blob is reported cached.
      const again: PullProgress[] = [];
      await pullImage(client, store, `${reg.host}/busybox@${image.manifestDigest}`, { onProgress: (e) => again.push(e) });
      assert.ok(again.filter((e) => e.phase === 'done').every((e) => e.cached));
      assert.equal(again.filter((e) => e.phase === 'downloading').length, 0);
    } finally {
      await client.close();
    }
  });

  test('a missing tag and a missing repository fail with MANIFEST_NOT_FOUND naming the reference', async () => {
    const client = new RegistryClient({ retry });
    try {
      await assert.rejects(client.resolve(`${reg.host}/busybox:nope`), (err: unknown) => {
        assert.ok(isBerthError(err, 'MANIFEST_NOT_FOUND'), String(err));
        assert.match(err.message, new RegExp(`${reg.host}/busybox:nope`));
        return true;
      });
      await assert.rejects(client.resolve(`${reg.host}/nothing/here:1`), (err: unknown) => isBerthError(err, 'MANIFEST_NOT_FOUND'));
    } finally {
      await client.close();
    }
  });

  test('push by berth (monolithic, chunked, cross-repository mount) reads back with skopeo', async () => {
    const store = new LocalContentStore(join(work, 'store2'));
    const client = new RegistryClient({ retry });
    try {
      const pulled = await pullImage(client, store, `${reg.host}/busybox:1`);
      const results: string[] = [];
      await pushImage(client, store, `${reg.host}/mono/busybox:2`, pulled.manifestDescriptor, { onProgress: (e) => e.result && results.push(e.result) });
      assert.deepEqual(results.sort(), ['uploaded', 'uploaded', 'uploaded']);
      results.length = 0;
      await pushImage(client, store, `${reg.host}/chunked/busybox:3`, pulled.manifestDescriptor, { chunkSizeBytes: 256 << 10, onProgress: (e) => e.result && results.push(e.result) });
      assert.deepEqual(results.sort(), ['uploaded', 'uploaded', 'uploaded']);
      results.length = 0;
      await pushImage(client, store, `${reg.host}/mounted/busybox:4`, pulled.manifestDescriptor, { mountFrom: 'busybox', onProgress: (e) => e.result && results.push(e.result) });
      assert.deepEqual(results.sort(), ['mounted', 'mounted', 'mounted']);
      results.length = 0;
      await pushImage(client, store, `${reg.host}/mono/busybox:again`, pulled.manifestDescriptor, { onProgress: (e) => e.result && results.push(e.result) });
      assert.deepEqual(results.sort(), ['exists', 'exists', 'exists']);

      for (const name of ['mono/busybox:2', 'chunked/busybox:3', 'mounted/busybox:4', 'mono/busybox:again']) {
        const raw = skopeo('inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/${name}`);
        assert.equal(raw, await readFile(join(image.dir, 'blobs/sha256', image.manifestDigest.slice(7)), 'utf8'), name);
        const out = join(work, `back-${name.replace(/[/:]/g, '-')}`);
        // skopeo verifies every blob's digest as it copies.
        skopeo('copy', '--src-tls-verify=false', `docker://${reg.host}/${name}`, `oci:${out}:x`);
        for (const d of image.layerDigests) assert.ok(existsSync(join(out, 'blobs/sha256', d.slice(7))), `${name}: layer ${d}`);
      }
    } finally {
      await client.close();
    }
  });
});

describe('registry: htpasswd Basic auth', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let image: BuiltImage;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-registry-basic-'));
    reg = await startDockerRegistry({ htpasswd: { username: 'berth', password: 's3cret' } });
    image = await buildBusyboxLayout(join(work, 'layout'));
    skopeo('copy', '--dest-tls-verify=false', '--dest-creds=berth:s3cret', `oci:${image.dir}:1`, `docker://${reg.host}/private/busybox:1`);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('pull with credentials from a Docker config.json', async () => {
    const config = join(work, 'config.json');
    await writeFile(config, JSON.stringify({ auths: { [`http://${reg.host}`]: { auth: Buffer.from('berth:s3cret').toString('base64') } } }));
    const client = new RegistryClient({ credentials: await loadDockerConfig(config), retry });
    try {
      const store = new LocalContentStore(join(work, 'store'));
      const r = await pullImage(client, store, `${reg.host}/private/busybox:1`);
      assert.equal(r.descriptor.digest, image.manifestDigest);
      await pushImage(client, store, `${reg.host}/private/copy:1`, r.manifestDescriptor);
      assert.match(skopeo('inspect', '--tls-verify=false', '--creds=berth:s3cret', '--raw', `docker://${reg.host}/private/copy:1`), /schemaVersion/);
    } finally {
      await client.close();
    }
  });

  test('anonymous and wrong credentials fail with REGISTRY_UNAUTHORIZED', async () => {
    for (const credentials of [undefined, () => ({ username: 'berth', password: 'wrong' })]) {
      const client = new RegistryClient({ credentials, retry });
      try {
        await assert.rejects(pullImage(client, new LocalContentStore(join(work, 'store-bad')), `${reg.host}/private/busybox:1`), (err: unknown) => {
          assert.ok(isBerthError(err, 'REGISTRY_UNAUTHORIZED'), String(err));
          return true;
        });
      } finally {
        await client.close();
      }
    }
  });
});

describe('registry: TLS with a test CA', { skip: skip ?? (which('openssl') ? undefined : 'needs openssl') }, () => {
  let work: string;
  let reg: RegistryServer;
  let image: BuiltImage;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-registry-tls-'));
    const ca = await makeTestCa(work);
    reg = await startDockerRegistry({ tls: { certPath: ca.certPath, keyPath: ca.keyPath, caPem: ca.caPem } });
    await mkdir(join(work, 'certs.d', reg.host), { recursive: true });
    await copyFile(ca.caPath, join(work, 'certs.d', reg.host, 'ca.crt'));
    image = await buildBusyboxLayout(join(work, 'layout'));
    skopeo('copy', `--dest-cert-dir=${join(work, 'certs.d', reg.host)}`, `oci:${image.dir}:1`, `docker://${reg.host}/busybox:1`);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('pull over HTTPS trusting the CA from certs.d/<host>/ca.crt', async () => {
    const client = new RegistryClient({ certsDir: join(work, 'certs.d'), retry });
    try {
      const r = await pullImage(client, new LocalContentStore(join(work, 'store')), `${reg.host}/busybox:1`);
      assert.equal(r.descriptor.digest, image.manifestDigest);
    } finally {
      await client.close();
    }
  });

  test('without the CA the pull fails naming TLS verification, and never falls back to plain HTTP', async () => {
    const client = new RegistryClient({ retry });
    try {
      await assert.rejects(client.resolve(`${reg.host}/busybox:1`), (err: unknown) => {
        assert.ok(isBerthError(err, 'REGISTRY_UNAVAILABLE'), String(err));
        assert.match(err.message, /TLS verification failed/);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});
