/**
 * What the snapshot drivers share: every snapshot is a directory tree under
 * the root, recorded by a metadata file (`SnapshotMetadata`). This class
 * keeps the records, the lifecycle rules (kinds, parents, keys) and the
 * ordering that makes a crash harmless; a driver (`OverlaySnapshotter`,
 * `CopySnapshotter`) says only how a tree is made, mounted, readied for
 * commit and imported, in the four protected methods it implements. A base
 * class rather than a driver object handed in: every public method is the
 * same for both drivers, and the drivers' own methods need the records.
 *
 * Crash rules: a tree is created before its record and removed after it,
 * so a crash leaves at worst a tree nothing names, which `cleanup()`
 * deletes; a crash inside `commit` (new name written, old key not yet
 * removed) is resolved on the next read in favour of the committed
 * snapshot (see `SnapshotMetadata.readAll`).
 *
 * Operations are serialised within the process; several processes sharing a
 * root are not supported yet (berthd is the one owner).
 */
import { lstat, mkdir, rm } from 'node:fs/promises';

import { BerthError, isErrno } from '../../errors/index.js';
import { checkKey, SnapshotMetadata, toInfo, type SnapshotRecord } from './snapshot-metadata.js';
import type { LayerImporter, Mount, SnapshotInfo, SnapshotOptions, SnapshotUsage } from './snapshotter.js';
import { directoryUsage } from './usage.js';

export interface TreeSnapshotterOptions {
  /** Clock for created/updated times (tests pass a fixed one). */
  now?: () => Date;
}

export abstract class TreeSnapshotter implements LayerImporter {
  readonly root: string;
  protected readonly records: SnapshotMetadata;
  readonly #now: () => Date;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(root: string, options: TreeSnapshotterOptions = {}) {
    this.root = root;
    this.records = new SnapshotMetadata(root);
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Makes the tree of a new active snapshot or view in
   * `records.snapshotDir(record.id)`, which exists (and is removed again
   * if this fails); `parentTree` is the committed parent's tree.
   */
  protected abstract createTree(record: SnapshotRecord, parentTree: string | undefined): Promise<void>;

  /** The mounts of an active snapshot or a view; fails with SNAPSHOT_STATE for a committed one. */
  protected abstract mountsOf(record: SnapshotRecord): Promise<Mount[]>;

  /** Readies an active snapshot's tree to be committed, before its usage is measured. */
  protected async sealTree(_record: SnapshotRecord): Promise<void> {}

  /**
   * Turns the layer directory `layerDir` (overlayfs form) into `target`,
   * the tree of the committed snapshot `options.name` on the parent whose
   * tree is `options.parentTree`. The directory holding `target` exists
   * (and is removed again if this fails).
   */
  protected abstract importTree(layerDir: string, target: string, options: { name: string; parentTree?: string }): Promise<void>;

  /** Creates the root's folders; call once before use. */
  async init(): Promise<this> {
    await this.records.init();
    return this;
  }

  /** The directory holding a snapshot's own tree (for tests and for unpacking into an active snapshot). */
  async directory(key: string): Promise<string> {
    return this.records.fsDir((await this.records.get(key)).id);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #create(kind: 'active' | 'view', key: string, parent: string | undefined, options: SnapshotOptions): Promise<Mount[]> {
    return this.#serial(async () => {
      await this.records.checkFree(key, 'key');
      const p = await this.records.checkParent(parent);
      const now = this.#now().toISOString();
      const meta = this.records.record({ id: this.records.newId(), kind, name: key, labels: { ...options.labels }, created: now, updated: now });
      if (parent !== undefined) meta.parent = parent;
      return this.#newSnapshotDir(meta.id, async () => {
        await this.createTree(meta, p && this.records.fsDir(p.id));
        const mounts = await this.mountsOf(meta);
        await this.records.write(meta);
        return mounts;
      });
    });
  }

  /** Makes `snapshots/<id>` and runs `fill`, which ends by writing the record; if it fails, the directory goes again. */
  async #newSnapshotDir<T>(id: string, fill: () => Promise<T>): Promise<T> {
    await mkdir(this.records.snapshotDir(id), { mode: 0o700 });
    try {
      return await fill();
    } catch (err) {
      await rm(this.records.snapshotDir(id), { recursive: true, force: true });
      throw err;
    }
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return toInfo(await this.records.get(key));
  }

  async find(key: string): Promise<SnapshotInfo | undefined> {
    checkKey(key, 'key');
    const m = await this.records.read(key);
    return m && toInfo(m);
  }

  async list(): Promise<SnapshotInfo[]> {
    return (await this.records.readAll()).map(toInfo);
  }

  async usage(key: string): Promise<SnapshotUsage> {
    const m = await this.records.get(key);
    if (m.kind === 'committed' && m.usage) return { ...m.usage };
    return directoryUsage(this.records.fsDir(m.id));
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.mountsOf(await this.records.get(key));
  }

  prepare(key: string, parent?: string, options: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create('active', key, parent, options);
  }

  view(key: string, parent?: string, options: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create('view', key, parent, options);
  }

  commit(name: string, key: string, options: SnapshotOptions = {}): Promise<void> {
    return this.#serial(async () => {
      const m = await this.records.get(key);
      if (m.kind !== 'active') throw new BerthError('SNAPSHOT_STATE', `snapshot \`${key}\` is ${m.kind}; only an active snapshot can be committed`);
      await this.records.checkFree(name, 'name');
      await this.sealTree(m);
      const usage = await directoryUsage(this.records.fsDir(m.id));
      const committed: SnapshotRecord = {
        ...m,
        kind: 'committed',
        name,
        labels: { ...m.labels, ...options.labels },
        updated: this.#now().toISOString(),
        usage,
      };
      // New name first, then drop the key: a crash in between is resolved by readAll.
      await this.records.write(committed);
      await this.records.delete(key);
    });
  }

  remove(key: string): Promise<void> {
    return this.#serial(async () => {
      const m = await this.records.get(key);
      const children = (await this.records.readAll()).filter((c) => c.parent === key).map((c) => `\`${c.name}\``);
      if (children.length > 0) {
        throw new BerthError('SNAPSHOT_STATE', `snapshot \`${key}\` is the parent of ${children.join(', ')}; remove those first`);
      }
      // Metadata first: a crash leaves an unnamed tree for cleanup(), never a name without a tree.
      await this.records.delete(key);
      await rm(this.records.snapshotDir(m.id), { recursive: true, force: true });
    });
  }

  /**
   * Registers the layer directory `dir` (overlayfs form) as the committed
   * snapshot `name` on `parent`; `dir` is gone afterwards. A refusal (a
   * name taken, a parent missing or not committed, no such directory)
   * leaves `dir` alone.
   */
  importDirectory(name: string, parent: string | undefined, dir: string, options: SnapshotOptions = {}): Promise<void> {
    return this.#serial(async () => {
      await this.records.checkFree(name, 'name');
      const p = await this.records.checkParent(parent);
      const st = await lstat(dir).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      });
      if (!st?.isDirectory()) throw new BerthError('SNAPSHOT_NOT_FOUND', `layer directory ${dir} for snapshot \`${name}\` does not exist`);
      const id = this.records.newId();
      await this.#newSnapshotDir(id, async () => {
        await this.importTree(dir, this.records.fsDir(id), { name, ...(p ? { parentTree: this.records.fsDir(p.id) } : {}) });
        const now = this.#now().toISOString();
        const meta = this.records.record({ id, kind: 'committed', name, labels: { ...options.labels }, created: now, updated: now, usage: await directoryUsage(this.records.fsDir(id)) });
        if (parent !== undefined) meta.parent = parent;
        await this.records.write(meta);
      });
    });
  }

  /** Deletes trees that no metadata names (left by a crash); returns their ids. */
  cleanup(): Promise<string[]> {
    return this.#serial(async () => {
      const ids = new Set((await this.records.readAll()).map((m) => m.id));
      const removed: string[] = [];
      for (const id of await this.records.snapshotIds()) {
        if (ids.has(id)) continue;
        await rm(this.records.snapshotDir(id), { recursive: true, force: true });
        removed.push(id);
      }
      return removed;
    });
  }
}
