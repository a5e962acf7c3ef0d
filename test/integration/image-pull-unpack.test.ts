/**
 * pullAndUnpack against a real registry (Debian's docker-registry) with
 * images pushed by skopeo: each layer is downloaded, verified and unpacked
 * in one pass into its own overlay lower directory, one of this pull's own;
 * a blob that lies about its digest, or a config that lies about a diffID,
 * leaves no committed blob and no layer directory.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack, type PullUnpackProgress } from '../../src/image/distribution/pull-and-unpack.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { imageBlobs, pushLayout, sha256, tarOf } from '../helpers/registry/image-builder.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { startHostileRegistry } from '../helpers/registry/hostile-registry.js';
import { which } from '../helpers/requires.js';

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;

const retry = { attempts: 2, baseDelayMs: 10 };
const hex = (digest: string): string => digest.slice('sha256:'.length);

/** Path of a blob in docker-registry's filesystem storage. */
function registryBlob(reg: RegistryServer, digest: string): string {
  return join(reg.dir, 'data/docker/registry/v2/blobs/sha256', hex(digest).slice(0, 2), hex(digest), 'data');
}

/** Rewrites a layout's config so that diff_ids[i] lies; returns nothing (index.json points to the new manifest). */
async function lieAboutDiffId(image: BuiltImage, i: number): Promise<void> {
  const blobs = join(image.dir, 'blobs/sha256');
  const manifest = JSON.parse(await readFile(join(blobs, hex(image.manifestDigest)), 'utf8'));
  const config = JSON.parse(await readFile(join(blobs, hex(image.configDigest)), 'utf8'));
  config.rootfs.diff_ids[i] = sha256(Buffer.from('not this layer'));
  const cb = Buffer.from(JSON.stringify(config));
  await writeFile(join(blobs, hex(sha256(cb))), cb);
  manifest.config = { ...manifest.config, digest: sha256(cb), size: cb.length };
  const mb = Buffer.from(JSON.stringify(manifest));
  await writeFile(join(blobs, hex(sha256(mb))), mb);
  const index = JSON.parse(await readFile(join(image.dir, 'index.json'), 'utf8'));
  index.manifests[0] = { ...index.manifests[0], digest: sha256(mb), size: mb.length };
  await writeFile(join(image.dir, 'index.json'), JSON.stringify(index));
}

/** Everything in the layers root: a failed pull leaves nothing there. */
async function leftovers(root: string): Promise<string[]> {
  return readdir(root).catch(() => [] as string[]);
}

/** Unpack directories are `unpack-<pid>-<start time>-<random>-<diffID hex, 12>`. */
function assertUnpackDirName(dir: string | undefined, diffId: string): void {
  assert.ok(dir !== undefined);
  assert.match(basename(dir), new RegExp(`^unpack-${process.pid}-\\d+-[0-9a-f]{16}-${hex(diffId).slice(0, 12)}$`));
}

describe('pullAndUnpack: one streaming pass per layer', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let image: BuiltImage;
  let extra: Buffer;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-pull-unpack-'));
    reg = await startDockerRegistry();
    extra = randomBytes(3 << 20);
    image = await buildBusyboxLayout(join(work, 'layout'), { extraLayerBytes: extra });
    pushLayout(image, `${reg.host}/busybox:1`);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a 2-layer image lands as one directory per layer, of this pull alone, checked by diffID, blobs committed', async () => {
    const store = new LocalContentStore(join(work, 'store1'));
    const layersRoot = join(work, 'layers1');
    const client = new RegistryClient({ retry });
    const events: PullUnpackProgress[] = [];
    try {
      const result = await pullAndUnpack(client, store, `${reg.host}/busybox:1`, layersRoot, { onProgress: (e) => events.push(e) });
      assert.equal(result.manifestDescriptor.digest, image.manifestDigest);
      assert.deepEqual(result.config.rootfs.diff_ids, image.diffIds);
      assert.deepEqual(result.layers.map((l) => l.digest), image.layerDigests);
      assert.deepEqual(result.layers.map((l) => l.diffId), image.diffIds);
      for (const l of result.layers) assertUnpackDirName(l.dir, l.diffId);
      assert.ok(result.layers.every((l) => !l.cached && !l.inSnapshot));
      assert.deepEqual((await readdir(layersRoot)).sort(), result.layers.map((l) => basename(l.dir!)).sort());

      // Layer 1: busybox, its symlink, /etc/motd; nothing of layer 2.
      const [l1, l2] = result.layers.map((l) => l.dir) as [string, string];
      assert.deepEqual((await readdir(l1)).sort(), ['bin', 'etc']);
      assert.deepEqual((await readdir(join(l1, 'bin'))).sort(), ['busybox', 'sh']);
      assert.ok((await readFile(join(l1, 'bin/busybox'))).equals(await readFile('/bin/busybox')));
      assert.equal((await lstat(join(l1, 'bin/busybox'))).mode & 0o7777, 0o755);
      assert.equal(await readlink(join(l1, 'bin/sh')), 'busybox');
      assert.equal(await readFile(join(l1, 'etc/motd'), 'utf8'), 'berth test image\n');
      // Layer 2: only /data/blob.
      assert.deepEqual(await readdir(l2), ['data']);
      assert.deepEqual(await readdir(join(l2, 'data')), ['blob']);
      assert.ok((await readFile(join(l2, 'data/blob'))).equals(extra));

      for (const d of [image.manifestDigest, image.configDigest, ...image.layerDigests]) assert.ok(await store.findInfo(d), `${d} is in the store`);
      assert.deepEqual(await store.listIngests(), []);
      for (const d of image.layerDigests) {
        const phases = events.filter((e) => e.id === d).map((e) => e.phase);
        assert.equal(phases[0], 'waiting');
        assert.ok(phases.includes('downloading') && phases.includes('verifying'), phases.join(','));
        assert.equal(phases.at(-1), 'done');
      }

      // Again, without a snapshotter to find them in: nothing fetched, each
      // layer unpacked from the store into new directories; the first pull's
      // are untouched (they are its caller's).
      const again: PullUnpackProgress[] = [];
      const second = await pullAndUnpack(client, store, `${reg.host}/busybox@${image.manifestDigest}`, layersRoot, { onProgress: (e) => again.push(e) });
      assert.ok(second.layers.every((l) => l.cached && !l.inSnapshot));
      assert.equal(again.filter((e) => e.phase === 'downloading').length, 0);
      assert.equal(again.filter((e) => e.phase === 'extracting').length, 2);
      const [s1, s2] = second.layers.map((l) => l.dir) as [string, string];
      assert.ok(s1 !== l1 && s2 !== l2);
      assert.ok((await readFile(join(s2, 'data/blob'))).equals(extra));
      assert.ok((await readFile(join(l2, 'data/blob'))).equals(extra));
      assert.equal((await readdir(layersRoot)).length, 4);
    } finally {
      await client.close();
    }
  });

  test('a blob that lies about its digest leaves no committed blob and no layer directory', async () => {
    const lextra = randomBytes(1 << 20);
    const lying = await buildBusyboxLayout(join(work, 'lying-layout'), { extraLayerBytes: lextra });
    pushLayout(lying, `${reg.host}/lying:1`);
    // Same size, still a valid gzip of the same tar (the gzip header's mtime
    // changed): only the compressed digest tells the lie.
    const target = lying.layerDigests[1]!;
    const path = registryBlob(reg, target);
    const bytes = await readFile(path);
    bytes.writeUInt32LE(0x5eed, 4);
    await writeFile(path, bytes);

    const store = new LocalContentStore(join(work, 'store2'));
    const layersRoot = join(work, 'layers2');
    const client = new RegistryClient({ retry });
    try {
      await assert.rejects(pullAndUnpack(client, store, `${reg.host}/lying:1`, layersRoot), (err: unknown) => {
        assert.ok(isBerthError(err, 'CONTENT_DIGEST_MISMATCH'), String(err));
        assert.match(err.message, new RegExp(target));
        return true;
      });
      assert.equal(await store.findInfo(target), undefined);
      assert.deepEqual(await leftovers(layersRoot), [], 'no layer directory, not even of the good layer');
      assert.deepEqual(await store.listIngests(), []);
    } finally {
      await client.close();
    }
  });

  test('a config that lies about a diffID leaves no committed blob and no layer directory', async () => {
    const dextra = randomBytes(1 << 20);
    const lying = await buildBusyboxLayout(join(work, 'diffid-layout'), { extraLayerBytes: dextra });
    await lieAboutDiffId(lying, 1);
    pushLayout(lying, `${reg.host}/diffid:1`);

    const store = new LocalContentStore(join(work, 'store3'));
    const layersRoot = join(work, 'layers3');
    const client = new RegistryClient({ retry });
    try {
      await assert.rejects(pullAndUnpack(client, store, `${reg.host}/diffid:1`, layersRoot), (err: unknown) => {
        assert.ok(isBerthError(err, 'CONTENT_DIGEST_MISMATCH'), String(err));
        assert.match(err.message, /diffID/);
        assert.match(err.message, new RegExp(lying.layerDigests[1]!));
        return true;
      });
      assert.equal(await store.findInfo(lying.layerDigests[1]!), undefined);
      assert.deepEqual(await leftovers(layersRoot), [], 'no layer directory, not even of the good layer');
      assert.deepEqual(await store.listIngests(), []);
    } finally {
      await client.close();
    }
  });
});

describe('pullAndUnpack: a download cut midway', () => {
  test('resumes into the store with a Range request, then unpacks from the store', async () => {
    const reg = await startHostileRegistry();
    const work = await mkdtemp(join(tmpdir(), 'berth-pull-unpack-cut-'));
    const client = new RegistryClient({ retry: { attempts: 3, baseDelayMs: 5 } });
    try {
      const data = randomBytes(600 << 10);
      const image = imageBlobs([await tarOf([{ name: 'data/file', data }])]);
      const layerDigest = reg.putBlob(image.layers[0]!.gz);
      reg.putBlob(image.config);
      reg.putManifest('app', '1', image.manifest.toString());
      reg.faults.push({ match: new RegExp(`^GET .*/blobs/${layerDigest}`), action: { truncateAfter: 200_000 }, times: 1 });
      const store = new LocalContentStore(join(work, 'store'));
      const result = await pullAndUnpack(client, store, `${reg.host}/app:1`, join(work, 'layers'), { platform: 'linux/amd64' });
      assert.ok(await store.findInfo(layerDigest));
      assert.ok((await readFile(join(result.layers[0]!.dir!, 'data/file'))).equals(data));
      assert.deepEqual(await leftovers(join(work, 'layers')), [basename(result.layers[0]!.dir!)], 'the cut attempt left no directory');
      const gets = reg.log.filter((l) => l.method === 'GET' && l.path.endsWith(layerDigest));
      assert.equal(gets.length, 2);
      assert.equal(gets[0]!.headers.range, undefined);
      const from = Number(/^bytes=(\d+)-$/.exec(gets[1]!.headers.range ?? '')?.[1]);
      assert.ok(from > 0 && from <= 200_000, `resumed from ${from}`);
    } finally {
      await client.close();
      await reg.stop();
      await rm(work, { recursive: true, force: true });
    }
  });
});
