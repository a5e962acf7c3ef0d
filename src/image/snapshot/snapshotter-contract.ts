/**
 * The behaviour every snapshotter driver owes its callers, as node:test
 * tests that each driver's test file registers for itself (containerd's
 * core/snapshots/testsuite): records and lifecycle, refusals that leave
 * nothing behind, the crash rules, the on-disk metadata format, and layer
 * stacks registered by chain ID. What differs between drivers (mount
 * shapes, what a tree holds) is tested in the driver's own file.
 *
 *   snapshotterContract('OverlaySnapshotter', (root, options) => new OverlaySnapshotter(root, options).init());
 *
 * Not a test file itself: it is only run through a driver's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { chainIds } from './chain-id.js';
import type { LayerImporter } from './snapshotter.js';
import { snapshotsFromLayers } from './snapshots-from-layers.js';

/** A driver as the contract drives it: the interface, plus the root and the extras both drivers have. */
export interface ContractSnapshotter extends LayerImporter {
  readonly root: string;
  directory(key: string): Promise<string>;
  cleanup(): Promise<string[]>;
}

/** Makes an initialised snapshotter at `root` whose clock is `options.now`. */
export type SnapshotterFactory<S extends ContractSnapshotter> = (root: string, options: { now: () => Date }) => Promise<S>;

/** The time every contract snapshotter's clock shows. */
export const CONTRACT_NOW = '2026-01-02T03:04:05.000Z';

/**
 * Runs `fn` with a snapshotter rooted at `<temp>/sn` and the temp dir
 * (for layer directories and such), then deletes the temp dir.
 */
export async function withSnapshotter<S extends ContractSnapshotter>(create: SnapshotterFactory<S>, fn: (sn: S, temp: string) => Promise<void>): Promise<void> {
  const temp = await mkdtemp(join(tmpdir(), 'berth-test-snapshot-'));
  try {
    await fn(await create(join(temp, 'sn'), { now: () => new Date(CONTRACT_NOW) }), temp);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/**
 * `count` layer directories `<temp>/<prefix><i>` for `snapshotsFromLayers`,
 * each holding a file `f<i>` ("layer <i>") and its hard link `f<i>-link`,
 * with made-up diff IDs (the same for the same `i`).
 */
export async function layerDirs(temp: string, count: number, prefix = 'l'): Promise<Array<{ dir: string; diffId: string }>> {
  const layers = [];
  for (let i = 0; i < count; i++) {
    const dir = join(temp, `${prefix}${i}`);
    await mkdir(dir);
    await writeFile(join(dir, `f${i}`), `layer ${i}`);
    await link(join(dir, `f${i}`), join(dir, `f${i}-link`));
    layers.push({ dir, diffId: `sha256:${String(i).repeat(64)}` });
  }
  return layers;
}

/** Registers the contract's tests, each named `<name>: ...`. */
export function snapshotterContract<S extends ContractSnapshotter>(name: string, create: SnapshotterFactory<S>): void {
  const run = (fn: (sn: S, temp: string) => Promise<void>) => () => withSnapshotter(create, fn);

  test(
    `${name}: prepare, commit and view keep stat, find, list and mounts in step`,
    run(async (sn) => {
      const [base] = await sn.prepare('base-active', undefined, { labels: { from: 'prepare', x: 'old' } });
      assert.deepEqual(base, { type: 'bind', source: await sn.directory('base-active'), options: ['rbind', 'rw'] }, 'a snapshot on nothing is a bind of its own tree');
      assert.deepEqual(await sn.stat('base-active'), { kind: 'active', name: 'base-active', labels: { from: 'prepare', x: 'old' }, created: CONTRACT_NOW, updated: CONTRACT_NOW });
      await sn.commit('base', 'base-active', { labels: { x: 'y' } });
      assert.equal(await sn.find('base-active'), undefined, 'the key is gone after commit');
      await assert.rejects(sn.stat('base-active'), { code: 'SNAPSHOT_NOT_FOUND', message: /snapshot `base-active` does not exist/ });
      assert.deepEqual(await sn.stat('base'), { kind: 'committed', name: 'base', labels: { from: 'prepare', x: 'y' }, created: CONTRACT_NOW, updated: CONTRACT_NOW });
      assert.deepEqual(await sn.find('base'), await sn.stat('base'));

      const child = await sn.prepare('child-active', 'base');
      assert.deepEqual(await sn.mounts('child-active'), child, 'mounts() repeats what prepare returned');
      await sn.commit('top', 'child-active');
      const v1 = await sn.view('v1', 'base');
      assert.deepEqual(await sn.mounts('v1'), v1);
      assert.ok(v1.every((m) => m.options.includes('ro') || m.type === 'overlay'), `a view is read-only: ${JSON.stringify(v1)}`);
      await sn.view('v2', 'top');
      assert.deepEqual(await sn.view('v0'), [{ type: 'bind', source: await sn.directory('v0'), options: ['rbind', 'ro'] }], 'a view of nothing binds its empty tree read-only');
      assert.deepEqual(await readdir(await sn.directory('v0')), []);
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
      await assert.rejects(sn.find(''), { code: 'ARGUMENT_INVALID' });
      await assert.rejects(sn.usage('nothing'), { code: 'SNAPSHOT_NOT_FOUND' });
      await assert.rejects(sn.directory('nothing'), { code: 'SNAPSHOT_NOT_FOUND' });
    }),
  );

  test(
    `${name}: refuses duplicates, missing or uncommitted parents, wrong kinds and parents in use, leaving nothing behind`,
    run(async (sn, temp) => {
      await sn.prepare('a');
      await assert.rejects(sn.prepare('a'), { code: 'SNAPSHOT_EXISTS', message: /snapshot `a` already exists \(active\)/ });
      await assert.rejects(sn.prepare('b', 'a'), { code: 'SNAPSHOT_STATE', message: /parent snapshot `a` is active/ });
      await assert.rejects(sn.prepare('b', 'nothing'), { code: 'SNAPSHOT_NOT_FOUND', message: /parent snapshot `nothing` does not exist/ });
      await assert.rejects(sn.prepare(''), { code: 'ARGUMENT_INVALID', message: /snapshot key must be a non-empty string/ });
      await assert.rejects(sn.prepare('b', 'x\0y'), { code: 'ARGUMENT_INVALID', message: /snapshot parent must be/ });
      await assert.rejects(sn.view('a'), { code: 'SNAPSHOT_EXISTS' });
      assert.equal((await readdir(join(sn.root, 'snapshots'))).length, 1, 'refused prepares made no tree');
      await sn.commit('A', 'a');
      await assert.rejects(sn.mounts('A'), { code: 'SNAPSHOT_STATE', message: /`A` is committed and has no mounts/ });
      await sn.view('v', 'A');
      await assert.rejects(sn.commit('V', 'v'), { code: 'SNAPSHOT_STATE', message: /`v` is view; only an active snapshot can be committed/ });
      await assert.rejects(sn.commit('B', 'A'), { code: 'SNAPSHOT_STATE', message: /`A` is committed; only an active/ });
      await sn.prepare('c');
      await assert.rejects(sn.commit('A', 'c'), { code: 'SNAPSHOT_EXISTS' });
      await assert.rejects(sn.commit('', 'c'), { code: 'ARGUMENT_INVALID', message: /snapshot name must be/ });
      await assert.rejects(sn.commit('Z', 'missing'), { code: 'SNAPSHOT_NOT_FOUND' });
      assert.equal((await sn.stat('c')).kind, 'active', 'a refused commit keeps the active snapshot');
      await assert.rejects(sn.remove('A'), { code: 'SNAPSHOT_STATE', message: /parent of `v`/ });
      assert.equal((await sn.stat('A')).kind, 'committed', 'a refused remove keeps the snapshot');

      const layer = join(temp, 'layer');
      await mkdir(layer);
      await writeFile(join(layer, 'f'), 'f');
      await assert.rejects(sn.importDirectory('L', 'nothing', layer), { code: 'SNAPSHOT_NOT_FOUND' });
      await assert.rejects(sn.importDirectory('L', 'c', layer), { code: 'SNAPSHOT_STATE' });
      await assert.rejects(sn.importDirectory('A', undefined, layer), { code: 'SNAPSHOT_EXISTS' });
      await assert.rejects(sn.importDirectory('L', 'A', join(temp, 'no-such-layer')), { code: 'SNAPSHOT_NOT_FOUND', message: /layer directory .*no-such-layer/ });
      await assert.rejects(sn.importDirectory('L', 'A', join(layer, 'f')), { code: 'SNAPSHOT_NOT_FOUND', message: /layer directory .*layer\/f for snapshot `L`/ });
      assert.equal(await readFile(join(layer, 'f'), 'utf8'), 'f', 'a refused import leaves the layer directory alone');

      await sn.remove('v');
      await sn.remove('A');
      await sn.remove('c');
      await assert.rejects(sn.remove('A'), { code: 'SNAPSHOT_NOT_FOUND' });
      assert.deepEqual(await sn.list(), []);
      assert.deepEqual(await readdir(join(sn.root, 'snapshots')), []);
      assert.deepEqual(await readdir(join(sn.root, 'metadata')), []);
    }),
  );

  test(
    `${name}: a commit cut between its two metadata writes resolves to the committed snapshot; cleanup drops unnamed trees`,
    run(async (sn) => {
      await sn.prepare('k');
      const metaDir = join(sn.root, 'metadata');
      const [activeFile] = await readdir(metaDir);
      const saved = await readFile(join(metaDir, activeFile!), 'utf8');
      await sn.commit('n', 'k');
      await writeFile(join(metaDir, activeFile!), saved); // as if the unlink never happened
      assert.deepEqual((await sn.list()).map((i) => i.name), ['n']);
      assert.equal(await sn.find('k'), undefined);
      assert.equal((await readdir(metaDir)).length, 1, 'the leftover record is deleted');

      await mkdir(join(sn.root, 'snapshots', 'orphan', 'fs'), { recursive: true });
      assert.deepEqual(await sn.cleanup(), ['orphan']);
      assert.equal((await readdir(join(sn.root, 'snapshots'))).length, 1);
      assert.deepEqual(await sn.cleanup(), [], 'a named tree stays');
    }),
  );

  test(
    `${name}: metadata is one JSON file per snapshot named by the key's sha256, beside a tree under snapshots/<id>/fs`,
    run(async (sn) => {
      const key = 'sha256:ab/../c d\u00e9';
      const fileOf = (k: string): string => join(sn.root, 'metadata', `${createHash('sha256').update(k).digest('hex')}.json`);
      await sn.prepare(key, undefined, { labels: { l: 'v' } });
      const active = JSON.parse(await readFile(fileOf(key), 'utf8')) as Record<string, unknown>;
      assert.match(String(active.id), /^[0-9a-f]{16}$/);
      assert.deepEqual(active, { version: 1, id: active.id, kind: 'active', name: key, labels: { l: 'v' }, created: CONTRACT_NOW, updated: CONTRACT_NOW });
      assert.equal(await sn.directory(key), join(sn.root, 'snapshots', String(active.id), 'fs'));
      await writeFile(join(await sn.directory(key), 'f'), 'x');

      await sn.commit('committed:1', key);
      await assert.rejects(readFile(fileOf(key)), { code: 'ENOENT' });
      const committed = JSON.parse(await readFile(fileOf('committed:1'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(committed).sort(), ['created', 'id', 'kind', 'labels', 'name', 'updated', 'usage', 'version']);
      assert.deepEqual([committed.id, committed.kind, committed.name], [active.id, 'committed', 'committed:1'], 'a commit keeps the id, so the tree stays where it is');
      assert.deepEqual(committed.usage, await sn.usage('committed:1'));
      assert.equal((committed.usage as { inodes: number }).inodes, 2, 'the tree and f');
      await sn.view('v', 'committed:1');
      assert.equal((JSON.parse(await readFile(fileOf('v'), 'utf8')) as { parent: string }).parent, 'committed:1');

      await writeFile(fileOf('v'), '{ not json');
      await assert.rejects(sn.stat('v'), { code: 'STATE_CORRUPT', message: /snapshot `v`: metadata .* is not valid JSON/ });
      await assert.rejects(sn.list(), { code: 'STATE_CORRUPT' });
      await writeFile(fileOf('v'), JSON.stringify({ ...committed, name: 'other' }));
      await assert.rejects(sn.stat('v'), { code: 'STATE_CORRUPT', message: /has version 1 or another name/ });
      await writeFile(fileOf('v'), JSON.stringify({ ...committed, name: 'v', version: 2 }));
      await assert.rejects(sn.find('v'), { code: 'STATE_CORRUPT', message: /has version 2/ });
    }),
  );

  test(
    `${name}: snapshotsFromLayers registers layers by chain ID with diff-id labels and deletes a duplicate stack`,
    run(async (sn, temp) => {
      const layers = await layerDirs(temp, 2);
      const [D0, D1] = layers.map((l) => l.diffId);
      const ids = chainIds([D0!, D1!]);
      assert.deepEqual(await snapshotsFromLayers(sn, layers), [
        { chainId: ids[0], imported: true },
        { chainId: ids[1], imported: true },
      ]);
      assert.equal(await readFile(join(await sn.directory(ids[1]!), 'f1'), 'utf8'), 'layer 1');
      assert.equal((await sn.stat(ids[0]!)).parent, undefined);
      assert.equal((await sn.stat(ids[1]!)).parent, ids[0]);
      assert.deepEqual((await sn.stat(ids[0]!)).labels, { 'berth.io/diff-id': D0 });
      assert.deepEqual((await sn.stat(ids[1]!)).labels, { 'berth.io/diff-id': D1 });
      assert.equal((await sn.usage(ids[0]!)).inodes, 2, 'the directory and one file with two links');

      const again = await layerDirs(temp, 1, 'again-');
      assert.deepEqual(await snapshotsFromLayers(sn, again), [{ chainId: ids[0], imported: false }]);
      assert.deepEqual((await readdir(temp)).sort(), ['sn'], 'every layer directory was taken or deleted');
    }),
  );
}
