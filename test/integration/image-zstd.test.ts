/**
 * zstd-compressed layers end to end: an image built from busybox-static is
 * pushed by skopeo to Debian's docker-registry three times, as it is (gzip),
 * recompressed to zstd, and to zstd:chunked (a frame per file and skippable
 * frames holding a table of contents, as podman writes it). berth pulls and
 * unpacks each (`pullAndUnpack`): the trees and diffIDs must be the gzip
 * image's, and busybox runs from the zstd layers through the overlay
 * snapshotter. A zstd layer damaged in the registry fails naming its digest
 * and leaves nothing behind. An oci-archive with zstd layers (and the same
 * archive zstd-compressed as a whole) imports, and exports as a docker
 * archive whose layer tars hash to the diffIDs, which skopeo reads back; a
 * corrupt zstd layer fails that export naming it, before a byte is written.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import zstd from 'zstd-napi';

import { isBerthError } from '../../src/errors/index.js';
import { exportDockerArchive, importImageArchive } from '../../src/image/archive/index.js';
import { mountAll, unmountAll } from '../../src/image/bundle/mount-rootfs.js';
import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack, type PullUnpackResult } from '../../src/image/distribution/pull-and-unpack.js';
import { MEDIA_TYPE, type ImageManifest } from '../../src/image/manifest/index.js';
import { OverlaySnapshotter, snapshotsFromLayers } from '../../src/image/snapshot/index.js';
import { mountsUnder, withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { requires, which } from '../helpers/requires.js';
import { readTar, toFile } from '../helpers/archive-files.js';

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const retry = { attempts: 2, baseDelayMs: 10 };
const hex = (digest: string): string => digest.slice('sha256:'.length);
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Path of a blob in docker-registry's filesystem storage. */
function registryBlob(reg: RegistryServer, digest: string): string {
  return join(reg.dir, 'data/docker/registry/v2/blobs/sha256', hex(digest).slice(0, 2), hex(digest), 'data');
}

/** Every path under `root` with its type, mode, owner, times and content (or link target). */
async function treeOf(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = join(root, rel, name);
      const st = await lstat(path);
      const what = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? `-> ${await readlink(path)}` : st.isFile() ? sha256(await readFile(path)) : `node ${st.rdev}`;
      out.push(`${join(rel, name)} ${(st.mode & 0o170000).toString(8)} ${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${what}`);
      if (st.isDirectory()) await walk(join(rel, name));
    }
  };
  await walk('');
  return out;
}

async function leftovers(root: string): Promise<string[]> {
  return (await readdir(root).catch(() => [] as string[])).filter((n) => n.startsWith('.tmp-'));
}

withLeakCheck();

describe('zstd layers: pull, unpack, run, import and export', { skip }, () => {
  let work: string;
  /** One registry per compression: skopeo would otherwise reuse a blob it pushed to the same registry in another compression. */
  const regs = new Map<string, RegistryServer>();
  let image: BuiltImage;
  /** The second layer's one file, `/data/blob`. */
  let extra: Buffer;
  let client: RegistryClient;
  /** Tag → the pull's result and its layers root. */
  const pulled = new Map<string, { result: PullUnpackResult; layersRoot: string; store: LocalContentStore }>();

  async function pull(tag: string): Promise<{ result: PullUnpackResult; layersRoot: string; store: LocalContentStore }> {
    const known = pulled.get(tag);
    if (known) return known;
    // A store and a layers root per tag: the three images share diffIDs, and
    // a layer directory already there would be reused instead of unpacked.
    const store = new LocalContentStore(join(work, `store-${tag}`));
    const layersRoot = join(work, `layers-${tag}`);
    const result = await pullAndUnpack(client, store, `${regs.get(tag)!.host}/busybox:${tag}`, layersRoot);
    const entry = { result, layersRoot, store };
    pulled.set(tag, entry);
    return entry;
  }

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}zstd-`));
    for (const tag of ['gzip', 'zstd', 'chunked']) regs.set(tag, await startDockerRegistry());
    client = new RegistryClient({ retry });
    const text = Buffer.from(Array.from({ length: 40_000 }, (_, i) => `line ${i} of a layer that zstd and gzip both shrink\n`).join(''));
    extra = Buffer.concat([randomBytes(1 << 20), text]);
    image = await buildBusyboxLayout(join(work, 'layout'), { extraLayerBytes: extra });
    skopeo('copy', '-q', '--dest-tls-verify=false', `oci:${image.dir}:1`, `docker://${regs.get('gzip')!.host}/busybox:gzip`);
    for (const format of ['zstd', 'zstd:chunked']) {
      const tag = format === 'zstd' ? 'zstd' : 'chunked';
      skopeo('copy', '-q', '--dest-tls-verify=false', '--dest-compress-format', format, `oci:${image.dir}:1`, `docker://${regs.get(tag)!.host}/busybox:${tag}`);
    }
  });
  after(async () => {
    await client?.close();
    for (const reg of regs.values()) await reg.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a zstd image unpacks to the same trees and diffIDs as its gzip twin', async () => {
    const gzip = await pull('gzip');
    assert.deepEqual(gzip.result.manifest.layers.map((l) => l.mediaType), [MEDIA_TYPE.ociLayerGzip, MEDIA_TYPE.ociLayerGzip]);
    for (const tag of ['zstd', 'chunked']) {
      const z = await pull(tag);
      const layers = z.result.manifest.layers;
      assert.deepEqual(layers.map((l) => l.mediaType), [MEDIA_TYPE.ociLayerZstd, MEDIA_TYPE.ociLayerZstd], tag);
      for (const l of layers) {
        const head = await readFile(registryBlob(regs.get(tag)!, l.digest)).then((b) => b.subarray(0, 4));
        assert.deepEqual([...head], [0x28, 0xb5, 0x2f, 0xfd], `${tag} layer ${l.digest} is zstd`);
        assert.ok(!image.layerDigests.includes(l.digest), `${tag}: recompressed, not the gzip blob`);
      }
      assert.deepEqual(z.result.layers.map((l) => l.diffId), image.diffIds, tag);
      assert.ok(z.result.layers.every((l) => !l.cached && !l.inSnapshot), `${tag}: every layer unpacked by this pull`);
      for (const [i, l] of z.result.layers.entries()) {
        assert.ok(l.dir?.startsWith(`${z.layersRoot}/`), `${tag}: layer ${i} is unpacked under the layers root`);
        assert.deepEqual(await treeOf(l.dir!), await treeOf(gzip.result.layers[i]!.dir!), `${tag} layer ${i}`);
        assert.ok(await z.store.findInfo(l.digest), `${tag}: blob ${l.digest} committed`);
      }
      assert.deepEqual(await z.store.listIngests(), []);
      assert.deepEqual(await leftovers(z.layersRoot), []);
    }
    // The comparison is not empty: busybox and its symlink are in the first layer.
    const tree = await treeOf(gzip.result.layers[0]!.dir!);
    assert.ok(tree.some((l) => l.startsWith('bin/busybox 100000 755 0:0')), tree.join('\n'));
    assert.ok(tree.some((l) => l.startsWith('bin/sh 120000') && l.endsWith('-> busybox')), tree.join('\n'));
  });

  test('busybox runs from the zstd layers through the overlay snapshotter', { skip: requires('root', 'overlay') }, async () => {
    // A pull of its own: registering the layers moves their directories into the snapshotter.
    const store = new LocalContentStore(join(work, 'store-run'));
    const result = await pullAndUnpack(client, store, `${regs.get('zstd')!.host}/busybox:zstd`, join(work, 'layers-run'));
    const sn = await new OverlaySnapshotter(join(work, 'snapshots')).init();
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs);
    try {
      const snaps = await snapshotsFromLayers(sn, result.layers);
      const mounts = await sn.prepare('run-zstd', snaps.at(-1)!.chainId);
      await mountAll(mounts, rootfs);
      try {
        const out = execFileSync('chroot', [rootfs, '/bin/sh', '-c', '/bin/busybox cat /etc/motd; /bin/busybox wc -c < /data/blob'], { encoding: 'utf8' });
        assert.equal(out, `berth test image\n${extra.byteLength}\n`);
      } finally {
        await unmountAll(rootfs);
      }
      assert.deepEqual(mountsUnder(work), []);
    } finally {
      for (const s of (await sn.list()).reverse()) await sn.remove(s.name).catch(() => {});
    }
  });

  test('a zstd layer damaged in the registry fails naming its digest, leaving no blob, ingest or directory', async () => {
    const reg = regs.get('zstd')!;
    const other = await buildBusyboxLayout(join(work, 'damaged-layout'), { extraLayerBytes: randomBytes(512 << 10) });
    skopeo('copy', '-q', '--dest-tls-verify=false', '--dest-compress-format', 'zstd', `oci:${other.dir}:1`, `docker://${reg.host}/damaged:1`);
    const manifest = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${reg.host}/damaged:1`)) as ImageManifest;
    const target = manifest.layers[1]!;
    const path = registryBlob(reg, target.digest);
    const bytes = await readFile(path);
    // skopeo's zstd frames end in a checksum of the content (frame header flag 0x04): change its last byte.
    assert.equal(bytes[4]! & 0x04, 0x04, 'the frame has a content checksum');
    bytes[bytes.byteLength - 1]! ^= 0xff;
    await writeFile(path, bytes);

    const store = new LocalContentStore(join(work, 'store-damaged'));
    const layersRoot = join(work, 'layers-damaged');
    await assert.rejects(pullAndUnpack(client, store, `${reg.host}/damaged:1`, layersRoot), (err: unknown) => {
      assert.ok(isBerthError(err, 'LAYER_INVALID'), String(err));
      assert.ok(err.message.includes(target.digest), err.message);
      assert.match(err.message, /zstd.*checksum/);
      return true;
    });
    assert.equal(await store.findInfo(target.digest), undefined, 'the damaged blob is not committed');
    assert.deepEqual(await store.listIngests(), []);
    assert.deepEqual(await leftovers(layersRoot), []);
    const dirs = (await readdir(layersRoot).catch(() => [] as string[])).filter((n) => n.includes(hex(other.diffIds[1]!).slice(0, 12)));
    assert.deepEqual(dirs, [], 'no directory of the damaged layer');
  });

  test('an oci-archive with zstd layers imports, and exports as a docker archive of plain layer tars', async () => {
    const archive = join(work, 'zstd-oci.tar');
    skopeo('copy', '-q', '--src-tls-verify=false', `docker://${regs.get('zstd')!.host}/busybox:zstd`, `oci-archive:${archive}:busybox:zstd`);
    // The same archive compressed as a whole, as `... | zstd` would.
    const archiveZst = join(work, 'zstd-oci.tar.zst');
    await pipeline(createReadStream(archive), new zstd.CompressStream({ compressionLevel: 3, checksumFlag: true }), createWriteStream(archiveZst));

    for (const source of [archive, archiveZst]) {
      const store = new LocalContentStore(join(work, `store-import-${source.endsWith('.zst') ? 'zst' : 'tar'}`));
      const images = await importImageArchive(source, store, { spoolDir: work });
      assert.equal(images.length, 1, source);
      const manifest = JSON.parse((await store.readBlob(images[0]!.descriptor.digest)).toString()) as ImageManifest;
      assert.deepEqual(manifest.layers.map((l) => l.mediaType), [MEDIA_TYPE.ociLayerZstd, MEDIA_TYPE.ociLayerZstd]);

      const out = join(work, `docker-${source.endsWith('.zst') ? 'zst' : 'tar'}.tar`);
      await toFile(out, (w) => exportDockerArchive([{ name: 'busybox:zstd', descriptor: images[0]!.descriptor }], store, w, { spoolDir: work }));
      const files = await readTar(out);
      const saved = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
      assert.deepEqual(saved[0]!.RepoTags, ['busybox:zstd']);
      assert.deepEqual(saved[0]!.Layers.map((p) => sha256(files.get(p)!)), image.diffIds, 'each layer.tar hashes to its diffID');
      const inspected = JSON.parse(skopeo('inspect', '--config', `docker-archive:${out}`)) as { rootfs: { diff_ids: string[] } };
      assert.deepEqual(inspected.rootfs.diff_ids, image.diffIds, 'skopeo reads the export');
    }
    assert.deepEqual((await readdir(work)).filter((n) => n.startsWith('berth-export-') || n.startsWith('berth-archive-')), [], 'no spool directory left');
  });

  test('a corrupt zstd layer in an archive fails the docker export naming the layer, before any output', async () => {
    // An OCI layout whose zstd layer is cut short, with digests taken of the
    // cut bytes: the import (which checks digests) accepts it, the export
    // (which must decompress) cannot.
    const dir = join(work, 'cut-layout');
    skopeo('copy', '-q', '--src-tls-verify=false', `docker://${regs.get('zstd')!.host}/busybox:zstd`, `oci:${dir}:1`);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number }> };
    const blob = (d: string): string => join(dir, 'blobs/sha256', hex(d));
    const manifest = JSON.parse(await readFile(blob(index.manifests[0]!.digest), 'utf8')) as ImageManifest;
    const layer = manifest.layers[1]!;
    const cut = (await readFile(blob(layer.digest))).subarray(0, Math.floor(layer.size / 2));
    await writeFile(blob(sha256(cut)), cut);
    manifest.layers[1] = { ...layer, digest: sha256(cut), size: cut.byteLength };
    const mb = Buffer.from(JSON.stringify(manifest));
    await writeFile(blob(sha256(mb)), mb);
    index.manifests[0] = { ...index.manifests[0]!, digest: sha256(mb), size: mb.byteLength };
    await writeFile(join(dir, 'index.json'), JSON.stringify(index));

    const store = new LocalContentStore(join(work, 'store-cut'));
    const [img] = await importImageArchive(dir, store);
    const out = join(work, 'cut-docker.tar');
    await assert.rejects(
      toFile(out, (w) => exportDockerArchive([{ name: 'cut:1', descriptor: img!.descriptor }], store, w, { spoolDir: work })),
      (err: unknown) => {
        assert.ok(isBerthError(err, 'LAYER_INVALID'), String(err));
        assert.ok(err.message.includes(sha256(cut)), err.message);
        assert.match(err.message, /zstd.*truncated/);
        return true;
      },
    );
    assert.equal((await stat(out)).size, 0, 'nothing was written');
    assert.deepEqual((await readdir(work)).filter((n) => n.startsWith('berth-export-')), [], 'no spool directory left');
  });
});
