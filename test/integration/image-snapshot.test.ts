/**
 * The overlay snapshotter on a real kernel: two layer directories in
 * overlayfs form (a whiteout character device, an opaque directory) are
 * registered by chain ID, an active snapshot is prepared on them, and the
 * test mounts the returned descriptions itself (the snapshotter never
 * mounts) and checks the merged tree, commit, a child, views and removal.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { chainIds, OverlaySnapshotter, snapshotsFromLayers } from '../../src/image/snapshot/index.js';
import { mountsUnder, withLeakCheck } from '../helpers/leaks.js';
import { withMounted } from '../helpers/mount-descriptions.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import { requires } from '../helpers/requires.js';

withLeakCheck();

const DIFF0 = `sha256:${'0'.repeat(63)}1`;
const DIFF1 = `sha256:${'0'.repeat(63)}2`;

async function names(dir: string): Promise<string[]> {
  return (await readdir(dir)).sort();
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function sha256sum(text: string): string {
  return `sha256:${execFileSync('sha256sum', { input: text, encoding: 'utf8' }).split(' ')[0]}`;
}

/** Layer 0: plain files; layer 1: a whiteout for /etc/gone and /opt/data made opaque. */
async function buildLayers(work: string): Promise<{ l0: string; l1: string }> {
  const l0 = join(work, 'layers', 'l0');
  const l1 = join(work, 'layers', 'l1');
  await mkdir(join(l0, 'etc'), { recursive: true });
  await mkdir(join(l0, 'opt/data'), { recursive: true });
  await writeFile(join(l0, 'etc/motd'), 'base\n');
  await writeFile(join(l0, 'etc/gone'), 'gone\n');
  await writeFile(join(l0, 'opt/data/a'), 'a\n');
  await writeFile(join(l0, 'opt/data/b'), 'b\n');
  await writeFile(join(l0, 'keep'), 'keep\n');

  await mkdir(join(l1, 'etc'), { recursive: true });
  await mkdir(join(l1, 'opt/data'), { recursive: true });
  execFileSync('mknod', [join(l1, 'etc/gone'), 'c', '0', '0']);
  execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(l1, 'opt/data')]);
  await writeFile(join(l1, 'opt/data/c'), 'c\n');
  await writeFile(join(l1, 'etc/new'), 'new\n');
  return { l0, l1 };
}

test('overlay snapshots: layers registered by chain ID, prepared, mounted, committed, viewed and removed', { skip: requires('root', 'overlay') }, async () => {
  const work = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}snapshot-`));
  const target = join(work, 'mnt');
  await mkdir(target);
  try {
    const sn = await new OverlaySnapshotter(join(work, 'snapshotter')).init();
    const { l0, l1 } = await buildLayers(work);

    // Registered without copying: the layer dirs are moved in.
    const l0Ino = (await lstat(join(l0, 'etc/motd'))).ino;
    const snaps = await snapshotsFromLayers(sn, [
      { dir: l0, diffId: DIFF0 },
      { dir: l1, diffId: DIFF1 },
    ]);
    const [c0, c1] = [snaps[0]!.chainId, snaps[1]!.chainId];
    assert.equal(c0, DIFF0, 'chainID(L0) = diffID(L0)');
    assert.equal(c1, sha256sum(`${DIFF0} ${DIFF1}`), 'chainID(L1) = sha256(chainID(L0) + " " + diffID(L1))');
    assert.deepEqual(chainIds([DIFF0, DIFF1]), [c0, c1]);
    assert.equal(await exists(l0), false);
    assert.equal((await lstat(join(await sn.directory(c0), 'etc/motd'))).ino, l0Ino, 'moved, not copied');
    assert.equal((await sn.stat(c1)).parent, c0);

    // An active snapshot on the two layers: an overlay with both as lowers.
    const mounts = await sn.prepare('ctr-1', c1);
    assert.equal(mounts.length, 1);
    assert.equal(mounts[0]!.type, 'overlay');
    assert.equal(mounts[0]!.options[0], `lowerdir=${await sn.directory(c1)}:${await sn.directory(c0)}`);
    await withMounted(mounts, target, async () => {
      assert.deepEqual(await names(join(target, 'etc')), ['motd', 'new'], 'the whiteout hides /etc/gone');
      assert.deepEqual(await names(join(target, 'opt/data')), ['c'], 'the opaque dir hides a and b');
      assert.equal(await readFile(join(target, 'etc/motd'), 'utf8'), 'base\n');
      await writeFile(join(target, 'etc/written'), 'w\n');
      await rm(join(target, 'keep'));
    });
    const upper = await sn.directory('ctr-1');
    assert.equal(await readFile(join(upper, 'etc/written'), 'utf8'), 'w\n', 'writes land in the upper dir');
    const keepWhiteout = await lstat(join(upper, 'keep'));
    assert.ok(keepWhiteout.isCharacterDevice() && keepWhiteout.rdev === 0, 'a delete leaves a 0:0 whiteout in the upper dir');
    assert.equal(await exists(join(await sn.directory(c0), 'keep')), true, 'lower layers are untouched');
    const activeUsage = await sn.usage('ctr-1');
    assert.ok(activeUsage.inodes >= 4 && activeUsage.sizeBytes > 0, JSON.stringify(activeUsage));

    // Commit, then a child of the committed snapshot sees its changes.
    await sn.commit('ctr-1-committed', 'ctr-1');
    assert.equal((await sn.stat('ctr-1-committed')).kind, 'committed');
    assert.deepEqual(await sn.usage('ctr-1-committed'), activeUsage);
    await withMounted(await sn.prepare('ctr-2', 'ctr-1-committed'), target, async () => {
      assert.equal(await readFile(join(target, 'etc/written'), 'utf8'), 'w\n');
      assert.equal(await exists(join(target, 'keep')), false);
      assert.deepEqual(await names(join(target, 'opt/data')), ['c']);
    });

    // A view of three layers: a read-only overlay with lower dirs only.
    const view = await sn.view('view-1', 'ctr-1-committed');
    assert.equal(view[0]!.type, 'overlay');
    assert.ok(view[0]!.options.every((o) => o.startsWith('lowerdir=')));
    await withMounted(view, target, async () => {
      assert.deepEqual(await names(target), ['etc', 'opt']);
      await assert.rejects(writeFile(join(target, 'x'), 'x'), { code: 'EROFS' });
    });
    // A view of one layer: a read-only bind of that layer.
    const view0 = await sn.view('view-0', c0);
    assert.deepEqual(view0, [{ type: 'bind', source: await sn.directory(c0), options: ['rbind', 'ro'] }]);
    await withMounted(view0, target, async () => {
      assert.deepEqual(await names(join(target, 'etc')), ['gone', 'motd']);
      await assert.rejects(writeFile(join(target, 'x'), 'x'), { code: 'EROFS' });
    });

    // Parents in use cannot go; children first, then everything.
    await assert.rejects(sn.remove(c1), { code: 'SNAPSHOT_STATE', message: /parent of `ctr-1-committed`/ });
    await assert.rejects(sn.remove('ctr-1-committed'), { code: 'SNAPSHOT_STATE' });
    await assert.rejects(sn.remove(c0), { code: 'SNAPSHOT_STATE' });
    for (const key of ['ctr-2', 'view-1', 'view-0', 'ctr-1-committed', c1, c0]) await sn.remove(key);
    assert.deepEqual(await sn.list(), []);
    assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
    assert.deepEqual(await readdir(join(sn.root, 'metadata')), []);
  } finally {
    for (const m of mountsUnder(work).reverse()) execFileSync('umount', ['-l', m]);
    await rm(work, { recursive: true, force: true });
  }
});
