/**
 * The copying snapshotter against the overlay one on a real kernel, and the
 * choice between them. A three-layer image with whiteouts, opaque
 * directories, hard links, devices, a fifo, owners, a setuid file, an
 * xattr and a symlink to the host's /etc is pushed to Debian's
 * docker-registry by skopeo and pulled once by pullAndUnpack; each layer
 * directory goes to both snapshotters. The overlay views are mounted for
 * real, the copy views bound, and the trees compared entry by entry at
 * every level of the chain. Then a container's life on both (prepare,
 * write, delete, commit), the probe that picks the driver (an overlayfs
 * mount cannot be an upper dir on this kernel, so a root inside one gets
 * the copy), and a copy that runs out of space leaving nothing behind.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { pullAndUnpack } from '../../src/image/distribution/pull-and-unpack.js';
import { CopySnapshotter, OverlaySnapshotter, probeOverlay, selectSnapshotter, snapshotsFromLayers } from '../../src/image/snapshot/index.js';
import { describeTree } from '../helpers/describe-tree.js';
import { pushLayout, sha256, tarOf, writeImageLayout, type LayerEntry } from '../helpers/registry/image-builder.js';
import { DOCKER_REGISTRY_BIN, startDockerRegistry, type RegistryServer } from '../helpers/registry/docker-registry.js';
import { mountsUnder, withLeakCheck } from '../helpers/leaks.js';
import { withMounted } from '../helpers/mount-descriptions.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { requires, which } from '../helpers/requires.js';

withLeakCheck();

const needs = requires('root', 'overlay', 'busybox');
const skipPull = needs ?? (!existsSync(DOCKER_REGISTRY_BIN) ? 'needs docker-registry (apt docker-registry)' : !which('skopeo') ? 'needs skopeo' : undefined);

async function cleanupWork(work: string): Promise<void> {
  for (const m of mountsUnder(work).reverse()) execFileSync('umount', ['-l', m]);
  await rm(work, { recursive: true, force: true });
}

/** Every entry is from this time (seconds) unless it says otherwise. */
const layer = (entries: LayerEntry[]): Promise<Buffer> => tarOf(entries, { mtime: 1_600_000_000 });

/** Layer 0: a small system; layers 1 and 2 delete, replace, make opaque and recreate. */
async function imageLayers(): Promise<Buffer[]> {
  const busybox = await readFile('/bin/busybox');
  const l0 = await layer([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: busybox, mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'bin/su', data: 'setuid\n', mode: 0o4755 },
    { name: 'etc/', type: 'directory', mtime: 1_600_000_100 },
    { name: 'etc/motd', data: 'base\n', pax: { 'SCHILY.xattr.user.note': 'from layer 0' } },
    { name: 'etc/gone', data: 'gone\n' },
    { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
    { name: 'opt/', type: 'directory', mode: 0o755 },
    { name: 'opt/data/', type: 'directory' },
    { name: 'opt/data/a', data: 'a\n' },
    { name: 'opt/data/sub/', type: 'directory' },
    { name: 'opt/data/sub/b', data: 'b\n' },
    { name: 'keep', data: 'a file, then a directory\n' },
    { name: 'hard/', type: 'directory' },
    { name: 'hard/a', data: 'linked\n' },
    { name: 'hard/b', type: 'link', linkname: 'hard/a' },
    { name: 'hard/c', type: 'link', linkname: 'hard/a' },
    { name: 'dev/', type: 'directory' },
    { name: 'dev/zero', type: 'character-device', devmajor: 1, devminor: 5, mode: 0o666 },
    { name: 'run/', type: 'directory' },
    { name: 'run/fifo', type: 'fifo', mode: 0o620, uid: 1000, gid: 1000 },
    { name: 'home/', type: 'directory' },
    { name: 'home/u/', type: 'directory', mode: 0o700, uid: 1000, gid: 1000 },
    { name: 'home/u/file', data: 'mine\n', uid: 1000, gid: 1000, mode: 0o600 },
    { name: 'link-abs', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'lnk', type: 'symlink', linkname: '/etc' },
  ]);
  const l1 = await layer([
    { name: 'etc/', type: 'directory', mtime: 1_600_000_200 },
    { name: 'etc/.wh.gone' },
    { name: 'etc/motd', data: 'changed\n' },
    { name: 'opt/', type: 'directory', mode: 0o750 },
    { name: 'opt/data/', type: 'directory' },
    { name: 'opt/data/.wh..wh..opq' },
    { name: 'opt/data/new', data: 'new\n' },
    { name: 'home/', type: 'directory' },
    { name: 'home/.wh.u' },
    { name: 'keep/', type: 'directory' },
    { name: 'keep/inner', data: 'inner\n' },
    { name: 'hard/', type: 'directory' },
    { name: 'hard/.wh.b' },
    { name: 'lnk/', type: 'directory' },
    { name: 'lnk/passwd', data: 'not the host\n' },
    { name: '.wh.nothing' },
  ]);
  const l2 = await layer([
    { name: 'etc/', type: 'directory', mtime: 1_600_000_300 },
    { name: 'etc/gone', data: 'back again\n' },
    { name: 'hard/', type: 'directory' },
    { name: 'hard/b', data: 'a new b\n' },
    { name: 'opt/data/', type: 'directory' },
    { name: 'opt/data/.wh..wh..opq' },
    { name: 'opt/data/newer', data: 'newer\n' },
    { name: 'run/', type: 'directory' },
    { name: 'run/.wh.fifo' },
    { name: 'lnk/', type: 'directory' },
    { name: 'lnk/.wh.passwd' },
  ]);
  return [l0, l1, l2];
}

describe('copy and overlay snapshotters show the same trees for a pulled image', { skip: skipPull }, () => {
  let work: string;
  let reg: RegistryServer;
  let layerDirs: Array<{ dir: string; diffId: string }>;
  const hostPasswd = existsSync('/etc/passwd') ? sha256(execFileSync('cat', ['/etc/passwd'])) : '';

  before(async () => {
    work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}snapshot-copy-`));
    reg = await startDockerRegistry();
    pushLayout(await writeImageLayout(join(work, 'layout'), await imageLayers()), `${reg.host}/layered:1`);
    const client = new RegistryClient({ retry: { attempts: 2, baseDelayMs: 10 } });
    try {
      const result = await pullAndUnpack(client, new LocalContentStore(join(work, 'store')), `${reg.host}/layered:1`, join(work, 'layers'));
      layerDirs = result.layers.map((l) => ({ dir: l.dir!, diffId: l.diffId }));
    } finally {
      await client.close();
    }
  });
  after(async () => {
    await reg?.stop();
    if (work) await cleanupWork(work);
  });

  test('every chain level: an overlay view mounted for real equals a bound copy view, entry by entry', async () => {
    assert.equal(layerDirs.length, 3);
    // Identical inputs for both: each layer directory duplicated exactly (times to the ns, markers included).
    const forCopy = [];
    for (const [i, l] of layerDirs.entries()) {
      const dup = join(work, `copy-layer-${i}`);
      execFileSync('cp', ['-a', '--no-target-directory', l.dir, dup]);
      forCopy.push({ dir: dup, diffId: l.diffId });
    }
    const overlay = await new OverlaySnapshotter(join(work, 'overlay-sn')).init();
    const copy = await new CopySnapshotter(join(work, 'copy-sn')).init();
    const chains = (await snapshotsFromLayers(overlay, layerDirs)).map((s) => s.chainId);
    assert.deepEqual((await snapshotsFromLayers(copy, forCopy)).map((s) => s.chainId), chains);
    for (const l of forCopy) assert.equal(existsSync(l.dir), false, 'the copy snapshotter consumed its layer directory');

    const mo = join(work, 'mnt-overlay');
    const mc = join(work, 'mnt-copy');
    await mkdir(mo);
    await mkdir(mc);
    const trees: string[][] = [];
    for (const [i, chain] of chains.entries()) {
      const overlayView = await overlay.view(`view-${i}`, chain);
      const copyView = await copy.view(`view-${i}`, chain);
      assert.equal(copyView[0]!.type, 'bind');
      assert.equal(overlayView[0]!.type, i === 0 ? 'bind' : 'overlay');
      const want = await withMounted(overlayView, mo, () => describeTree(mo));
      const got = await withMounted(copyView, mc, () => describeTree(mc));
      assert.deepEqual(got, want, `chain level ${i}`);
      trees.push(got);
    }

    // The comparison is about something: the stack did what its layers say.
    const top = trees[2]!;
    const has = (prefix: string): boolean => top.some((l) => l.startsWith(prefix));
    for (const p of ['etc/gone f', 'etc/motd f', 'hard/b f', 'hard/c f', 'keep/inner f', 'lnk d', 'dev/zero c 20666 0:0', 'bin/su f 104755', 'opt/data/newer f', 'link-abs l']) assert.ok(has(p), `top has ${p}`);
    for (const p of ['home/u', 'opt/data/a', 'opt/data/new ', 'opt/data/sub', 'run/fifo', 'nothing', 'lnk/passwd', 'hard/b f 100644 0:0 size=7']) assert.ok(!has(p), `top lacks ${p}`);
    assert.ok(top.some((l) => l.startsWith('etc/motd ') && !l.includes('xattrs=')), 'a replaced file loses the old xattr');
    assert.ok(trees[0]!.some((l) => l.startsWith('etc/motd ') && l.includes('xattrs=user.note=')), 'layer 0 keeps its xattr');
    assert.ok(trees[0]!.some((l) => l.startsWith('hard/c ') && l.includes('link of hard/a')), 'hard links are compared');
    assert.ok(trees[1]!.some((l) => l.startsWith('hard/c ') && l.includes('link of hard/a')), 'a hard link survives the whiteout of another link');
    assert.ok(trees[1]!.some((l) => l.startsWith('run/fifo p 10620 1000:1000')), 'the fifo and its owner, before its whiteout');
    assert.ok(trees[1]!.some((l) => l.startsWith('etc d') && l.includes('mtime=1600000200000000000')), 'a merged directory carries the layer mtime');
    assert.equal(existsSync('/etc/passwd') ? sha256(execFileSync('cat', ['/etc/passwd'])) : '', hostPasswd, "the host's /etc/passwd is untouched");

    // A container on each: same writes, same deletes, same result once committed.
    const changed: string[][] = [];
    for (const sn of [overlay, copy]) {
      const target = sn === overlay ? mo : mc;
      await withMounted(await sn.prepare('ctr', chains[2]!), target, async () => {
        await writeFile(join(target, 'etc/written'), 'w\n');
        await rm(join(target, 'keep'), { recursive: true });
        await rm(join(target, 'hard/a'));
      });
      await sn.commit('ctr-committed', 'ctr');
      await sn.view('ctr-view', 'ctr-committed');
      changed.push(await withMounted(await sn.mounts('ctr-view'), target, () => describeTree(target, { times: false, root: false })));
    }
    assert.deepEqual(changed[1], changed[0]);
    assert.ok(changed[0]!.some((l) => l.startsWith('etc/written f')) && !changed[0]!.some((l) => l.startsWith('keep')));
    assert.ok(changed[0]!.some((l) => l.startsWith('hard/c f') && !l.includes('link of')), 'hard/c alone now');

    for (const sn of [overlay, copy]) {
      await assert.rejects(sn.remove(chains[0]!), { code: 'SNAPSHOT_STATE' });
      for (const key of ['ctr-view', 'ctr-committed', 'view-2', 'view-1', 'view-0', chains[2]!, chains[1]!, chains[0]!]) await sn.remove(key);
      assert.deepEqual(await sn.list(), []);
      assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
    }
  });
});

describe('choosing the snapshotter', { skip: needs }, () => {
  test('auto picks overlay on this ext4 root; the probe leaves nothing mounted or on disk', async () => {
    const work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}snapshot-select-`));
    try {
      const picked = await selectSnapshotter(join(work, 'root'));
      assert.equal(picked.driver, 'overlay', picked.reason);
      assert.ok(picked.snapshotter instanceof OverlaySnapshotter);
      assert.equal(picked.snapshotter.root, join(work, 'root', 'overlay'));
      assert.deepEqual(await readdir(join(work, 'root')), ['overlay'], 'no probe directory left');
      assert.deepEqual(mountsUnder(work), []);

      const asked = await selectSnapshotter(join(work, 'root'), { driver: 'copy' });
      assert.deepEqual([asked.driver, asked.reason, asked.snapshotter.root], ['copy', 'requested', join(work, 'root', 'copy')]);
      assert.ok(asked.snapshotter instanceof CopySnapshotter);

      const odd = await probeOverlay(join(work, 'a,b'));
      assert.equal(odd.ok, false);
      assert.match(odd.ok ? '' : odd.reason, /overlay mount options cannot carry/);
      assert.deepEqual(mountsUnder(work), []);
    } finally {
      await cleanupWork(work);
    }
  });

  test('a root inside an overlayfs mount gets the copy snapshotter, which imports a layer from another filesystem and runs a container', async () => {
    const work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}snapshot-select-`));
    const outer = join(work, 'outer');
    try {
      for (const d of ['l', 'u', 'w', 'outer']) await mkdir(join(work, d));
      execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${join(work, 'l')},upperdir=${join(work, 'u')},workdir=${join(work, 'w')}`, outer]);
      const probe = await probeOverlay(join(outer, 'root'));
      assert.equal(probe.ok, false);
      assert.match(probe.ok ? '' : probe.reason, /overlay mount under .* failed/);
      assert.deepEqual(mountsUnder(work), [outer], 'the failed probe left no mount');
      assert.deepEqual(await readdir(join(outer, 'root')), [], 'nor a probe directory');

      const picked = await selectSnapshotter(join(outer, 'root'));
      assert.equal(picked.driver, 'copy');
      const sn = picked.snapshotter as CopySnapshotter;

      // A layer in overlay form on ext4: its markers cannot be created inside an overlayfs, so they are applied before the move.
      const l0 = join(work, 'l0');
      await mkdir(join(l0, 'etc'), { recursive: true });
      await writeFile(join(l0, 'etc/motd'), 'base\n');
      await writeFile(join(l0, 'etc/gone'), 'gone\n');
      await mkdir(join(l0, 'data'));
      await writeFile(join(l0, 'data/old'), 'old\n');
      const l1 = join(work, 'l1');
      await mkdir(join(l1, 'etc'), { recursive: true });
      execFileSync('mknod', [join(l1, 'etc/gone'), 'c', '0', '0']);
      await mkdir(join(l1, 'data'));
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(l1, 'data')]);
      await writeFile(join(l1, 'data/new'), 'new\n');
      await sn.importDirectory('c0', undefined, l0);
      await sn.importDirectory('c1', 'c0', l1);
      assert.equal(existsSync(l1), false);
      const c1 = await sn.directory('c1');
      assert.deepEqual(await readdir(join(c1, 'etc')), ['motd']);
      assert.deepEqual(await readdir(join(c1, 'data')), ['new']);

      const target = join(work, 'mnt');
      await mkdir(target);
      const mounts = await sn.prepare('ctr', 'c1');
      assert.deepEqual(mounts, [{ type: 'bind', source: await sn.directory('ctr'), options: ['rbind', 'rw'] }]);
      await withMounted(mounts, target, async () => {
        assert.equal(await readFile(join(target, 'etc/motd'), 'utf8'), 'base\n');
        await writeFile(join(target, 'etc/motd'), 'container\n');
      });
      assert.equal(await readFile(join(c1, 'etc/motd'), 'utf8'), 'base\n', 'the parent is untouched');
      for (const key of ['ctr', 'c1', 'c0']) await sn.remove(key);
      assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
      assert.deepEqual(mountsUnder(work), [outer]);
    } finally {
      await cleanupWork(work);
    }
  });

  test('a copy that runs out of space fails naming the snapshot and leaves no tree and no metadata', async () => {
    const work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}snapshot-nospace-`));
    const tiny = join(work, 'tiny');
    try {
      await mkdir(tiny);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'berth-test-tiny', tiny]);
      const sn = await new CopySnapshotter(join(tiny, 'sn')).init();
      const layer = async (name: string, bytes: number): Promise<string> => {
        const d = join(work, name);
        await mkdir(d);
        await writeFile(join(d, name), randomBytes(bytes));
        return d;
      };
      await sn.importDirectory('small', undefined, await layer('l-small', 1024));
      await sn.importDirectory('big', 'small', await layer('l-big', 3 << 20));
      const before = await readdir(join(sn.root, 'snapshots'));

      await assert.rejects(sn.prepare('ctr', 'big'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'INTERNAL');
        assert.match(err.message, /^snapshot `ctr`: copying .* failed: .*No space left on device/);
        return true;
      });
      // The parent's copy fails before the layer is touched: the layer directory stays for a retry.
      const untouched = await layer('l-untouched', 1024);
      await assert.rejects(sn.importDirectory('c1', 'big', untouched), { code: 'INTERNAL', message: /^snapshot `c1`: copying .*No space left on device/ });
      assert.equal((await readdir(untouched)).length, 1, 'the layer directory was not touched');
      // Moving the layer in (a copy: another filesystem) fails after its markers were taken: the layer directory goes.
      const moved = await layer('l-moved', 2 << 20);
      await assert.rejects(sn.importDirectory('c2', 'small', moved), { code: 'INTERNAL', message: /^snapshot `c2`: copying .*No space left on device/ });
      assert.equal(existsSync(moved), false, 'no half-converted layer directory is left');

      assert.deepEqual((await sn.list()).map((i) => i.name), ['big', 'small']);
      assert.deepEqual(await readdir(join(sn.root, 'snapshots')), before, 'no partial tree, no scratch copy');
      assert.equal((await readdir(join(sn.root, 'metadata'))).length, 2, 'no metadata for the failures');
      await sn.remove('big');
      await sn.remove('small');
      assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
    } finally {
      await cleanupWork(work);
    }
  });
});
