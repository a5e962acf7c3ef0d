import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { acquireLock } from '../../util/lock-file.js';
import { readProcStat } from '../../util/proc.js';
import { LocalContentStore, type ContentInfo } from '../content/index.js';
import { deleteImage } from './delete-image.js';
import { blobDigests, makeStoreFixture, putBlob, putImage, type StoreFixture } from './testing.js';

async function withFixture(fn: (fx: StoreFixture) => Promise<void>, options: Parameters<typeof makeStoreFixture>[0] = {}): Promise<void> {
  const fx = await makeStoreFixture(options);
  try {
    await fn(fx);
  } finally {
    await fx.close();
  }
}

const snapshotNames = async (fx: StoreFixture): Promise<string[]> => (await fx.snapshotter.list()).map((s) => s.name).sort();

test('collect removes the blobs and snapshots only a deleted image used, children first; shared ones stay', () =>
  withFixture(async (fx) => {
    const a = await putImage(fx, ['base', 'a-top']);
    const b = await putImage(fx, ['base', 'b-top', 'b-top-2']);
    fx.images.create({ name: 'a', target: a.manifest });
    fx.images.create({ name: 'b', target: b.manifest });
    const usage = await Promise.all(b.chainIds.slice(1).map((id) => fx.snapshotter.usage(id)));
    fx.images.delete('b');

    const report = await fx.collector.collect();
    const bOnly = [b.manifest, b.config, b.layers[1]!, b.layers[2]!];
    assert.deepEqual(report.content.slice().sort(), bOnly.map((d) => d.digest).sort());
    assert.deepEqual(report.snapshots, [b.chainIds[2], b.chainIds[1]]);
    assert.deepEqual(report.ingests, []);
    assert.deepEqual(report.expiredLeases, []);
    assert.equal(report.complete, true);
    const blobBytes = bOnly.reduce((n, d) => n + d.size, 0);
    assert.equal(report.bytesFreed, blobBytes + usage.reduce((n, u) => n + u.sizeBytes, 0));
    assert.ok(usage.every((u) => u.sizeBytes > 0));

    assert.deepEqual(await blobDigests(fx.content), [a.manifest, a.config, ...a.layers].map((d) => d.digest).sort());
    assert.deepEqual(await snapshotNames(fx), [...a.chainIds].sort());

    // Nothing more to do: a second collection removes nothing.
    assert.deepEqual(await fx.collector.collect(), {
      content: [],
      snapshots: [],
      ingests: [],
      brokenIngests: [],
      layerDirs: [],
      expiredLeases: [],
      bytesFreed: 0,
      complete: true,
    });
    assert.deepEqual(await snapshotNames(fx), [...a.chainIds].sort());
  }));

test("a container's snapshot keeps its parent chain after its image is deleted", () =>
  withFixture(async (fx) => {
    const a = await putImage(fx, ['l0', 'l1']);
    fx.images.create({ name: 'a', target: a.manifest });
    await fx.snapshotter.prepare('ctr', a.chainIds[1]!);
    fx.images.delete('a');
    const report = await fx.collector.collect();
    assert.deepEqual(report.snapshots, []);
    assert.equal(report.content.length, 4);
    assert.deepEqual(await snapshotNames(fx), ['ctr', ...a.chainIds].sort());
    await fx.snapshotter.remove('ctr');
    assert.deepEqual((await fx.collector.collect()).snapshots, [a.chainIds[1], a.chainIds[0]]);
  }));

test('a lease keeps unreferenced blobs and snapshots; once it has expired the collection deletes it and they go', () =>
  withFixture(async (fx) => {
    const a = await putImage(fx, ['l0']);
    const lease = fx.leases.create({ id: 'pull', expiresInMs: 60_000 });
    for (const d of [a.manifest, a.config, ...a.layers]) lease.add({ type: 'content', digest: d.digest });
    lease.add({ type: 'snapshot', key: a.chainIds[0]! });
    const kept = await fx.collector.collect();
    assert.deepEqual([kept.content, kept.snapshots], [[], []]);
    assert.equal((await blobDigests(fx.content)).length, 3);

    fx.clock.now = new Date(fx.clock.now.getTime() + 60_000);
    const gone = await fx.collector.collect();
    assert.deepEqual(gone.expiredLeases, ['pull']);
    assert.equal(gone.content.length, 3);
    assert.deepEqual(gone.snapshots, [a.chainIds[0]]);
    assert.deepEqual(fx.leases.list(), []);
    assert.deepEqual(await blobDigests(fx.content), []);
  }));

test("an abandoned ingest is swept after the grace period; a live writer's ingest and a leased one are not", () =>
  withFixture(
    async (fx) => {
      const desc = (n: number) => ({ digest: `sha256:${String(n).repeat(64)}`, size: 100 });
      const live = await fx.content.openWriter('live', desc(1));
      await live.write(Buffer.alloc(10));
      const abandoned = await fx.content.openWriter('abandoned', desc(2));
      await abandoned.write(Buffer.alloc(20));
      await abandoned.close();
      const leased = await fx.content.openWriter('leased', desc(3));
      await leased.write(Buffer.alloc(30));
      await leased.close();
      fx.leases.create({ id: 'pull' }).add({ type: 'content', digest: desc(3).digest });
      try {
        fx.clock.now = new Date(Date.now() + 30 * 60_000);
        assert.deepEqual((await fx.collector.collect()).ingests, [], 'all within the grace period');
        fx.clock.now = new Date(Date.now() + 2 * 60 * 60_000);
        const report = await fx.collector.collect();
        assert.deepEqual(report.ingests, ['abandoned']);
        assert.equal(report.bytesFreed, 20);
        assert.deepEqual((await fx.content.listIngests()).map((i) => i.ref).sort(), ['leased', 'live']);
        await live.write(Buffer.alloc(10));
        assert.equal(live.offset, 20, 'the live writer still writes');
      } finally {
        await live.abort();
      }
    },
    { ingestGraceMs: 60 * 60_000 },
  ));

/** A content store that runs a hook once, when the collection first lists it: between its mark and its sweep. */
function racingContent(): { duringList(hook: () => void): void; content: (root: string) => LocalContentStore } {
  let onList: (() => void) | undefined;
  class RacingStore extends LocalContentStore {
    override async *list(): AsyncIterable<ContentInfo> {
      const hook = onList;
      onList = undefined;
      hook?.();
      yield* super.list();
    }
  }
  return {
    duringList: (hook) => {
      onList = hook;
    },
    content: (root) => new RacingStore(root),
  };
}

test('an image written between the mark and the sweep keeps what it references (the collection marks again)', async () => {
  const racing = racingContent();
  await withFixture(
    async (fx) => {
      const a = await putImage(fx, ['l0', 'l1']);
      racing.duringList(() => fx.images.create({ name: 'late', target: a.manifest }));
      const report = await fx.collector.collect();
      assert.deepEqual([report.content, report.snapshots, report.complete], [[], [], true]);
      assert.equal((await blobDigests(fx.content)).length, 4);
      assert.equal((await snapshotNames(fx)).length, 2);
    },
    { content: racing.content },
  );
});

test('a blob and a snapshot leased while the collection runs are kept', async () => {
  const racing = racingContent();
  await withFixture(
    async (fx) => {
      const keep = await putBlob(fx.content, 'a pull decided to reuse this');
      const drop = await putBlob(fx.content, 'garbage');
      const image = await putImage(fx, ['l0', 'l1']);
      racing.duringList(() => {
        const lease = fx.leases.create({ id: 'pull' });
        lease.add({ type: 'content', digest: keep.digest });
        lease.add({ type: 'snapshot', key: image.chainIds[0]! });
      });
      const report = await fx.collector.collect();
      assert.deepEqual(report.content.slice().sort(), [drop.digest, image.manifest.digest, image.config.digest, ...image.layers.map((l) => l.digest)].sort());
      assert.deepEqual(await blobDigests(fx.content), [keep.digest]);
      assert.deepEqual(report.snapshots, [image.chainIds[1]]);
      assert.deepEqual(await snapshotNames(fx), [image.chainIds[0]]);
    },
    { content: racing.content },
  );
});

test('deleteImage deletes the record and, with gc, what only that image used; an unknown image is IMAGE_NOT_FOUND', () =>
  withFixture(async (fx) => {
    const a = await putImage(fx, ['l0']);
    fx.images.create({ name: 'a', target: a.manifest });
    fx.images.create({ name: 'a:2', target: a.manifest });
    const first = await deleteImage(fx, 'a', { gc: true });
    assert.equal(first.image.name, 'docker.io/library/a:latest');
    assert.deepEqual([first.gc?.content, first.gc?.snapshots], [[], []], 'a:2 still references everything');
    const second = await deleteImage(fx, 'docker.io/library/a:2', { gc: true });
    assert.equal(second.gc?.content.length, 3);
    assert.deepEqual(second.gc?.snapshots, a.chainIds);

    await assert.rejects(deleteImage(fx, 'a', { gc: true }), { code: 'IMAGE_NOT_FOUND', message: 'image `docker.io/library/a:latest` is not in the image store' });
    await assert.rejects(deleteImage(fx, 'Not/Valid'), { code: 'REFERENCE_INVALID' });
    const none = await deleteImage(fx, 'a:3').catch((err: unknown) => err);
    assert.equal((none as { code?: string }).code, 'IMAGE_NOT_FOUND');
  }));

/** A pid that no process has any more: a child that has exited and been reaped. */
function deadPid(): number {
  const child = spawnSync('true');
  assert.ok(child.pid);
  return child.pid;
}

test('an ingest a crash left without its ref is swept after the grace period, unless a live writer holds its lock', () =>
  withFixture(
    async (fx) => {
      const ingestRoot = join(fx.root, 'content', 'ingest');
      const ingestDir = (ref: string): string => join(ingestRoot, createHash('sha256').update(ref).digest('hex'));
      // What a writer leaves when it dies between taking the ingest's lock and describing the ingest.
      const crashed = ingestDir('crashed');
      await mkdir(crashed, { recursive: true });
      await writeFile(join(crashed, 'lock'), `${deadPid()} 0\n`);
      await writeFile(join(crashed, 'data'), Buffer.alloc(7));
      // The same, with no lock at all (it died before taking it).
      const bare = ingestDir('bare');
      await mkdir(bare);
      // A whole ingest that was being deleted (renamed out of the way) when its process died.
      const deleting = join(ingestRoot, '.removed-0123456789abcdef');
      await mkdir(deleting);
      await writeFile(join(deleting, 'ref'), 'deleting');
      await writeFile(join(deleting, 'expected'), JSON.stringify({ digest: `sha256:${'b'.repeat(64)}`, size: 10, startedAt: new Date().toISOString() }));
      await writeFile(join(deleting, 'data'), Buffer.alloc(3));
      // And one whose writer is alive (this process) between taking the lock and describing it.
      const busy = ingestDir('busy');
      await mkdir(busy);
      const lock = await acquireLock(join(busy, 'lock'));
      try {
        assert.deepEqual(await fx.content.listIngests(), [], 'none of them can be listed or resumed');
        fx.clock.now = new Date(Date.now() + 30 * 60_000);
        assert.deepEqual((await fx.collector.collect()).brokenIngests, [], 'all within the grace period');
        fx.clock.now = new Date(Date.now() + 2 * 60 * 60_000);
        const report = await fx.collector.collect();
        assert.deepEqual(report.brokenIngests.slice().sort(), [crashed, bare, deleting].map((d) => d.slice(ingestRoot.length + 1)).sort());
        assert.equal(report.bytesFreed, 7 + 3);
        assert.deepEqual(await readdir(ingestRoot), [busy.slice(ingestRoot.length + 1)]);
      } finally {
        await lock.release();
      }
      // The ref can be written again from nothing.
      const w = await fx.content.openWriter('crashed', { digest: `sha256:${'a'.repeat(64)}`, size: 1 });
      assert.equal(w.offset, 0);
      await w.abort();
    },
    { ingestGraceMs: 60 * 60_000 },
  ));

test('unpack directories whose process is gone are removed; those of a live process and other names stay', () =>
  withFixture(async (fx) => {
    const layersRoot = join(fx.root, 'layers');
    const me = `${process.pid}-${readProcStat(process.pid)!.startTime}`;
    const names = {
      dead: `unpack-${deadPid()}-123-0123456789abcdef-aaaaaaaaaaaa`,
      // pid 1 lives, but not since this start time: the pid was reused.
      reused: `unpack-1-1-0123456789abcdef-bbbbbbbbbbbb`,
      live: `unpack-${me}-0123456789abcdef-cccccccccccc`,
      other: 'not-an-unpack-dir',
    };
    for (const name of Object.values(names)) {
      await mkdir(join(layersRoot, name, 'bin'), { recursive: true });
      await writeFile(join(layersRoot, name, 'bin', 'file'), Buffer.alloc(5000));
    }
    const report = await fx.collector.collect();
    assert.deepEqual(report.layerDirs.slice().sort(), [names.dead, names.reused].sort());
    assert.ok(report.bytesFreed >= 2 * 5000, `${report.bytesFreed} bytes freed`);
    assert.deepEqual((await readdir(layersRoot)).sort(), [names.live, names.other].sort());
    assert.deepEqual((await fx.collector.collect()).layerDirs, []);
  }));
