import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chown, link, lstat, mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';

import { describeTree, xattrsOf } from '../../../test/helpers/describe-tree.js';
import { chainIds } from './chain-id.js';
import { CopySnapshotter } from './copy-snapshotter.js';
import { snapshotsFromLayers } from './snapshots-from-layers.js';
import { layerDirs, snapshotterContract, withSnapshotter, type SnapshotterFactory } from './snapshotter-contract.js';

const asRoot = process.getuid?.() === 0 ? undefined : 'needs root (owners, device nodes, trusted.* xattrs)';

const create: SnapshotterFactory<CopySnapshotter> = (root, options) => new CopySnapshotter(root, options).init();

snapshotterContract('CopySnapshotter', create);

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function sh(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

test('prepare on a parent binds a copy of its tree; a view binds the committed tree itself', () =>
  withSnapshotter(create, async (sn) => {
    await sn.prepare('base-active');
    const baseFs = await sn.directory('base-active');
    await writeFile(join(baseFs, 'f'), 'base\n');
    await sn.commit('base', 'base-active');

    const [child] = await sn.prepare('child-active', 'base');
    const childFs = await sn.directory('child-active');
    assert.deepEqual(child, { type: 'bind', source: childFs, options: ['rbind', 'rw'] });
    assert.equal(await readFile(join(childFs, 'f'), 'utf8'), 'base\n', 'the child starts as a copy of its parent');
    assert.notEqual((await lstat(join(childFs, 'f'))).ino, (await lstat(join(baseFs, 'f'))).ino, 'a copy, not a link');
    await writeFile(join(childFs, 'f'), 'child\n');
    assert.equal(await readFile(join(baseFs, 'f'), 'utf8'), 'base\n', 'writing the child leaves the parent alone');
    await sn.commit('top', 'child-active');

    assert.deepEqual(await sn.view('v1', 'base'), [{ type: 'bind', source: baseFs, options: ['rbind', 'ro'] }]);
    assert.deepEqual(await sn.view('v2', 'top'), [{ type: 'bind', source: childFs, options: ['rbind', 'ro'] }], 'a view binds the committed tree, no copy');
    assert.deepEqual(await readdir(await sn.directory('v2')), [], 'a view has no tree of its own');
    assert.equal((await sn.usage('top')).inodes, 2, 'a committed copy counts its whole tree: the directory and f');
  }));

test('snapshotsFromLayers into the copy snapshotter makes each chain a whole tree', () =>
  withSnapshotter(create, async (sn, temp) => {
    const layers = await layerDirs(temp, 2);
    const ids = chainIds(layers.map((l) => l.diffId));
    await snapshotsFromLayers(sn, layers);
    const top = await sn.directory(ids[1]!);
    assert.deepEqual((await readdir(top)).sort(), ['f0', 'f0-link', 'f1', 'f1-link'], 'the top chain holds both layers');
    assert.equal(await readFile(join(top, 'f0'), 'utf8'), 'layer 0');
    assert.equal((await lstat(join(top, 'f0'))).ino, (await lstat(join(top, 'f0-link'))).ino, 'hard links survive the copy');
    assert.equal((await sn.usage(ids[1]!)).inodes, 3, 'the whole tree: the directory and two files');
  }));

test('a prepared copy keeps owners, modes, ns mtimes, hard links, symlinks, devices, fifos, sockets, xattrs and holes', { skip: asRoot }, async () => {
  await withSnapshotter(create, async (sn) => {
    await sn.prepare('p');
    const src = await sn.directory('p');
    await mkdir(join(src, 'd'), { mode: 0o750 });
    await writeFile(join(src, 'd/f'), 'setuid\n', { mode: 0o755 });
    sh('chmod', '4755', join(src, 'd/f'));
    await link(join(src, 'd/f'), join(src, 'd/f-link'));
    await chown(join(src, 'd'), 1000, 1001);
    await writeFile(join(src, 'cap'), 'capable\n', { mode: 0o755 });
    sh('setfattr', '-n', 'security.capability', '-v', '0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=', join(src, 'cap'));
    sh('setfattr', '-n', 'user.note', '-v', 'hello', join(src, 'cap'));
    await symlink('/etc/passwd', join(src, 'abs'));
    sh('chown', '-h', '1000:1000', join(src, 'abs'));
    await symlink('d/f', join(src, 'rel'));
    await symlink('nowhere', join(src, 'dangling'));
    sh('mknod', '-m', '666', join(src, 'null'), 'c', '1', '3');
    sh('mknod', '-m', '600', join(src, 'blk'), 'b', '7', '200');
    sh('mkfifo', '-m', '640', join(src, 'fifo'));
    await chown(join(src, 'fifo'), 1000, 1000);
    await mkdir(join(src, 'tmp'));
    sh('chmod', '1777', join(src, 'tmp'));
    sh('setfattr', '-n', 'trusted.berth', '-v', 'kept', join(src, 'tmp'));
    sh('truncate', '-s', '8M', join(src, 'sparse'));
    await writeFile(join(src, 'sparse'), 'end', { flag: 'r+' });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(src, 'sock'), resolve));
    try {
      for (const p of ['d/f', 'cap', 'null', 'fifo', 'sparse', 'd', 'tmp', '']) sh('touch', '-h', '-d', '@1700000000.123456789', join(src, p));
      sh('touch', '-h', '-d', '@1600000000.5', join(src, 'abs'));
      await sn.commit('P', 'p');
      await sn.prepare('child', 'P');
      const copy = await sn.directory('child');
      const want = await describeTree(src);
      assert.deepEqual(await describeTree(copy), want);
      for (const line of ['d/f f 104755 0:0', 'cap f 100755 0:0', 'abs l 120777 1000:1000', 'null c 20666 0:0', 'blk b 60600 0:0', 'fifo p 10640 1000:1000', 'sock s', 'tmp d 41777']) {
        assert.ok(want.some((l) => l.startsWith(line)), `the source has ${line}: ${want.join('\n')}`);
      }
      assert.ok(want.some((l) => l.startsWith('cap ') && l.includes('security.capability=0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=')), 'the capability is part of the comparison');
      assert.ok(want.some((l) => l.startsWith('d/f-link ') && l.includes('link of d/f')), 'the hard link is part of the comparison');
      assert.ok(want.some((l) => l.startsWith('abs ') && l.includes('mtime=1600000000500000000')), 'symlink times are part of the comparison');
      assert.ok((await lstat(join(copy, 'sparse'))).blocks * 512 < 1 << 20, 'the sparse file stays sparse');
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await sn.remove('child');
    await sn.remove('P');
    assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
  });
});

/** The parent for the import tests, with a symlink that points outside (`lnk`) and one that points up (`up`). */
async function importParent(sn: CopySnapshotter, outside: string): Promise<string> {
  await sn.prepare('p');
  const p = await sn.directory('p');
  await mkdir(join(p, 'etc/dir-gone'), { recursive: true });
  await writeFile(join(p, 'etc/motd'), 'base\n');
  await writeFile(join(p, 'etc/gone'), 'gone\n');
  await writeFile(join(p, 'etc/dir-gone/x'), 'x\n');
  await mkdir(join(p, 'opt/data/sub'), { recursive: true });
  await writeFile(join(p, 'opt/data/a'), 'a\n');
  await writeFile(join(p, 'opt/data/sub/b'), 'b\n');
  await writeFile(join(p, 'keep'), 'a file the layer turns into a directory\n');
  await mkdir(join(p, 'was-dir'));
  await writeFile(join(p, 'was-dir/y'), 'y\n');
  await symlink(outside, join(p, 'lnk'));
  await symlink('../../../../../../..', join(p, 'up'));
  await mkdir(join(p, 'shared/lower-only'), { recursive: true });
  await writeFile(join(p, 'shared/old'), 'old\n');
  sh('setfattr', '-n', 'user.side', '-v', 'lower', join(p, 'shared'));
  sh('touch', '-d', '@1500000000', join(p, 'shared/lower-only'));
  await sn.commit('P', 'p');
  return p;
}

/** A layer in overlayfs form, as pullAndUnpack leaves it. */
async function overlayLayer(dir: string): Promise<void> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  sh('mknod', join(dir, 'etc/gone'), 'c', '0', '0');
  sh('mknod', join(dir, 'etc/dir-gone'), 'c', '0', '0');
  await writeFile(join(dir, 'etc/new'), 'new\n');
  await mkdir(join(dir, 'opt/data'), { recursive: true });
  sh('setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', join(dir, 'opt/data'));
  await writeFile(join(dir, 'opt/data/c'), 'c\n');
  await mkdir(join(dir, 'keep'));
  await writeFile(join(dir, 'keep/inner'), 'inner\n');
  await writeFile(join(dir, 'was-dir'), 'a file now\n');
  await mkdir(join(dir, 'lnk'));
  await writeFile(join(dir, 'lnk/passwd'), 'not the host\n');
  sh('mknod', join(dir, 'lnk/victim'), 'c', '0', '0');
  await mkdir(join(dir, 'up/etc'), { recursive: true });
  sh('mknod', join(dir, 'up/etc/hostname'), 'c', '0', '0');
  sh('mknod', join(dir, 'nothing'), 'c', '0', '0');
  await mkdir(join(dir, 'shared'), { mode: 0o700 });
  await writeFile(join(dir, 'shared/new'), 'new\n');
  await chown(join(dir, 'shared'), 1000, 1000);
  sh('setfattr', '-n', 'user.side', '-v', 'upper', join(dir, 'shared'));
  sh('touch', '-d', '@1700000000.987654321', join(dir, 'shared'));
  sh('touch', '-d', '@1600000000', join(dir, 'etc'));
}

test('importDirectory applies an overlay-form layer on a copy of its parent: whiteouts delete, opaque dirs replace, symlinks are never followed', { skip: asRoot }, async () => {
  await withSnapshotter(create, async (sn, temp) => {
    const outside = join(temp, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'must stay\n');
    const parentFs = await importParent(sn, outside);
    const parentBefore = await describeTree(parentFs);
    const layer = join(temp, 'layer');
    await overlayLayer(layer);

    await sn.importDirectory('L', 'P', layer);
    assert.equal(await exists(layer), false, 'the layer directory is consumed');
    const t = await sn.directory('L');
    assert.deepEqual((await readdir(t)).sort(), ['etc', 'keep', 'lnk', 'opt', 'shared', 'up', 'was-dir']);
    assert.deepEqual((await readdir(join(t, 'etc'))).sort(), ['motd', 'new'], 'whiteouts delete a file and a directory');
    assert.deepEqual((await readdir(join(t, 'opt/data'))).sort(), ['c'], 'an opaque directory hides the parent contents');
    assert.deepEqual(await readdir(join(t, 'keep')), ['inner'], 'a directory replaces a file');
    assert.equal(await readFile(join(t, 'was-dir'), 'utf8'), 'a file now\n', 'a file replaces a directory');
    assert.ok((await lstat(join(t, 'lnk'))).isDirectory(), 'a layer directory replaces a parent symlink');
    assert.deepEqual(await readdir(join(t, 'lnk')), ['passwd']);
    assert.deepEqual(await readdir(outside), ['victim'], 'nothing written or deleted through the parent symlink');
    assert.equal(await readFile(join(outside, 'victim'), 'utf8'), 'must stay\n');
    assert.deepEqual(await readdir(join(t, 'up')), ['etc']);
    assert.deepEqual(await readdir(join(t, 'up/etc')), []);

    // A merged directory is the layer's (owner, mode, times, xattrs), with the parent's other entries moved in.
    assert.deepEqual((await readdir(join(t, 'shared'))).sort(), ['lower-only', 'new', 'old']);
    const shared = await lstat(join(t, 'shared'), { bigint: true });
    assert.equal(shared.mode & 0o7777n, 0o700n);
    assert.equal(shared.uid, 1000n);
    assert.equal(shared.mtimeNs, 1700000000987654321n, 'the merged directory keeps the layer mtime to the ns');
    assert.equal((await lstat(join(t, 'etc'), { bigint: true })).mtimeNs, 1600000000000000000n);
    assert.equal((await lstat(join(t, 'shared/lower-only'), { bigint: true })).mtimeNs, 1500000000000000000n, 'a moved directory keeps its mtime');
    const x = xattrsOf(t);
    assert.deepEqual(x.get('shared'), ['user.side=0sdXBwZXI='], 'the layer directory xattrs only');
    for (const [path, attrs] of x) assert.ok(!attrs.some((a) => a.startsWith('trusted.overlay.')), `no overlay marker left on ${path}`);
    assert.ok(!(await describeTree(t)).some((l) => l.includes(' c 20') && l.includes('rdev=0')), 'no whiteout device left');
    assert.deepEqual(await describeTree(parentFs), parentBefore, 'the parent tree is untouched');
    assert.deepEqual((await readdir(join(sn.root, 'snapshots'))).length, 2, 'no scratch copy left');
  });
});

test('importDirectory of a base layer strips its markers; an opaque root hides the whole parent', { skip: asRoot }, async () => {
  await withSnapshotter(create, async (sn, temp) => {
    const base = join(temp, 'base');
    await mkdir(join(base, 'dir'), { recursive: true });
    await writeFile(join(base, 'dir/f'), 'f\n');
    sh('mknod', join(base, 'dir/wh'), 'c', '0', '0');
    sh('mknod', join(base, 'null'), 'c', '1', '3');
    sh('setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', join(base, 'dir'));
    sh('touch', '-d', '@1400000000.25', join(base, 'dir'));
    await sn.importDirectory('B', undefined, base);
    const b = await sn.directory('B');
    assert.deepEqual((await readdir(b)).sort(), ['dir', 'null']);
    assert.deepEqual(await readdir(join(b, 'dir')), ['f']);
    assert.equal((await lstat(join(b, 'null'))).rdev, (await lstat('/dev/null')).rdev, 'a real device is not a whiteout');
    assert.equal((await lstat(join(b, 'dir'), { bigint: true })).mtimeNs, 1400000000250000000n, 'unlinking the whiteout did not move the mtime');
    assert.deepEqual(xattrsOf(b).get('dir') ?? [], []);

    const top = join(temp, 'top');
    await mkdir(top);
    await writeFile(join(top, 'only'), 'only\n');
    sh('setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', top);
    await sn.importDirectory('T', 'B', top);
    assert.deepEqual(await readdir(await sn.directory('T')), ['only']);
  });
});
