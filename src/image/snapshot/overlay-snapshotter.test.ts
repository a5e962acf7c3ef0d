import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { chainId, chainIds } from './chain-id.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { snapshotsFromLayers } from './snapshots-from-layers.js';

const D0 = `sha256:${'a'.repeat(64)}`;
const D1 = `sha256:${'b'.repeat(64)}`;
const D2 = `sha256:${'c'.repeat(64)}`;

function sha256sum(text: string): string {
  return `sha256:${execFileSync('sha256sum', { input: text, encoding: 'utf8' }).split(' ')[0]}`;
}

async function withRoot(fn: (root: string, sn: OverlaySnapshotter) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-test-snapshot-'));
  try {
    await fn(root, await new OverlaySnapshotter(join(root, 'sn'), { now: () => new Date('2026-01-02T03:04:05Z') }).init());
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

test('chain IDs follow the image-spec formula, checked against sha256sum', () => {
  const c1 = sha256sum(`${D0} ${D1}`);
  const c2 = sha256sum(`${c1} ${D2}`);
  assert.deepEqual(chainIds([D0, D1, D2]), [D0, c1, c2]);
  assert.equal(chainId([D0]), D0);
  assert.throws(() => chainIds(['nope']), { code: 'DIGEST_INVALID' });
});

test('prepare, commit, prepare a child and view return the mount descriptions containerd would', async () => {
  await withRoot(async (_root, sn) => {
    const [base] = await sn.prepare('base-active');
    const baseFs = await sn.directory('base-active');
    assert.deepEqual(base, { type: 'bind', source: baseFs, options: ['rbind', 'rw'] });
    await sn.commit('base', 'base-active', { labels: { x: 'y' } });
    assert.equal(await sn.find('base-active'), undefined);
    assert.deepEqual(await sn.stat('base'), { kind: 'committed', name: 'base', labels: { x: 'y' }, created: '2026-01-02T03:04:05.000Z', updated: '2026-01-02T03:04:05.000Z' });

    const [child] = await sn.prepare('child-active', 'base');
    const childFs = await sn.directory('child-active');
    assert.deepEqual(child, {
      type: 'overlay',
      source: 'overlay',
      options: [`lowerdir=${baseFs}`, `upperdir=${childFs}`, `workdir=${join(childFs, '..', 'work')}`],
    });
    assert.deepEqual(await sn.mounts('child-active'), [child]);
    await sn.commit('top', 'child-active');

    assert.deepEqual(await sn.view('v1', 'base'), [{ type: 'bind', source: baseFs, options: ['rbind', 'ro'] }]);
    assert.deepEqual(await sn.view('v2', 'top'), [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${childFs}:${baseFs}`] }]);
    assert.deepEqual(
      (await sn.list()).map((i) => [i.name, i.kind, i.parent]),
      [
        ['base', 'committed', undefined],
        ['top', 'committed', 'base'],
        ['v1', 'view', 'base'],
        ['v2', 'view', 'top'],
      ],
    );
  });
});

test('the snapshotter refuses duplicates, missing or uncommitted parents, wrong kinds and parents in use', async () => {
  await withRoot(async (_root, sn) => {
    await sn.prepare('a');
    await assert.rejects(sn.prepare('a'), { code: 'SNAPSHOT_EXISTS' });
    await assert.rejects(sn.prepare('b', 'a'), { code: 'SNAPSHOT_STATE', message: /parent snapshot `a` is active/ });
    await assert.rejects(sn.prepare('b', 'nothing'), { code: 'SNAPSHOT_NOT_FOUND' });
    await assert.rejects(sn.prepare(''), { code: 'ARGUMENT_INVALID' });
    await sn.commit('A', 'a');
    await assert.rejects(sn.mounts('A'), { code: 'SNAPSHOT_STATE' });
    await sn.view('v', 'A');
    await assert.rejects(sn.commit('V', 'v'), { code: 'SNAPSHOT_STATE' });
    await sn.prepare('c');
    await assert.rejects(sn.commit('A', 'c'), { code: 'SNAPSHOT_EXISTS' });
    await assert.rejects(sn.remove('A'), { code: 'SNAPSHOT_STATE', message: /parent of `v`/ });
    await sn.remove('v');
    await sn.remove('A');
    await sn.remove('c');
    await assert.rejects(sn.remove('A'), { code: 'SNAPSHOT_NOT_FOUND' });
    assert.deepEqual(await sn.list(), []);
    assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
  });
});

test('a commit cut between its two metadata writes resolves to the committed snapshot; cleanup drops unnamed trees', async () => {
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

test('snapshotsFromLayers moves layer dirs in by chain ID and deletes a duplicate stack', async () => {
  await withRoot(async (root, sn) => {
    const mk = async (name: string): Promise<string> => {
      const d = join(root, name);
      await mkdir(d);
      await writeFile(join(d, 'f'), name);
      await link(join(d, 'f'), join(d, 'g'));
      return d;
    };
    const layers = [
      { dir: await mk('l0'), diffId: D0 },
      { dir: await mk('l1'), diffId: D1 },
    ];
    const ids = chainIds([D0, D1]);
    assert.deepEqual(await snapshotsFromLayers(sn, layers), [
      { chainId: ids[0], imported: true },
      { chainId: ids[1], imported: true },
    ]);
    assert.equal(await readFile(join(await sn.directory(ids[1]!), 'f'), 'utf8'), 'l1');
    assert.equal((await sn.stat(ids[1]!)).parent, ids[0]);
    assert.deepEqual(Object.keys(await sn.stat(ids[0]!).then((i) => i.labels)), ['berth.io/diff-id']);
    const usage = await sn.usage(ids[0]!);
    assert.equal(usage.inodes, 2, 'the directory and one file with two links');

    const again = [{ dir: await mk('l0-again'), diffId: D0 }];
    assert.deepEqual(await snapshotsFromLayers(sn, again), [{ chainId: ids[0], imported: false }]);
    assert.deepEqual((await readdir(root)).sort(), ['sn']);
  });
});
