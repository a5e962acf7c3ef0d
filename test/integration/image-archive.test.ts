/**
 * Image archives between berth, skopeo, podman and containerd: images
 * built here from busybox-static are pushed by skopeo to Debian's
 * docker-registry on 127.0.0.1 and pulled by berth; berth exports them (OCI
 * layout directory, oci-archive, docker-archive) and the tools read the
 * results; skopeo, podman and containerd's ctr write archives and berth
 * imports them (ctr's export is the format Docker 25+ saves). The imported
 * content is compared with the registry's: manifest digests where the
 * format keeps them, config digests and diff_ids always.
 *
 * podman runs with a private `--root`/`--runroot` (vfs driver, no events)
 * and containerd with its own root, state and socket, all under the test's
 * temp dir, so the host's storage is untouched.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as tar from 'tar-stream';

import { isBerthError } from '../../src/errors/index.js';
import { exportDockerArchive, exportOciArchive, exportOciLayout, importImageArchive, type ArchiveImage } from '../../src/image/archive/index.js';
import { LocalContentStore, type ContentStore } from '../../src/image/content/index.js';
import { pullImage, RegistryClient, type PullResult } from '../../src/image/distribution/index.js';
import { defaultPlatform, MEDIA_TYPE } from '../../src/image/manifest/index.js';
import type { Descriptor, ImageManifest } from '../../src/image/manifest/index.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { which } from '../helpers/requires.js';
import { readTar, toFile } from '../helpers/archive-files.js';

const skip = !existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined;
const noPodman = which('podman') ? undefined : 'needs podman';
const noContainerd = which('containerd') && which('ctr') ? undefined : 'needs containerd and ctr';

function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function blobs(store: ContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const info of (store as LocalContentStore).list()) out.push(info.digest);
  return out.sort();
}

async function manifestOf(store: ContentStore, d: Descriptor): Promise<ImageManifest> {
  return JSON.parse((await store.readBlob(d.digest)).toString()) as ImageManifest;
}

async function diffIdsOf(store: ContentStore, m: ImageManifest): Promise<string[]> {
  return (JSON.parse((await store.readBlob(m.config.digest)).toString()) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
}

/**
 * A containerd of the test's own (root, state and sockets in `dir`, the CRI
 * and other unneeded plugins off), for `ctr images import/export`, which is
 * what Docker 25+ uses for `docker save` and `docker load`. Killed by pid.
 */
async function startContainerd(dir: string): Promise<{ ctr: (...args: string[]) => string; stop: () => Promise<void> }> {
  await mkdir(dir, { recursive: true });
  const sock = join(dir, 'c.sock');
  await writeFile(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
    ].join('\n'),
  );
  const child = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-4000);
  });
  const exited = once(child, 'exit');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  };
  const ctr = (...args: string[]): string => execFileSync('ctr', ['--address', sock, '--namespace', 'berth-test', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  // Wait until it serves (not a timed assertion: it fails only if containerd exits).
  for (;;) {
    if (child.exitCode !== null) throw new Error(`containerd exited: ${log}`);
    try {
      ctr('version');
      return { ctr, stop };
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** `ctr images ls` as name → target digest. */
function ctrImages(ctr: (...args: string[]) => string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of ctr('images', 'ls').split('\n').slice(1)) {
    const [ref, , digest] = line.split(/\s+/);
    if (ref && digest) out.set(ref, digest);
  }
  return out;
}

describe('image archives with skopeo, podman and containerd', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let image1: BuiltImage;
  let image2: BuiltImage;
  let store: LocalContentStore;
  let pulled1: PullResult;
  let pulled2: PullResult;
  let name1: string;
  let name2: string;
  let podmanN = 0;

  /** A podman with its own storage under the test's temp dir. */
  function podman(): (...args: string[]) => string {
    const root = join(work, `podman-${++podmanN}`);
    return (...args: string[]) =>
      execFileSync('podman', ['--root', join(root, 'root'), '--runroot', join(root, 'run'), '--tmpdir', join(root, 'tmp'), '--storage-driver', 'vfs', '--events-backend', 'none', ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
  }

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}archive-`));
    reg = await startDockerRegistry();
    // Two images sharing the busybox layer, each with a second layer of its own.
    image1 = await buildBusyboxLayout(join(work, 'layout1'), { extraLayerBytes: randomBytes(256 << 10) });
    image2 = await buildBusyboxLayout(join(work, 'layout2'), { extraLayerBytes: randomBytes(128 << 10) });
    assert.equal(image1.layerDigests[0], image2.layerDigests[0]);
    name1 = `${reg.host}/busybox:1`;
    name2 = `${reg.host}/busybox:2`;
    skopeo('copy', '--dest-tls-verify=false', `oci:${image1.dir}:1`, `docker://${name1}`);
    skopeo('copy', '--dest-tls-verify=false', `oci:${image2.dir}:1`, `docker://${name2}`);
    store = new LocalContentStore(join(work, 'store'));
    const client = new RegistryClient({ retry: { attempts: 3, baseDelayMs: 10 } });
    try {
      pulled1 = await pullImage(client, store, name1);
      pulled2 = await pullImage(client, store, name2);
    } finally {
      await client.close();
    }
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });
  withLeakCheck();

  const records = (): ArchiveImage[] => [
    { name: name1, descriptor: pulled1.descriptor },
    { name: name2, descriptor: pulled2.descriptor },
  ];
  const manifestBytes = (img: BuiltImage): Promise<string> => readFile(join(img.dir, 'blobs/sha256', img.manifestDigest.slice(7)), 'utf8');

  test('oci-archive export: skopeo reads each image with its manifest digest and copies it verified', async () => {
    const file = join(work, 'export.oci.tar');
    await toFile(file, (out) => exportOciArchive(records(), store, out));
    assert.equal(skopeo('inspect', '--raw', `oci-archive:${file}:1`), await manifestBytes(image1), 'the tag annotation names image 1');
    const index = JSON.parse((await readTar(file)).get('index.json')!.toString()) as { manifests: Descriptor[] };
    assert.deepEqual(
      index.manifests.map((m) => [m.digest, m.annotations?.['io.containerd.image.name']]),
      [
        [image1.manifestDigest, name1],
        [image2.manifestDigest, name2],
      ],
    );
    skopeo('copy', `oci-archive:${file}:1`, `oci:${join(work, 'oci-from-archive')}:x`);
    // The shared busybox layer is written once.
    const names = [...(await readTar(file)).keys()].filter((n) => n.startsWith('blobs/sha256/'));
    assert.equal(names.length, new Set([image1, image2].flatMap((i) => [i.manifestDigest, i.configDigest, ...i.layerDigests])).size);
  });

  test('oci-archive export loads into podman with the config as image id and the name', { skip: noPodman }, async () => {
    const file = join(work, 'export1.oci.tar');
    await toFile(file, (out) => exportOciArchive([{ name: name1, descriptor: pulled1.descriptor }], store, out));
    const p = podman();
    p('load', '-i', file);
    const inspected = JSON.parse(p('image', 'inspect', image1.configDigest.slice(7))) as Array<{ Id: string; RootFS: { Layers: string[] } }>;
    assert.equal(inspected[0]?.Id, image1.configDigest.slice(7));
    assert.deepEqual(inspected[0]?.RootFS.Layers, image1.diffIds);
  });

  test('OCI layout directory export: skopeo pushes it back to the registry under the same digest', async () => {
    const dir = join(work, 'export-layout');
    await exportOciLayout(records(), store, dir);
    skopeo('copy', '--dest-tls-verify=false', `oci:${dir}:2`, `docker://${reg.host}/back/busybox:2`);
    assert.equal(skopeo('inspect', '--tls-verify=false', '--raw', `docker://${reg.host}/back/busybox:2`), await manifestBytes(image2));
    assert.equal(await readFile(join(dir, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
  });

  test('docker-archive export: uncompressed layers named by chain, whose digests are the diff_ids, the shared layer once, the same bytes every time', async () => {
    const file = join(work, 'export.docker.tar');
    const again = join(work, 'export-again.docker.tar');
    await toFile(file, (out) => exportDockerArchive(records(), store, out));
    await toFile(again, (out) => exportDockerArchive(records(), store, out));
    assert.ok((await readFile(file)).equals(await readFile(again)), 'deterministic output');

    const files = await readTar(file);
    const saved = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
    assert.deepEqual(
      saved.map((s) => [s.Config, s.RepoTags]),
      [
        [`${image1.configDigest.slice(7)}.json`, [name1]],
        [`${image2.configDigest.slice(7)}.json`, [name2]],
      ],
    );
    assert.equal(saved[0]!.Layers[0], saved[1]!.Layers[0], 'the shared layer has one path');
    for (const [s, img] of [
      [saved[0]!, image1],
      [saved[1]!, image2],
    ] as const) {
      assert.equal(sha256(files.get(s.Config)!), img.configDigest, 'config bytes kept');
      assert.deepEqual(
        s.Layers.map((l) => sha256(files.get(l)!)),
        img.diffIds,
      );
      for (const l of s.Layers) assert.notEqual(files.get(l)![0], 0x1f, `${l} is not gzip`);
    }
    const repositories = JSON.parse(files.get('repositories')!.toString()) as Record<string, Record<string, string>>;
    assert.deepEqual(Object.keys(repositories[`${reg.host}/busybox`]!).sort(), ['1', '2']);
    assert.equal(`${repositories[`${reg.host}/busybox`]!['1']}/layer.tar`, saved[0]!.Layers.at(-1));

    const config = JSON.parse(skopeo('inspect', '--config', `docker-archive:${file}:${name2}`)) as { rootfs: { diff_ids: string[] } };
    assert.deepEqual(config.rootfs.diff_ids, image2.diffIds);
    skopeo('copy', `docker-archive:${file}:${name1}`, `oci:${join(work, 'oci-from-docker-archive')}:x`);
  });

  test('docker-archive export with two images loads into podman under both names', { skip: noPodman }, async () => {
    const file = join(work, 'export-podman.docker.tar');
    await toFile(file, (out) => exportDockerArchive(records(), store, out));
    const p = podman();
    p('load', '-i', file);
    for (const [name, img] of [
      [name1, image1],
      [name2, image2],
    ] as const) {
      const inspected = JSON.parse(p('image', 'inspect', name)) as Array<{ Id: string; RootFS: { Layers: string[] } }>;
      assert.equal(inspected[0]?.Id, img.configDigest.slice(7), name);
      assert.deepEqual(inspected[0]?.RootFS.Layers, img.diffIds, name);
    }
  });

  test('berth imports what skopeo writes: an OCI layout, an oci-archive and a docker-archive', async () => {
    const dir = join(work, 'skopeo-layout');
    skopeo('copy', '--src-tls-verify=false', `docker://${name1}`, `oci:${dir}:1`);
    const s1 = new LocalContentStore(join(work, 'from-skopeo-1'));
    assert.deepEqual(await importImageArchive(dir, s1), [{ name: '1', descriptor: { mediaType: MEDIA_TYPE.ociManifest, digest: image1.manifestDigest, size: image1.manifestSize } }]);
    assert.deepEqual(await blobs(s1), [image1.manifestDigest, image1.configDigest, ...image1.layerDigests].sort());

    const ociFile = join(work, 'skopeo.oci.tar');
    skopeo('copy', '--src-tls-verify=false', `docker://${name2}`, `oci-archive:${ociFile}:2`);
    const s2 = new LocalContentStore(join(work, 'from-skopeo-2'));
    const [fromOci] = await importImageArchive(ociFile, s2, { spoolDir: work });
    assert.equal(fromOci?.name, '2');
    assert.equal(fromOci?.descriptor.digest, image2.manifestDigest);

    const dockerFile = join(work, 'skopeo.docker.tar');
    skopeo('copy', '--src-tls-verify=false', `docker://${name1}`, `docker-archive:${dockerFile}:${name1}`);
    const s3 = new LocalContentStore(join(work, 'from-skopeo-3'));
    const [fromDocker] = await importImageArchive(dockerFile, s3);
    assert.equal(fromDocker?.name, name1);
    const m = await manifestOf(s3, fromDocker!.descriptor);
    assert.equal(m.config.digest, image1.configDigest);
    assert.deepEqual(m.layers.map((l) => l.digest), image1.diffIds);
    assert.deepEqual(await diffIdsOf(s3, m), image1.diffIds);
  });

  test('berth imports what podman save writes: docker-archive with two images, and oci-archive', { skip: noPodman }, async () => {
    const p = podman();
    p('pull', '--tls-verify=false', name1);
    p('pull', '--tls-verify=false', name2);
    const dockerFile = join(work, 'podman.docker.tar');
    p('save', '--format', 'docker-archive', '--multi-image-archive', '-o', dockerFile, name1, name2);
    const s1 = new LocalContentStore(join(work, 'from-podman-1'));
    const images = await importImageArchive(dockerFile, s1);
    assert.deepEqual(images.map((i) => i.name).sort(), [name1, name2]);
    for (const [name, img] of [
      [name1, image1],
      [name2, image2],
    ] as const) {
      const m = await manifestOf(s1, images.find((i) => i.name === name)!.descriptor);
      assert.equal(m.config.digest, img.configDigest, name);
      assert.deepEqual(await diffIdsOf(s1, m), img.diffIds, name);
      assert.deepEqual(m.layers.map((l) => l.digest), img.diffIds, `${name}: uncompressed layers`);
    }

    const ociFile = join(work, 'podman.oci.tar');
    p('save', '--format', 'oci-archive', '-o', ociFile, name1);
    const s2 = new LocalContentStore(join(work, 'from-podman-2'));
    const [fromOci] = await importImageArchive(ociFile, s2);
    assert.ok(fromOci?.name?.includes('busybox'), String(fromOci?.name));
    const m = await manifestOf(s2, fromOci!.descriptor);
    assert.equal(m.config.digest, image1.configDigest);
    assert.deepEqual(await diffIdsOf(s2, m), image1.diffIds);
  });

  test('berth to berth: each format round-trips; docker-archive re-exported from its import is byte for byte the same', async () => {
    for (const [kind, write] of [
      ['oci', (out: Writable) => exportOciArchive(records(), store, out)],
      ['docker', (out: Writable) => exportDockerArchive(records(), store, out)],
    ] as const) {
      const file = join(work, `roundtrip.${kind}.tar`);
      await toFile(file, write);
      const fresh = new LocalContentStore(join(work, `roundtrip-${kind}`));
      const images = await importImageArchive(file, fresh);
      assert.deepEqual(images.map((i) => i.name), [name1, name2], kind);
      for (const [i, img] of [image1, image2].entries()) {
        const d = images[i]!.descriptor;
        if (kind === 'oci') assert.equal(d.digest, img.manifestDigest, 'OCI keeps the manifest');
        const m = await manifestOf(fresh, d);
        assert.equal(m.config.digest, img.configDigest, kind);
        assert.deepEqual(await diffIdsOf(fresh, m), img.diffIds, kind);
      }
      if (kind === 'docker') {
        const again = join(work, 'roundtrip-again.docker.tar');
        await toFile(again, (out) => exportDockerArchive(images, fresh, out));
        assert.ok((await readFile(file)).equals(await readFile(again)));
      }
    }
    const dir = join(work, 'roundtrip-layout');
    await exportOciLayout(records(), store, dir);
    const fromDir = await importImageArchive(dir, new LocalContentStore(join(work, 'roundtrip-dir')));
    assert.deepEqual(fromDir.map((i) => i.descriptor.digest), [image1.manifestDigest, image2.manifestDigest]);
  });

  test('containerd imports berth archives (the docker-archive under the digest berth gives it), and berth imports what ctr exports (a layout with manifest.json, as Docker 25+ writes)', { skip: noContainerd }, async () => {
    const dockerFile = join(work, 'for-ctr.docker.tar');
    const ociFile = join(work, 'for-ctr.oci.tar');
    await toFile(dockerFile, (out) => exportDockerArchive([{ name: name1, descriptor: pulled1.descriptor }], store, out));
    await toFile(ociFile, (out) => exportOciArchive([{ name: name2, descriptor: pulled2.descriptor }], store, out));
    const berthDocker = await importImageArchive(dockerFile, new LocalContentStore(join(work, 'ctr-compare')));

    const containerd = await startContainerd(join(work, 'containerd'));
    try {
      const { ctr } = containerd;
      ctr('images', 'import', '--no-unpack', dockerFile);
      ctr('images', 'import', '--no-unpack', ociFile);
      const listed = ctrImages(ctr);
      assert.equal(listed.get(name2), image2.manifestDigest, 'the OCI archive keeps its manifest and name');
      assert.equal(listed.get(name1), berthDocker[0]?.descriptor.digest, 'berth and containerd build the same manifest from a docker archive');

      const exported = join(work, 'ctr-export.tar');
      ctr('images', 'export', exported, name1, name2);
      const files = await readTar(exported);
      assert.ok(files.has('manifest.json') && files.has('index.json'), [...files.keys()].join(', '));
      const fresh = new LocalContentStore(join(work, 'from-ctr'));
      const images = await importImageArchive(exported, fresh);
      assert.deepEqual(
        images.map((i) => [i.name, i.descriptor.digest]),
        [
          [name1, listed.get(name1)],
          [name2, image2.manifestDigest],
        ],
      );
      for (const [i, img] of [image1, image2].entries()) {
        const m = await manifestOf(fresh, images[i]!.descriptor);
        assert.equal(m.config.digest, img.configDigest);
        assert.deepEqual(await diffIdsOf(fresh, m), img.diffIds);
      }
    } finally {
      await containerd.stop();
    }
  });

  test('archives from skopeo with one layer byte changed fail naming the entry, and leave a store that holds other images as it was', async () => {
    const s = new LocalContentStore(join(work, 'tampered'));
    const good = join(work, 'good.oci.tar');
    skopeo('copy', '--src-tls-verify=false', `docker://${name2}`, `oci-archive:${good}:2`);
    await importImageArchive(good, s);
    const before = await blobs(s);

    const tamper = async (src: string, dst: string, entry: string): Promise<void> => {
      const files = await readTar(src);
      const data = files.get(entry);
      assert.ok(data, `${src} has ${entry} (has ${[...files.keys()].join(', ')})`);
      data[data.length >> 1] = data[data.length >> 1]! ^ 0x01;
      const pack = tar.pack();
      const written = toFile(dst, async (out) => {
        pack.pipe(out);
        await once(out, 'finish');
      });
      for (const [name, bytes] of files) pack.entry({ name, mtime: new Date(0) }, bytes);
      pack.finalize();
      await written;
    };
    const oci = join(work, 'skopeo-1.oci.tar');
    skopeo('copy', '--src-tls-verify=false', `docker://${name1}`, `oci-archive:${oci}:1`);
    const layerEntry = `blobs/sha256/${image1.layerDigests[1]!.slice(7)}`;
    await tamper(oci, join(work, 'bad.oci.tar'), layerEntry);
    await assert.rejects(importImageArchive(join(work, 'bad.oci.tar'), s), (err: unknown) => {
      assert.ok(isBerthError(err, 'CONTENT_DIGEST_MISMATCH'), String(err));
      assert.match(err.message, new RegExp(`archive entry \`${layerEntry}\` hashes to`));
      return true;
    });

    const docker = join(work, 'skopeo-1.docker.tar');
    skopeo('copy', '--src-tls-verify=false', `docker://${name1}`, `docker-archive:${docker}:${name1}`);
    const layerFile = `${image1.diffIds[1]!.slice(7)}.tar`;
    await tamper(docker, join(work, 'bad.docker.tar'), layerFile);
    await assert.rejects(importImageArchive(join(work, 'bad.docker.tar'), s), (err: unknown) => {
      assert.ok(isBerthError(err, 'CONTENT_DIGEST_MISMATCH'), String(err));
      assert.match(err.message, new RegExp(`layer \`${layerFile}\` has diff ID`));
      return true;
    });
    assert.deepEqual(await blobs(s), before);
    assert.deepEqual(await s.listIngests(), []);
  });

  test('an index: OCI export keeps it with the platforms the store holds; docker-archive and --platform pick one', async () => {
    const host = defaultPlatform();
    const other = { os: 'linux', architecture: host.architecture === 'arm64' ? 'amd64' : 'arm64' };
    const absent = Buffer.from('{"schemaVersion":2,"note":"not in the store"}');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.ociIndex,
        manifests: [
          { mediaType: MEDIA_TYPE.ociManifest, digest: image1.manifestDigest, size: image1.manifestSize, platform: { os: host.os, architecture: host.architecture } },
          { mediaType: MEDIA_TYPE.ociManifest, digest: sha256(absent), size: absent.length, platform: other },
        ],
      }),
    );
    const indexDesc: Descriptor = { mediaType: MEDIA_TYPE.ociIndex, digest: sha256(index), size: index.length };
    await store.ensure(indexDesc, async function* one() {
      yield index;
    });
    const rec = [{ name: `${reg.host}/multi:1`, descriptor: indexDesc }];

    const file = join(work, 'index.oci.tar');
    await toFile(file, (out) => exportOciArchive(rec, store, out));
    assert.equal(skopeo('inspect', '--raw', `oci-archive:${file}:1`), index.toString());
    skopeo('copy', `oci-archive:${file}:1`, `oci:${join(work, 'oci-from-index')}:x`);
    const fresh = new LocalContentStore(join(work, 'from-index'));
    assert.deepEqual((await importImageArchive(file, fresh)).map((i) => i.descriptor.digest), [indexDesc.digest]);
    assert.ok(await fresh.findInfo(image1.manifestDigest));
    assert.equal(await fresh.findInfo(sha256(absent)), undefined);

    const one = join(work, 'index-one.oci.tar');
    await toFile(one, (out) => exportOciArchive(rec, store, out, { platform: `${host.os}/${host.architecture}` }));
    const entry = (JSON.parse((await readTar(one)).get('index.json')!.toString()) as { manifests: Descriptor[] }).manifests[0]!;
    assert.equal(entry.digest, image1.manifestDigest);

    const docker = join(work, 'index.docker.tar');
    await toFile(docker, (out) => exportDockerArchive(rec, store, out));
    const saved = JSON.parse((await readTar(docker)).get('manifest.json')!.toString()) as Array<{ Config: string }>;
    assert.equal(saved[0]?.Config, `${image1.configDigest.slice(7)}.json`);

    const sink = (): Writable => createWriteStream('/dev/null');
    await assert.rejects(exportDockerArchive(rec, store, sink(), { platform: `linux/${other.architecture}` }), (err: unknown) => {
      assert.ok(isBerthError(err, 'CONTENT_NOT_FOUND'), String(err));
      assert.match(err.message, new RegExp(sha256(absent)));
      return true;
    });
    await assert.rejects(exportDockerArchive(rec, store, sink(), { platform: 'linux/s390x' }), (err: unknown) => {
      assert.ok(isBerthError(err, 'PLATFORM_NOT_FOUND'), String(err));
      assert.match(err.message, /multi:1` has no image for linux\/s390x/);
      return true;
    });
  });
});
