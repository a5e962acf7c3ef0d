import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chown, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { chainIds } from './chain-id.js';
import { CopySnapshotter } from './copy-snapshotter.js';
import { snapshotsFromLayers } from './snapshots-from-layers.js';

const D0 = `sha256:${'a'.repeat(64)}`;
const D1 = `sha256:${'b'.repeat(64)}`;
const asRoot = process.getuid?.() === 0 ? undefined : 'needs root (owners, device nodes, trusted.* xattrs)';

async function withRoot(fn: (root: string, sn: CopySnapshotter) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-test-copy-snapshot-'));
  try {
    await fn(root, await new CopySnapshotter(join(root, 'sn'), { now: () => new Date('2026-01-02T03:04:05Z') }).init());
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

function sh(cmd: string, ...args: string[]): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Every xattr of every entry under `dir`, by relative path (one getfattr for the tree). */
function xattrsOf(dir: string): Map<string, string[]> {
  const out = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '.'], { cwd: dir, encoding: 'latin1' });
  const map = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      const p = line.slice(8);
      cur = [];
      map.set(p === '.' ? '' : p.replace(/^\.\//, ''), cur);
    } else if (line && cur) cur.push(line);
  }
  return map;
}

/**
 * One line per entry of a tree: type, mode, owner, size, content hash, link
 * target, rdev, mtime in ns, xattrs, and which earlier path it is a hard
 * link of. Two trees with equal descriptions are copies of each other.
 */
async function describe(dir: string, options: { times?: boolean } = {}): Promise<string[]> {
  const xattrs = xattrsOf(dir);
  const inodes = new Map<bigint, string>();
  const lines: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const path = rel === '' ? dir : join(dir, rel);
    const st = await lstat(path, { bigint: true });
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : '?';
    const parts = [rel || '.', type, st.mode.toString(8), `${st.uid}:${st.gid}`];
    if (type === 'f') parts.push(`size=${st.size}`, createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16));
    if (type === 'l') parts.push(`-> ${await readlink(path)}`);
    if (type === 'c' || type === 'b') parts.push(`rdev=${st.rdev}`);
    if (options.times !== false) parts.push(`mtime=${st.mtimeNs}`);
    const x = xattrs.get(rel);
    if (x?.length) parts.push(`xattrs=${x.sort().join(',')}`);
    if (type !== 'd' && st.nlink > 1n) {
      const first = inodes.get(st.ino);
      if (first) parts.push(`link of ${first}`);
      else inodes.set(st.ino, rel);
    }
    lines.push(parts.join(' '));
    if (type === 'd') for (const name of (await readdir(path)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
  };
  await visit('');
  return lines;
}

test('prepare, commit, prepare a child and view return bind mounts of whole trees', async () => {
  await withRoot(async (_root, sn) => {
    const [base] = await sn.prepare('base-active');
    const baseFs = await sn.directory('base-active');
    assert.deepEqual(base, { type: 'bind', source: baseFs, options: ['rbind', 'rw'] });
    await writeFile(join(baseFs, 'f'), 'base\n');
    await sn.commit('base', 'base-active', { labels: { x: 'y' } });
    assert.equal(await sn.find('base-active'), undefined);
    assert.deepEqual(await sn.stat('base'), { kind: 'committed', name: 'base', labels: { x: 'y' }, created: '2026-01-02T03:04:05.000Z', updated: '2026-01-02T03:04:05.000Z' });

    const [child] = await sn.prepare('child-active', 'base');
    const childFs = await sn.directory('child-active');
    assert.deepEqual(child, { type: 'bind', source: childFs, options: ['rbind', 'rw'] });
    assert.deepEqual(await sn.mounts('child-active'), [child]);
    assert.equal(await readFile(join(childFs, 'f'), 'utf8'), 'base\n', 'the child starts as a copy of its parent');
    assert.notEqual((await lstat(join(childFs, 'f'))).ino, (await lstat(join(baseFs, 'f'))).ino, 'a copy, not a link');
    await writeFile(join(childFs, 'f'), 'child\n');
    assert.equal(await readFile(join(baseFs, 'f'), 'utf8'), 'base\n', 'writing the child leaves the parent alone');
    await sn.commit('top', 'child-active');

    assert.deepEqual(await sn.view('v1', 'base'), [{ type: 'bind', source: baseFs, options: ['rbind', 'ro'] }]);
    assert.deepEqual(await sn.view('v2', 'top'), [{ type: 'bind', source: childFs, options: ['rbind', 'ro'] }], 'a view binds the committed tree, no copy');
    const [v0] = await sn.view('v0');
    assert.deepEqual(v0, { type: 'bind', source: await sn.directory('v0'), options: ['rbind', 'ro'] });
    assert.deepEqual(await readdir(await sn.directory('v2')), [], 'a view has no tree of its own');
    assert.deepEqual(
      (await sn.list()).map((i) => [i.name, i.kind, i.parent]),
      [
        ['base', 'committed', undefined],
        ['top', 'committed', 'base'],
        ['v0', 'view', undefined],
        ['v1', 'view', 'base'],
        ['v2', 'view', 'top'],
      ],
    );
    const usage = await sn.usage('top');
    assert.equal(usage.inodes, 2, 'a committed copy counts its whole tree: the directory and f');
  });
});

test('the copy snapshotter refuses duplicates, missing or uncommitted parents, wrong kinds and parents in use, leaving nothing behind', async () => {
  await withRoot(async (root, sn) => {
    await sn.prepare('a');
    await assert.rejects(sn.prepare('a'), { code: 'SNAPSHOT_EXISTS' });
    await assert.rejects(sn.prepare('b', 'a'), { code: 'SNAPSHOT_STATE', message: /parent snapshot `a` is active/ });
    await assert.rejects(sn.prepare('b', 'nothing'), { code: 'SNAPSHOT_NOT_FOUND', message: /parent snapshot `nothing` does not exist/ });
    await assert.rejects(sn.prepare(''), { code: 'ARGUMENT_INVALID' });
    await assert.rejects(sn.prepare('b', 'x\0y'), { code: 'ARGUMENT_INVALID' });
    assert.equal((await readdir(join(sn.root, 'snapshots'))).length, 1, 'refused prepares made no tree');
    await sn.commit('A', 'a');
    await assert.rejects(sn.mounts('A'), { code: 'SNAPSHOT_STATE' });
    await sn.view('v', 'A');
    await assert.rejects(sn.commit('V', 'v'), { code: 'SNAPSHOT_STATE', message: /`v` is view; only an active snapshot can be committed/ });
    await sn.prepare('c');
    await assert.rejects(sn.commit('A', 'c'), { code: 'SNAPSHOT_EXISTS' });
    await assert.rejects(sn.commit('Z', 'missing'), { code: 'SNAPSHOT_NOT_FOUND' });
    await assert.rejects(sn.remove('A'), { code: 'SNAPSHOT_STATE', message: /parent of `v`/ });
    assert.equal((await sn.stat('A')).kind, 'committed', 'a refused remove keeps the snapshot');

    const layer = join(root, 'layer');
    await mkdir(layer);
    await writeFile(join(layer, 'f'), 'f');
    await assert.rejects(sn.importDirectory('L', 'nothing', layer), { code: 'SNAPSHOT_NOT_FOUND' });
    await assert.rejects(sn.importDirectory('L', 'c', layer), { code: 'SNAPSHOT_STATE' });
    await assert.rejects(sn.importDirectory('A', undefined, layer), { code: 'SNAPSHOT_EXISTS' });
    await assert.rejects(sn.importDirectory('L', 'A', join(root, 'no-such-layer')), { code: 'SNAPSHOT_NOT_FOUND', message: /layer directory .*no-such-layer/ });
    assert.equal(await readFile(join(layer, 'f'), 'utf8'), 'f', 'a refused import leaves the layer directory alone');

    await sn.remove('v');
    await sn.remove('A');
    await sn.remove('c');
    await assert.rejects(sn.remove('A'), { code: 'SNAPSHOT_NOT_FOUND' });
    assert.deepEqual(await sn.list(), []);
    assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
    assert.deepEqual(await readdir(join(sn.root, 'metadata')), []);
  });
});

test('a copy commit cut between its two metadata writes resolves to the committed snapshot; cleanup drops unnamed trees', async () => {
  await withRoot(async (_root, sn) => {
    await sn.prepare('k');
    const metaDir = join(sn.root, 'metadata');
    const [activeFile] = await readdir(metaDir);
    const saved = await readFile(join(metaDir, activeFile!), 'utf8');
    await sn.commit('n', 'k');
    await writeFile(join(metaDir, activeFile!), saved); // as if the unlink never happened
    assert.deepEqual((await sn.list()).map((i) => i.name), ['n']);
    assert.equal(await sn.find('k'), undefined);

    await mkdir(join(sn.root, 'snapshots', 'orphan', 'fs'), { recursive: true });
    assert.deepEqual(await sn.cleanup(), ['orphan']);
    assert.equal((await readdir(join(sn.root, 'snapshots'))).length, 1);
  });
});

test('snapshotsFromLayers into the copy snapshotter makes each chain a whole tree and deletes a duplicate stack', async () => {
  await withRoot(async (root, sn) => {
    const mk = async (name: string, file: string): Promise<string> => {
      const d = join(root, name);
      await mkdir(d);
      await writeFile(join(d, file), name);
      await link(join(d, file), join(d, `${file}-link`));
      return d;
    };
    const layers = [
      { dir: await mk('l0', 'f'), diffId: D0 },
      { dir: await mk('l1', 'g'), diffId: D1 },
    ];
    const ids = chainIds([D0, D1]);
    assert.deepEqual(await snapshotsFromLayers(sn, layers), [
      { chainId: ids[0], imported: true },
      { chainId: ids[1], imported: true },
    ]);
    const top = await sn.directory(ids[1]!);
    assert.deepEqual((await readdir(top)).sort(), ['f', 'f-link', 'g', 'g-link'], 'the top chain holds both layers');
    assert.equal(await readFile(join(top, 'f'), 'utf8'), 'l0');
    assert.equal((await lstat(join(top, 'f'))).ino, (await lstat(join(top, 'f-link'))).ino, 'hard links survive the copy');
    assert.equal((await sn.stat(ids[1]!)).parent, ids[0]);
    assert.deepEqual(Object.keys((await sn.stat(ids[0]!)).labels), ['berth.io/diff-id']);
    assert.equal((await sn.usage(ids[0]!)).inodes, 2, 'the directory and one file with two links');
    assert.equal((await sn.usage(ids[1]!)).inodes, 3, 'the whole tree: the directory and two files');

    const again = [{ dir: await mk('l0-again', 'f'), diffId: D0 }];
    assert.deepEqual(await snapshotsFromLayers(sn, again), [{ chainId: ids[0], imported: false }]);
    assert.deepEqual((await readdir(root)).sort(), ['sn']);
  });
});

test('a prepared copy keeps owners, modes, ns mtimes, hard links, symlinks, devices, fifos, sockets, xattrs and holes', { skip: asRoot }, async () => {
  await withRoot(async (root, sn) => {
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
      const want = await describe(src);
      assert.deepEqual(await describe(copy), want);
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
    assert.deepEqual(await readdir(join(root, 'sn', 'snapshots')), []);
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
  await withRoot(async (root, sn) => {
    const outside = join(root, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'must stay\n');
    const parentFs = await importParent(sn, outside);
    const parentBefore = await describe(parentFs);
    const layer = join(root, 'layer');
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
    assert.ok(!(await describe(t)).some((l) => l.includes(' c 20') && l.includes('rdev=0')), 'no whiteout device left');
    assert.deepEqual(await describe(parentFs), parentBefore, 'the parent tree is untouched');
    assert.deepEqual((await readdir(join(sn.root, 'snapshots'))).length, 2, 'no scratch copy left');
  });
});

test('importDirectory of a base layer strips its markers; an opaque root hides the whole parent', { skip: asRoot }, async () => {
  await withRoot(async (root, sn) => {
    const base = join(root, 'base');
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

    const top = join(root, 'top');
    await mkdir(top);
    await writeFile(join(top, 'only'), 'only\n');
    sh('setfattr', '-n', 'trusted.overlay.opaque', '-v', 'y', top);
    await sn.importDirectory('T', 'B', top);
    assert.deepEqual(await readdir(await sn.directory('T')), ['only']);
  });
});
