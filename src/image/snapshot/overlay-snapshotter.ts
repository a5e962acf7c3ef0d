/**
 * The overlayfs snapshotter. On disk, under its root:
 *
 *   <root>/metadata/<sha256(key) hex>.json   one small file per snapshot,
 *       written atomically and fsynced: { version, id, kind, name, parent,
 *       labels, created, updated, usage (committed only) }
 *   <root>/snapshots/<id>/fs      the snapshot's own tree: the overlay upper
 *       dir of an active snapshot, a lower dir once committed
 *   <root>/snapshots/<id>/work    the overlay work dir (active only; removed
 *       at commit)
 *
 * Metadata files are named by a hash of the key, so keys and names may hold
 * any character (chain IDs hold ':'). A tree is created before its metadata
 * and removed after it, so a crash leaves at worst a tree nothing names,
 * which `cleanup()` deletes; a crash inside `commit` (new name written, old
 * key not yet removed) is resolved on the next read in favour of the
 * committed snapshot.
 *
 * Mounts (never made here; see `Snapshotter`):
 *   prepare, no parent     bind `fs` rw
 *   prepare on a parent    overlay lowerdir=<parent fs>:<grandparent fs>…,
 *                          upperdir=fs, workdir=work
 *   view of one layer      bind `<parent fs>` ro
 *   view of several        overlay lowerdir=… only (read-only overlay; it
 *                          needs two lower dirs, hence the bind for one)
 *
 * Operations are serialised within the process; several processes sharing a
 * root are not supported yet (berthd is the one owner).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BerthError, isErrno } from '../../errors/index.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import type { LayerImporter, Mount, SnapshotInfo, SnapshotKind, SnapshotOptions, SnapshotUsage } from './snapshotter.js';
import { directoryUsage } from './usage.js';

const execFileP = promisify(execFile);

const METADATA_VERSION = 1;

/**
 * mount(2) copies its data argument into one page: overlay options longer
 * than 4095 bytes fail with EINVAL (containerd works around it by mounting
 * from inside the root with relative paths; not done here yet).
 */
const MAX_MOUNT_DATA_BYTES = 4095;

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

export interface OverlaySnapshotterOptions {
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

export class OverlaySnapshotter implements LayerImporter {
  readonly root: string;
  readonly #now: () => Date;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(root: string, options: OverlaySnapshotterOptions = {}) {
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

  #workDir(id: string): string {
    return join(this.#snapDir(id), 'work');
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

  /** The lower dirs of a snapshot on `parent`, topmost first (overlayfs order). */
  async #lowerDirs(parent: string): Promise<string[]> {
    const dirs: string[] = [];
    const seen = new Set<string>();
    for (let name: string | undefined = parent; name !== undefined; ) {
      if (seen.has(name)) throw new BerthError('STATE_CORRUPT', `snapshot \`${parent}\`: its parent chain loops at \`${name}\``);
      seen.add(name);
      const m = await this.#read(name);
      if (!m) throw new BerthError('STATE_CORRUPT', `snapshot \`${parent}\`: ancestor \`${name}\` is missing`);
      dirs.push(this.#fsDir(m.id));
      name = m.parent;
    }
    return dirs;
  }

  async #mountsOf(m: Metadata): Promise<Mount[]> {
    const lowers = m.parent === undefined ? [] : await this.#lowerDirs(m.parent);
    let mount: Mount;
    if (m.kind === 'active') {
      mount =
        lowers.length === 0
          ? { type: 'bind', source: this.#fsDir(m.id), options: ['rbind', 'rw'] }
          : {
              type: 'overlay',
              source: 'overlay',
              options: [`lowerdir=${lowers.join(':')}`, `upperdir=${this.#fsDir(m.id)}`, `workdir=${this.#workDir(m.id)}`],
            };
    } else if (m.kind === 'view') {
      if (lowers.length === 0) mount = { type: 'bind', source: this.#fsDir(m.id), options: ['rbind', 'ro'] };
      else if (lowers.length === 1) mount = { type: 'bind', source: lowers[0]!, options: ['rbind', 'ro'] };
      else mount = { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] };
    } else {
      throw new BerthError('SNAPSHOT_STATE', `snapshot \`${m.name}\` is committed and has no mounts; prepare or view a snapshot on it`);
    }
    if (mount.type === 'overlay' && Buffer.byteLength(mount.options.join(',')) > MAX_MOUNT_DATA_BYTES) {
      throw new BerthError('NOT_IMPLEMENTED', `snapshot \`${m.name}\`: ${lowers.length} layers make overlay options longer than one page (${MAX_MOUNT_DATA_BYTES} bytes)`);
    }
    return [mount];
  }

  async #checkParent(parent: string | undefined): Promise<void> {
    if (parent === undefined) return;
    checkKey(parent, 'parent');
    const p = await this.#read(parent);
    if (!p) throw new BerthError('SNAPSHOT_NOT_FOUND', `parent snapshot \`${parent}\` does not exist`);
    if (p.kind !== 'committed') throw new BerthError('SNAPSHOT_STATE', `parent snapshot \`${parent}\` is ${p.kind}, not committed; commit it first`);
  }

  async #checkFree(key: string, what: string): Promise<void> {
    checkKey(key, what);
    const existing = await this.#read(key);
    if (existing) throw new BerthError('SNAPSHOT_EXISTS', `snapshot \`${key}\` already exists (${existing.kind})`);
  }

  async #create(kind: 'active' | 'view', key: string, parent: string | undefined, options: SnapshotOptions): Promise<Mount[]> {
    return this.#serial(async () => {
      await this.#checkFree(key, 'key');
      await this.#checkParent(parent);
      const id = randomBytes(8).toString('hex');
      await mkdir(this.#snapDir(id), { mode: 0o700 });
      await mkdir(this.#fsDir(id), { mode: 0o755 });
      if (kind === 'active') await mkdir(this.#workDir(id), { mode: 0o711 });
      const now = this.#now().toISOString();
      const meta: Metadata = { version: METADATA_VERSION, id, kind, name: key, labels: { ...options.labels }, created: now, updated: now };
      if (parent !== undefined) meta.parent = parent;
      try {
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
      // The work dir is overlayfs scratch space (work/work is left mode 000 by the kernel); a lower dir needs none.
      await rm(this.#workDir(m.id), { recursive: true, force: true });
      const usage = await directoryUsage(this.#fsDir(m.id));
      const committed: Metadata = {
        ...m,
        kind: 'committed',
        name,
        labels: { ...m.labels, ...options.labels },
        updated: this.#now().toISOString(),
        usage,
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

  importDirectory(name: string, parent: string | undefined, dir: string, options: SnapshotOptions = {}): Promise<void> {
    return this.#serial(async () => {
      await this.#checkFree(name, 'name');
      await this.#checkParent(parent);
      const st = await lstat(dir).catch((err: unknown) => {
        if (isErrno(err, 'ENOENT')) return undefined;
        throw err;
      });
      if (!st?.isDirectory()) throw new BerthError('SNAPSHOT_NOT_FOUND', `layer directory ${dir} for snapshot \`${name}\` does not exist`);
      const id = randomBytes(8).toString('hex');
      await mkdir(this.#snapDir(id), { mode: 0o700 });
      try {
        await rename(dir, this.#fsDir(id));
      } catch (err) {
        if (!isErrno(err, 'EXDEV')) {
          await rm(this.#snapDir(id), { recursive: true, force: true });
          throw err;
        }
        // Another filesystem: copy preserving owners, modes, links, xattrs (the whiteouts' trusted.overlay.*).
        try {
          await execFileP('cp', ['-a', '--reflink=auto', dir, this.#fsDir(id)]);
        } catch (cpErr) {
          await rm(this.#snapDir(id), { recursive: true, force: true });
          throw cpErr;
        }
        await rm(dir, { recursive: true, force: true });
      }
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
