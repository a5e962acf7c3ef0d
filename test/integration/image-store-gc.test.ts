/**
 * The image store, leases and garbage collection against a real registry
 * (Debian's docker-registry, images built from busybox-static and pushed by
 * skopeo): two images sharing a base layer, one deleted and collected while
 * the other still mounts and runs; collections running over and over while
 * a pull reuses a stored blob or a committed snapshot; a lease pinning
 * pulled content until it expires; an ingest left by a killed writer;
 * records surviving a reopen; bad input.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';

import type { ContentStore } from '../../src/image/content/index.js';
import { pullImage } from '../../src/image/distribution/index.js';
import { deleteImage, pullAndStoreImage, type GcReport, type StoredImage } from '../../src/image/store/index.js';
import { openServices, withRootfs, type Services } from '../helpers/image-services.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, repoRoot, testTmpRoot } from '../helpers/paths.js';
import { buildBusyboxLayout, type BuiltImage } from '../helpers/registry/busybox-image.js';
import { pushLayout } from '../helpers/registry/image-builder.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { requires, which } from '../helpers/requires.js';

const skip =
  requires('root', 'overlay') ??
  (!existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : !existsSync('/bin/busybox') ? 'needs busybox-static' : undefined);

async function blobs(content: ContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const info of content.list()) out.push(info.digest);
  return out.sort();
}

const snapshotNames = async (s: Services): Promise<string[]> => (await s.snapshotter.list()).map((i) => i.name).sort();
const NOTHING: GcReport = { content: [], snapshots: [], ingests: [], brokenIngests: [], layerDirs: [], expiredLeases: [], bytesFreed: 0, complete: true };
const digestsOf = (image: BuiltImage): string[] => [image.manifestDigest, image.configDigest, ...image.layerDigests].sort();


withLeakCheck();

describe('image store and garbage collection', { skip }, () => {
  let work: string;
  let reg: RegistryServer;
  let a: BuiltImage;
  let b: BuiltImage;
  let aExtra: Buffer;
  let bExtra: Buffer;
  let mnt: string;
  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}store-gc-`));
    mnt = join(work, 'mnt');
    await mkdir(mnt);
    reg = await startDockerRegistry();
    aExtra = randomBytes(6 << 20);
    bExtra = randomBytes(1 << 20);
    // The same busybox base layer (byte for byte), a different top layer each.
    a = await buildBusyboxLayout(join(work, 'layout-a'), { extraLayerBytes: aExtra });
    b = await buildBusyboxLayout(join(work, 'layout-b'), { extraLayerBytes: bExtra });
    assert.equal(a.layerDigests[0], b.layerDigests[0]);
    pushLayout(a, `${reg.host}/shared/a:1`);
    pushLayout(b, `${reg.host}/shared/b:1`);
  });
  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('two images share a base layer: deleting one and collecting removes only its own blobs and snapshot; the other still mounts and runs', async () => {
    const s = await openServices(join(work, 'root-shared'));
    try {
      const pa = await pullAndStoreImage(s, `${reg.host}/shared/a:1`);
      const pb = await pullAndStoreImage(s, `${reg.host}/shared/b:1`);
      assert.deepEqual(s.images.list().map((i) => [i.name, i.target.digest]), [
        [`${reg.host}/shared/a:1`, a.manifestDigest],
        [`${reg.host}/shared/b:1`, b.manifestDigest],
      ]);
      assert.deepEqual(s.leases.list(), [], 'each pull deleted its lease');
      const [base, aTop] = pa.snapshots.map((x) => x.chainId) as [string, string];
      const bTop = pb.snapshots[1]!.chainId;
      assert.equal(pb.snapshots[0]!.chainId, base);
      assert.equal(pb.snapshots[0]!.imported, false, 'the base layer is registered once');
      assert.deepEqual(await snapshotNames(s), [base, aTop, bTop].sort());
      assert.deepEqual(await blobs(s.content), [...new Set([...digestsOf(a), ...digestsOf(b)])].sort());

      // Nothing deleted: nothing removed.
      assert.deepEqual(await readdir(s.layersRoot), [], 'every unpack directory became a snapshot or was deleted');
      const idle = await s.collector.collect();
      assert.deepEqual(idle, NOTHING);

      const aTopUsage = (await s.snapshotter.usage(aTop)).sizeBytes;
      const { image, gc } = await deleteImage(s, `${reg.host}/shared/a:1`, { gc: true });
      assert.equal(image.target.digest, a.manifestDigest);
      const aOnly = [a.manifestDigest, a.configDigest, a.layerDigests[1]!].sort();
      assert.deepEqual(gc?.content.slice().sort(), aOnly);
      assert.deepEqual(gc?.snapshots, [aTop]);
      const aOnlyBytes = (await readFile(join(a.dir, 'blobs/sha256', a.layerDigests[1]!.slice(7)))).length;
      assert.ok(gc!.bytesFreed >= aOnlyBytes + aTopUsage, `${gc!.bytesFreed} bytes freed`);
      assert.deepEqual(await blobs(s.content), digestsOf(b));
      assert.deepEqual(await snapshotNames(s), [base, bTop].sort());

      // The other image still mounts and runs.
      await withRootfs(s.snapshotter, pb.chainId!, mnt, async (dir) => {
        assert.ok((await readFile(join(dir, 'data/blob'))).equals(bExtra));
        assert.equal(execFileSync('chroot', [dir, '/bin/sh', '-c', '/bin/busybox cat /etc/motd'], { encoding: 'utf8' }), 'berth test image\n');
      });
      assert.deepEqual(await s.collector.collect(), NOTHING);

      // And the deleted one can be pulled again: its blobs and snapshot come back.
      const again = await pullAndStoreImage(s, `${reg.host}/shared/a:1`);
      assert.equal(again.chainId, aTop);
      assert.deepEqual(await blobs(s.content), [...new Set([...digestsOf(a), ...digestsOf(b)])].sort());
      await withRootfs(s.snapshotter, aTop, mnt, async (dir) => {
        assert.ok((await readFile(join(dir, 'data/blob'))).equals(aExtra));
      });
    } finally {
      await s.close();
    }
  });

  /**
   * Pulls a (whose base layer is b's) while collections run one after
   * another, from the moment the pull has started to reuse what it found of
   * the base layer (`startOn` names that progress phase of the base layer)
   * until the pull has finished. Returns the pull and the reports.
   */
  async function pullWhileCollecting(s: Services, startOn: string): Promise<{ pa: StoredImage; reports: GcReport[]; basePhases: string[] }> {
    const base = a.layerDigests[0]!;
    let done = false;
    let collecting: Promise<void> | undefined;
    const reports: GcReport[] = [];
    const basePhases: string[] = [];
    const pull = pullAndStoreImage(s, `${reg.host}/shared/a:1`, {
      onProgress: (e) => {
        if (e.id !== base) return;
        basePhases.push(e.phase);
        if (e.phase === startOn && !collecting) {
          collecting = (async () => {
            while (!done) reports.push(await s.collector.collect());
          })();
        }
      },
    }).finally(() => {
      done = true;
    });
    // Its failure is reported by the `await` below, not as an unhandled rejection meanwhile.
    pull.catch(() => {});
    const pa = await pull;
    await collecting;
    assert.ok(collecting, `the pull reached phase ${startOn} of the base layer (phases: ${basePhases.join(', ')})`);
    assert.ok(reports.length >= 1);
    return { pa, reports, basePhases };
  }

  test('collections running over and over while a pull unpacks a stored blob lose nothing: the blob stays, the image is complete', async () => {
    const s = await openServices(join(work, 'root-race-blob'));
    try {
      // Garbage that the pull of a will want: b's blobs (its base layer is
      // a's), no image, no snapshot, so the pull unpacks the base from the store.
      await pullImage(s.registry, s.content, `${reg.host}/shared/b:1`);
      const base = a.layerDigests[0]!;

      const { pa, reports, basePhases } = await pullWhileCollecting(s, 'extracting');
      assert.ok(!basePhases.includes('downloading'), 'the base blob was reused, not fetched again');
      const removed = new Set(reports.flatMap((r) => r.content));
      assert.ok(!removed.has(base), 'the leased base blob was never collected');
      for (const d of [b.manifestDigest, b.configDigest, b.layerDigests[1]!]) assert.ok(removed.has(d), `b's own blob ${d} was collected meanwhile`);
      assert.deepEqual(await blobs(s.content), digestsOf(a), 'every blob of a is there');
      assert.deepEqual(reports.flatMap((r) => r.layerDirs), [], "the live pull's unpack directories were kept");
      assert.deepEqual(await readdir(s.layersRoot), []);
      assert.deepEqual(await snapshotNames(s), pa.snapshots.map((x) => x.chainId).sort());
      assert.deepEqual(s.leases.list(), []);
      assert.deepEqual((await s.collector.collect()).content, []);
      await withRootfs(s.snapshotter, pa.chainId!, mnt, async (dir) => {
        assert.ok((await readFile(join(dir, 'data/blob'))).equals(aExtra));
        assert.ok((await readFile(join(dir, 'bin/busybox'))).equals(await readFile('/bin/busybox')));
      });
    } finally {
      await s.close();
    }
  });

  test('collections running over and over while a pull reuses a committed snapshot lose nothing: the snapshot stays, the image runs', async () => {
    const s = await openServices(join(work, 'root-race-snapshot'));
    try {
      // Garbage: b's image, deleted; its base snapshot is a's base layer.
      const pb = await pullAndStoreImage(s, `${reg.host}/shared/b:1`);
      s.images.delete(`${reg.host}/shared/b:1`);
      const baseChain = pb.snapshots[0]!.chainId;

      const { pa, reports } = await pullWhileCollecting(s, 'done');
      assert.equal(pa.snapshots[0]!.chainId, baseChain);
      assert.equal(pa.snapshots[0]!.imported, false, 'the base snapshot was reused');
      const removedSnapshots = reports.flatMap((r) => r.snapshots);
      assert.ok(!removedSnapshots.includes(baseChain), 'the leased base snapshot was never collected');
      assert.ok(removedSnapshots.includes(pb.snapshots[1]!.chainId), "b's own snapshot was collected meanwhile");
      assert.deepEqual(await snapshotNames(s), pa.snapshots.map((x) => x.chainId).sort());
      assert.deepEqual(s.leases.list(), []);
      const after = await s.collector.collect();
      assert.deepEqual([after.content, after.snapshots], [[], []]);
      await withRootfs(s.snapshotter, pa.chainId!, mnt, async (dir) => {
        assert.ok((await readFile(join(dir, 'data/blob'))).equals(aExtra));
        assert.equal(execFileSync('chroot', [dir, '/bin/sh', '-c', '/bin/busybox cat /etc/motd'], { encoding: 'utf8' }), 'berth test image\n');
      });
    } finally {
      await s.close();
    }
  });

  test('a lease keeps pulled content that no image references; once it has expired the collection removes it', async () => {
    const clock = { now: new Date() };
    const s = await openServices(join(work, 'root-lease'), clock);
    try {
      const lease = s.leases.create({ id: 'pull-b', expiresInMs: 60 * 60_000 });
      await pullImage(s.registry, s.content, `${reg.host}/shared/b:1`, { lease });
      assert.deepEqual(
        s.leases.resources('pull-b').map((r) => (r.type === 'content' ? r.digest : '')),
        digestsOf(b),
        'the pull leased its manifest, config and layers',
      );
      const kept = await s.collector.collect();
      assert.deepEqual([kept.content, kept.expiredLeases], [[], []]);
      assert.deepEqual(await blobs(s.content), digestsOf(b));

      clock.now = new Date(clock.now.getTime() + 60 * 60_000 + 1);
      const gone = await s.collector.collect();
      assert.deepEqual(gone.expiredLeases, ['pull-b']);
      assert.deepEqual(gone.content.slice().sort(), digestsOf(b));
      assert.deepEqual(await blobs(s.content), []);
      assert.throws(() => lease.add({ type: 'content', digest: b.configDigest }), { code: 'LEASE_NOT_FOUND' });
    } finally {
      await s.close();
    }
  });

  test('an ingest left by a killed writer is kept for the grace period, then swept', async () => {
    const clock = { now: new Date() };
    const root = join(work, 'root-ingest');
    const s = await openServices(root, clock, 60 * 60_000);
    try {
      const layer = await readFile(join(a.dir, 'blobs/sha256', a.layerDigests[1]!.slice(7)));
      // A writer process killed with SIGKILL midway: a partial ingest, a lock naming a dead process.
      const storeModule = pathToFileURL(join(repoRoot, 'dist/src/image/content/index.js')).href;
      const script = `
        import { LocalContentStore } from ${JSON.stringify(storeModule)};
        const store = new LocalContentStore(${JSON.stringify(join(root, 'content'))});
        const w = await store.openWriter('ensure-${a.layerDigests[1]}', { digest: '${a.layerDigests[1]}', size: ${layer.length} });
        await w.write(new Uint8Array(${1 << 20}));
        process.kill(process.pid, 'SIGKILL');`;
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(child.signal, 'SIGKILL', child.stderr);
      assert.deepEqual((await s.content.listIngests()).map((i) => [i.ref, i.offset]), [[`ensure-${a.layerDigests[1]}`, 1 << 20]]);

      const young = await s.collector.collect();
      assert.deepEqual(young.ingests, []);
      assert.equal((await s.content.listIngests()).length, 1);

      clock.now = new Date(Date.now() + 2 * 60 * 60_000);
      const old = await s.collector.collect();
      assert.deepEqual(old.ingests, [`ensure-${a.layerDigests[1]}`]);
      assert.equal(old.bytesFreed, 1 << 20);
      assert.deepEqual(await s.content.listIngests(), []);
    } finally {
      await s.close();
    }
  });

  test('image records and leases survive closing and reopening the database', async () => {
    const root = join(work, 'root-reopen');
    const s = await openServices(root);
    let first;
    let pulled;
    try {
      pulled = await pullAndStoreImage(s, `${reg.host}/shared/b:1`, { labels: { 'org.example/team': 'infra' } });
      first = s.images.get(`${reg.host}/shared/b:1`);
      s.leases.create({ id: 'kept-open', labels: { why: 'test' } }).add({ type: 'snapshot', key: pulled.chainId! });
    } finally {
      await s.close();
    }

    const again = await openServices(root);
    try {
      assert.deepEqual(again.images.get(`${reg.host}/shared/b:1`), first);
      assert.deepEqual(first.labels, { 'org.example/team': 'infra' });
      assert.deepEqual(again.leases.resources('kept-open'), [{ type: 'snapshot', key: pulled.chainId }]);
      assert.equal(again.db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual((await again.collector.collect()).content, []);
      assert.deepEqual(await blobs(again.content), digestsOf(b));
    } finally {
      await again.close();
    }
  });

  test('bad input: an unknown image, a bad name and a missing tag give clear errors and change nothing', async () => {
    const s = await openServices(join(work, 'root-bad'));
    try {
      await pullAndStoreImage(s, `${reg.host}/shared/b:1`);
      const before = { images: s.images.list(), blobs: await blobs(s.content), snapshots: await snapshotNames(s) };

      await assert.rejects(deleteImage(s, `${reg.host}/shared/nope:1`, { gc: true }), {
        code: 'IMAGE_NOT_FOUND',
        message: `image \`${reg.host}/shared/nope:1\` is not in the image store`,
      });
      await assert.rejects(deleteImage(s, `${reg.host}/Shared/B:1`), { code: 'REFERENCE_INVALID', message: `invalid reference \`${reg.host}/Shared/B:1\`: repository name \`Shared/B\` must be lowercase` });
      await assert.rejects(pullAndStoreImage(s, `${reg.host}/shared/b:no-such-tag`), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'MANIFEST_NOT_FOUND');
        assert.match(err.message, /no-such-tag/);
        return true;
      });
      await assert.rejects(pullAndStoreImage(s, 'Busybox'), { code: 'REFERENCE_INVALID', message: /`Busybox`.*must be lowercase/ });
      assert.deepEqual(s.leases.list(), [], 'a failed pull deletes its lease');
      assert.deepEqual(await readdir(s.layersRoot), [], 'and leaves no unpack directory');
      assert.deepEqual((await s.collector.collect()).content, []);
      assert.deepEqual({ images: s.images.list(), blobs: await blobs(s.content), snapshots: await snapshotNames(s) }, before);
    } finally {
      await s.close();
    }
  });
});
