/**
 * The snapshotter interface, in containerd's vocabulary
 * (core/snapshots/snapshotter.go). A snapshotter keeps filesystem trees
 * stacked by parent; it never mounts anything itself, it returns mount
 * descriptions that the caller (the runtime, a bundle builder, a test)
 * mounts and unmounts.
 *
 * Kinds and lifecycle:
 *
 *   committed  read-only, usable as a parent; addressed by a name (for
 *              image layers, the layer's chain ID).
 *   active     writable; made by `prepare(key, parent?)`, turned into a
 *              committed snapshot by `commit(name, key)` (the key is gone
 *              after that).
 *   view       read-only look at a committed parent; made by
 *              `view(key, parent?)`, never committed.
 *
 * Unpacking a layer the containerd way, and running a container:
 *
 *   const mounts = await sn.prepare('extract-1', parentChainId);
 *   // mount, apply the layer, unmount
 *   await sn.commit(chainId, 'extract-1');
 *   const rootfs = await sn.prepare('container-web', chainId);
 *   // hand `rootfs` to the runtime; later: unmount, then
 *   await sn.remove('container-web');
 *
 * A snapshot cannot be removed while another snapshot names it as parent;
 * remove children first. Callers must unmount before `commit` and `remove`.
 */

/** A mount description, as containerd's mount.Mount: `mount -t TYPE SOURCE TARGET -o OPTIONS`. */
export interface Mount {
  /** `overlay` or `bind`. */
  type: string;
  source: string;
  /** Mount options; for `bind`, `rbind` plus `ro` or `rw`. */
  options: string[];
}

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  kind: SnapshotKind;
  /** The key (active, view) or name (committed). */
  name: string;
  /** The committed snapshot this one sits on. */
  parent?: string;
  labels: Record<string, string>;
  /** ISO 8601. */
  created: string;
  updated: string;
}

export interface SnapshotUsage {
  /** Disk space of the snapshot's own tree (not its parents), st_blocks × 512, hard links counted once. */
  sizeBytes: number;
  /** Distinct inodes in the snapshot's own tree. */
  inodes: number;
}

export interface SnapshotOptions {
  labels?: Record<string, string>;
}

export interface Snapshotter {
  /** Info of a snapshot; fails with SNAPSHOT_NOT_FOUND. */
  stat(key: string): Promise<SnapshotInfo>;
  /** Info of a snapshot, or undefined. */
  find(key: string): Promise<SnapshotInfo | undefined>;
  /** Every snapshot, sorted by name. */
  list(): Promise<SnapshotInfo[]>;
  /** Space used by the snapshot's own tree (for a committed one, measured at commit). */
  usage(key: string): Promise<SnapshotUsage>;
  /** The mounts of an active snapshot or a view (what prepare/view returned). */
  mounts(key: string): Promise<Mount[]>;
  /** A new active (writable) snapshot on top of the committed `parent`. */
  prepare(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]>;
  /** A new read-only view of the committed `parent`. */
  view(key: string, parent?: string, options?: SnapshotOptions): Promise<Mount[]>;
  /** Turns the active snapshot `key` into the committed snapshot `name`. */
  commit(name: string, key: string, options?: SnapshotOptions): Promise<void>;
  /** Removes a snapshot and its tree; refuses while a child names it as parent. */
  remove(key: string): Promise<void>;
}

/** A snapshotter that can take in a directory already unpacked elsewhere (see `snapshotsFromLayers`). */
export interface LayerImporter extends Snapshotter {
  /**
   * Registers `dir` as the committed snapshot `name` on `parent`, moving it
   * into the snapshotter's root (a rename; a copy only across filesystems).
   * `dir` is gone afterwards.
   */
  importDirectory(name: string, parent: string | undefined, dir: string, options?: SnapshotOptions): Promise<void>;
}
