/**
 * The copying snapshotter, for hosts where overlayfs cannot run (containerd's
 * "native" snapshotter): every snapshot is a whole directory tree, and a
 * snapshot on a parent starts as a full copy of the parent's tree
 * (`copyTree`: owners, modes, times, hard links, special files, xattrs).
 * It costs disk and time per container; it needs nothing from the kernel
 * but bind mounts.
 *
 * On disk, the same layout and metadata format as `OverlaySnapshotter`
 * (see there), without the work dir:
 *
 *   <root>/metadata/<sha256(key) hex>.json   { version, id, kind, name,
 *       parent, labels, created, updated, usage (committed only) }
 *   <root>/snapshots/<id>/fs                 the snapshot's whole tree
 *
 * The two drivers' trees are not interchangeable (an overlay layer holds
 * only its changes), so each keeps its own root (`selectSnapshotter`).
 *
 * Mounts (never made here; see `Snapshotter`):
 *   prepare            bind `fs` rw (a copy of the parent's tree)
 *   view on a parent   bind `<parent fs>` ro: committed trees never change,
 *                      so a view needs no copy of its own
 *   view, no parent    bind `fs` (empty) ro
 *
 * `importDirectory` takes a layer in overlayfs form and applies it onto a
 * copy of the parent (`applyOverlayLayer`), so image layers pulled for
 * either driver register the same way. A tree is created before its
 * metadata and removed after it; `cleanup()` deletes trees a crash left
 * unnamed. Operations are serialised within the process (a copy holds the
 * queue, so a parent cannot go while it is being copied).
 */
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { BerthError, isErrno } from '../../errors/index.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import { applyOverlayLayer } from './apply-overlay-layer.js';
import type { LayerImporter, Mount, SnapshotInfo, SnapshotKind, SnapshotOptions, SnapshotUsage } from './snapshotter.js';
import { copyTree } from './tree-copy.js';
import { directoryUsage } from './usage.js';

const METADATA_VERSION = 1;

interface Metadata {
  version: number;
  id: string;
  kind: SnapshotKind;
  name: string;
  parent?: string;
  labels: Record<string, string>;
  created: string;
  updated: string;
  usage?: SnapshotUsage;
}

export interface CopySnapshotterOptions {
  /** Clock for created/updated times (tests pass a fixed one). */
  now?: () => Date;
}

function checkKey(key: string, what: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > 4096 || key.includes('\0')) {
    throw new BerthError('ARGUMENT_INVALID', `snapshot ${what} must be a non-empty string without NUL of at most 4096 characters`);
  }
}

function toInfo(m: Metadata): SnapshotInfo {
  const info: SnapshotInfo = { kind: m.kind, name: m.name, labels: { ...m.labels }, created: m.created, updated: m.updated };
  if (m.parent !== undefined) info.parent = m.parent;
  return info;
}

export class CopySnapshotter implements LayerImporter {
  readonly root: string;
  readonly #now: () => Date;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(root: string, options: CopySnapshotterOptions = {}) {
    this.root = root;
    this.#now = options.now ?? (() => new Date());
  }

  /** Creates the root's folders; call once before use. */
  async init(): Promise<this> {
    await mkdir(join(this.root, 'metadata'), { recursive: true, mode: 0o700 });
    await mkdir(join(this.root, 'snapshots'), { recursive: true, mode: 0o700 });
    return this;
  }

  /** The directory holding a snapshot's own tree (for tests and for unpacking into an active snapshot). */
  async directory(key: string): Promise<string> {
    return this.#fsDir((await this.#get(key)).id);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #metaPath(key: string): string {
    return join(this.root, 'metadata', `${createHash('sha256').update(key).digest('hex')}.json`);
  }

  #snapDir(id: string): string {
    return join(this.root, 'snapshots', id);
  }

  #fsDir(id: string): string {
    return join(this.#snapDir(id), 'fs');
  }

  async #read(key: string): Promise<Metadata | undefined> {
    const path = this.#metaPath(key);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
    let meta: Metadata;
    try {
      meta = JSON.parse(text) as Metadata;
    } catch (err) {
      throw new BerthError('STATE_CORRUPT', `snapshot \`${key}\`: metadata ${path} is not valid JSON`, { cause: err });
    }
    if (meta.version !== METADATA_VERSION || meta.name !== key) {
      throw new BerthError('STATE_CORRUPT', `snapshot \`${key}\`: metadata ${path} has version ${meta.version} or another name`);
    }
    return meta;
  }

  async #get(key: string): Promise<Metadata> {
    checkKey(key, 'key');
    const meta = await this.#read(key);
    if (!meta) throw new BerthError('SNAPSHOT_NOT_FOUND', `snapshot \`${key}\` does not exist`);
    return meta;
  }

  async #write(meta: Metadata): Promise<void> {
    await atomicWriteFile(this.#metaPath(meta.name), `${JSON.stringify(meta)}\n`, { durable: true, mode: 0o600 });
  }

  /** Every metadata record; an active record whose id a committed one took over (a commit cut by a crash) is dropped. */
  async #readAll(): Promise<Metadata[]> {
    const dir = join(this.root, 'metadata');
    const all: Metadata[] = [];
    for (const f of await readdir(dir)) {
      if (!f.endsWith('.json') || f.startsWith('.')) continue;
      const text = await readFile(join(dir, f), 'utf8').catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      });
      if (text === undefined) continue;
      try {
        all.push(JSON.parse(text) as Metadata);
      } catch (err) {
        throw new BerthError('STATE_CORRUPT', `snapshot metadata ${join(dir, f)} is not valid JSON`, { cause: err });
      }
    }
    const committedIds = new Set(all.filter((m) => m.kind === 'committed').map((m) => m.id));
    const out: Metadata[] = [];
    for (const m of all) {
      if (m.kind === 'active' && committedIds.has(m.id)) {
        await unlink(this.#metaPath(m.name)).catch(() => {});
        continue;
      }
      out.push(m);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async #mountsOf(m: Metadata): Promise<Mount[]> {
    if (m.kind === 'active') return [{ type: 'bind', source: this.#fsDir(m.id), options: ['rbind', 'rw'] }];
    if (m.kind === 'view') {
      const parent = m.parent === undefined ? undefined : await this.#read(m.parent);
      if (m.parent !== undefined && !parent) throw new BerthError('STATE_CORRUPT', `snapshot \`${m.name}\`: parent \`${m.parent}\` is missing`);
      return [{ type: 'bind', source: this.#fsDir(parent ? parent.id : m.id), options: ['rbind', 'ro'] }];
    }
    throw new BerthError('SNAPSHOT_STATE', `snapshot \`${m.name}\` is committed and has no mounts; prepare or view a snapshot on it`);
  }

  /** The committed parent's metadata, or undefined for none. */
  async #checkParent(parent: string | undefined): Promise<Metadata | undefined> {
    if (parent === undefined) return undefined;
    checkKey(parent, 'parent');
    const p = await this.#read(parent);
    if (!p) throw new BerthError('SNAPSHOT_NOT_FOUND', `parent snapshot \`${parent}\` does not exist`);
    if (p.kind !== 'committed') throw new BerthError('SNAPSHOT_STATE', `parent snapshot \`${parent}\` is ${p.kind}, not committed; commit it first`);
    return p;
  }

  async #checkFree(key: string, what: string): Promise<void> {
    checkKey(key, what);
    const existing = await this.#read(key);
    if (existing) throw new BerthError('SNAPSHOT_EXISTS', `snapshot \`${key}\` already exists (${existing.kind})`);
  }

  async #create(kind: 'active' | 'view', key: string, parent: string | undefined, options: SnapshotOptions): Promise<Mount[]> {
    return this.#serial(async () => {
      await this.#checkFree(key, 'key');
      const p = await this.#checkParent(parent);
      const id = randomBytes(8).toString('hex');
      await mkdir(this.#snapDir(id), { mode: 0o700 });
      const now = this.#now().toISOString();
      const meta: Metadata = { version: METADATA_VERSION, id, kind, name: key, labels: { ...options.labels }, created: now, updated: now };
      if (parent !== undefined) meta.parent = parent;
      try {
        if (kind === 'active' && p) await copyTree(this.#fsDir(p.id), this.#fsDir(id), { what: `snapshot \`${key}\`` });
        else await mkdir(this.#fsDir(id), { mode: 0o755 });
        const mounts = await this.#mountsOf(meta);
        await this.#write(meta);
        return mounts;
      } catch (err) {
        await rm(this.#snapDir(id), { recursive: true, force: true });
        throw err;
      }
    });
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return toInfo(await this.#get(key));
  }

  async find(key: string): Promise<SnapshotInfo | undefined> {
    checkKey(key, 'key');
    const m = await this.#read(key);
    return m && toInfo(m);
  }

  async list(): Promise<SnapshotInfo[]> {
    return (await this.#readAll()).map(toInfo);
  }

  /** For a copy, the whole tree: blocks shared with the parent by reflink are counted again. */
  async usage(key: string): Promise<SnapshotUsage> {
    const m = await this.#get(key);
    if (m.kind === 'committed' && m.usage) return { ...m.usage };
    return directoryUsage(this.#fsDir(m.id));
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.#mountsOf(await this.#get(key));
  }

  prepare(key: string, parent?: string, options: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create('active', key, parent, options);
  }

  view(key: string, parent?: string, options: SnapshotOptions = {}): Promise<Mount[]> {
    return this.#create('view', key, parent, options);
  }

  commit(name: string, key: string, options: SnapshotOptions = {}): Promise<void> {
    return this.#serial(async () => {
      const m = await this.#get(key);
      if (m.kind !== 'active') throw new BerthError('SNAPSHOT_STATE', `snapshot \`${key}\` is ${m.kind}; only an active snapshot can be committed`);
      await this.#checkFree(name, 'name');
      const committed: Metadata = {
        ...m,
        kind: 'committed',
        name,
        labels: { ...m.labels, ...options.labels },
        updated: this.#now().toISOString(),
        usage: await directoryUsage(this.#fsDir(m.id)),
      };
      // New name first, then drop the key: a crash in between is resolved by #readAll.
      await this.#write(committed);
      await unlink(this.#metaPath(key));
    });
  }

  remove(key: string): Promise<void> {
    return this.#serial(async () => {
      const m = await this.#get(key);
      const children = (await this.#readAll()).filter((c) => c.parent === key).map((c) => `\`${c.name}\``);
      if (children.length > 0) {
        throw new BerthError('SNAPSHOT_STATE', `snapshot \`${key}\` is the parent of ${children.join(', ')}; remove those first`);
      }
      // Metadata first: a crash leaves an unnamed tree for cleanup(), never a name without a tree.
      await unlink(this.#metaPath(key));
      await rm(this.#snapDir(m.id), { recursive: true, force: true });
    });
  }

  /**
   * Registers a layer unpacked in overlayfs form as the committed snapshot
   * `name`: the parent's tree is copied and the layer applied on it, its
   * whiteouts deleting and its opaque directories replacing, so the tree is
   * what overlayfs would show for the stack. `dir` is gone afterwards (on a
   * refusal, such as a missing parent, it is left alone).
   */
  importDirectory(name: string, parent: string | undefined, dir: string, options: SnapshotOptions = {}): Promise<void> {
    return this.#serial(async () => {
      await this.#checkFree(name, 'name');
      const p = await this.#checkParent(parent);
      const st = await lstat(dir).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      });
      if (!st?.isDirectory()) throw new BerthError('SNAPSHOT_NOT_FOUND', `layer directory ${dir} for snapshot \`${name}\` does not exist`);
      const id = randomBytes(8).toString('hex');
      await mkdir(this.#snapDir(id), { mode: 0o700 });
      try {
        await applyOverlayLayer(dir, this.#fsDir(id), { ...(p ? { parent: this.#fsDir(p.id) } : {}), what: `snapshot \`${name}\`` });
        const now = this.#now().toISOString();
        const meta: Metadata = {
          version: METADATA_VERSION,
          id,
          kind: 'committed',
          name,
          labels: { ...options.labels },
          created: now,
          updated: now,
          usage: await directoryUsage(this.#fsDir(id)),
        };
        if (parent !== undefined) meta.parent = parent;
        await this.#write(meta);
      } catch (err) {
        await rm(this.#snapDir(id), { recursive: true, force: true });
        throw err;
      }
    });
  }

  /** Deletes trees that no metadata names (left by a crash); returns their ids. */
  cleanup(): Promise<string[]> {
    return this.#serial(async () => {
      const ids = new Set((await this.#readAll()).map((m) => m.id));
      const removed: string[] = [];
      for (const id of await readdir(join(this.root, 'snapshots'))) {
        if (ids.has(id)) continue;
        await rm(this.#snapDir(id), { recursive: true, force: true });
        removed.push(id);
      }
      return removed;
    });
  }
}
