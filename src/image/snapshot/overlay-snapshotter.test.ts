import assert from 'node:assert/strict';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { chainIds } from './chain-id.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { snapshotsFromLayers } from './snapshots-from-layers.js';
import { layerDirs, snapshotterContract, withSnapshotter, type SnapshotterFactory } from './snapshotter-contract.js';

const create: SnapshotterFactory<OverlaySnapshotter> = (root, options) => new OverlaySnapshotter(root, options).init();

snapshotterContract('OverlaySnapshotter', create);

test('prepare on a parent is an overlay with a work dir; views of one layer bind it, of several overlay the lower dirs', () =>
  withSnapshotter(create, async (sn) => {
    await sn.prepare('base-active');
    const baseFs = await sn.directory('base-active');
    await sn.commit('base', 'base-active');

    const [child] = await sn.prepare('child-active', 'base');
    const childFs = await sn.directory('child-active');
    const work = join(childFs, '..', 'work');
    assert.deepEqual(child, { type: 'overlay', source: 'overlay', options: [`lowerdir=${baseFs}`, `upperdir=${childFs}`, `workdir=${work}`] });
    assert.ok((await lstat(work)).isDirectory());
    await sn.commit('top', 'child-active');
    await assert.rejects(lstat(work), { code: 'ENOENT' }, 'commit drops the work dir: a lower dir needs none');

    assert.deepEqual(await sn.view('v1', 'base'), [{ type: 'bind', source: baseFs, options: ['rbind', 'ro'] }]);
    assert.deepEqual(await sn.view('v2', 'top'), [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${childFs}:${baseFs}`] }]);
    assert.deepEqual(await sn.prepare('c2', 'top'), [
      { type: 'overlay', source: 'overlay', options: [`lowerdir=${childFs}:${baseFs}`, `upperdir=${await sn.directory('c2')}`, `workdir=${join(await sn.directory('c2'), '..', 'work')}`] },
    ]);
  }));

test('a stack whose lowerdir option outgrows a page is refused with NOT_IMPLEMENTED and leaves no tree', () =>
  withSnapshotter(create, async (sn, temp) => {
    // Registered by importDirectory, which mounts nothing: prepare would be refused from about 60 layers on.
    let parent: string | undefined;
    for (let i = 0; i < 70; i++) {
      const layer = join(temp, `layer-${i}`);
      await mkdir(layer);
      await sn.importDirectory(`c${i}`, parent, layer);
      parent = `c${i}`;
    }
    const trees = (await readdir(join(sn.root, 'snapshots'))).length;
    await assert.rejects(sn.prepare('too-deep', parent), { code: 'NOT_IMPLEMENTED', message: /snapshot `too-deep`: 70 layers make overlay options longer than one page/ });
    await assert.rejects(sn.view('too-deep', parent), { code: 'NOT_IMPLEMENTED' });
    assert.equal(await sn.find('too-deep'), undefined);
    assert.equal((await readdir(join(sn.root, 'snapshots'))).length, trees, 'no tree left for the refused snapshot');
  }));

test('snapshotsFromLayers moves layer dirs in without copying: a chain holds its own layer only', () =>
  withSnapshotter(create, async (sn, temp) => {
    const layers = await layerDirs(temp, 2);
    const inodes = await Promise.all(layers.map(async (l, i) => (await lstat(join(l.dir, `f${i}`))).ino));
    const ids = chainIds(layers.map((l) => l.diffId));
    await snapshotsFromLayers(sn, layers);
    assert.deepEqual((await readdir(await sn.directory(ids[1]!))).sort(), ['f1', 'f1-link'], 'an overlay layer holds its changes only');
    for (const [i, id] of ids.entries()) assert.equal((await lstat(join(await sn.directory(id), `f${i}`))).ino, inodes[i], 'moved, not copied');
  }));
