/**
 * The copying snapshotter, for hosts where overlayfs cannot run (containerd's
 * "native" snapshotter): every snapshot is a whole directory tree, and a
 * snapshot on a parent starts as a full copy of the parent's tree
 * (`copyTree`: owners, modes, times, hard links, special files, xattrs).
 * It costs disk and time per container; it needs nothing from the kernel
 * but bind mounts.
 *
 * On disk, the records and trees of every `TreeSnapshotter` (see
 * `SnapshotMetadata`), with nothing beside `<root>/snapshots/<id>/fs`, the
 * snapshot's whole tree. So `usage` counts the whole tree too: blocks
 * shared with the parent by reflink are counted again. The two drivers'
 * trees are not interchangeable (an overlay layer holds only its changes),
 * so each keeps its own root (`selectSnapshotter`).
 *
 * Mounts (never made here; see `Snapshotter`):
 *   prepare            bind `fs` rw (a copy of the parent's tree)
 *   view on a parent   bind `<parent fs>` ro: committed trees never change,
 *                      so a view needs no copy of its own
 *   view, no parent    bind `fs` (empty) ro
 *
 * `importDirectory` takes a layer in overlayfs form and applies it onto a
 * copy of the parent (`applyOverlayLayer`): its whiteouts delete and its
 * opaque directories replace, so the tree is what overlayfs would show for
 * the stack, and image layers pulled for either driver register the same
 * way. A copy holds the operation queue, so a parent cannot go while it is
 * being copied.
 */
import { mkdir } from 'node:fs/promises';

import { BerthError } from '../../errors/index.js';
import { applyOverlayLayer } from './apply-overlay-layer.js';
import type { SnapshotRecord } from './snapshot-metadata.js';
import type { Mount } from './snapshotter.js';
import { copyTree } from './tree-copy.js';
import { TreeSnapshotter, type TreeSnapshotterOptions } from './tree-snapshotter.js';

export type CopySnapshotterOptions = TreeSnapshotterOptions;

export class CopySnapshotter extends TreeSnapshotter {
  protected override async createTree(record: SnapshotRecord, parentTree: string | undefined): Promise<void> {
    const fs = this.records.fsDir(record.id);
    if (record.kind === 'active' && parentTree !== undefined) await copyTree(parentTree, fs, { what: `snapshot \`${record.name}\`` });
    else await mkdir(fs, { mode: 0o755 });
  }

  protected override async mountsOf(m: SnapshotRecord): Promise<Mount[]> {
    if (m.kind === 'active') return [{ type: 'bind', source: this.records.fsDir(m.id), options: ['rbind', 'rw'] }];
    if (m.kind === 'view') {
      const parent = m.parent === undefined ? undefined : await this.records.read(m.parent);
      if (m.parent !== undefined && !parent) throw new BerthError('STATE_CORRUPT', `snapshot \`${m.name}\`: parent \`${m.parent}\` is missing`);
      return [{ type: 'bind', source: this.records.fsDir(parent ? parent.id : m.id), options: ['rbind', 'ro'] }];
    }
    throw new BerthError('SNAPSHOT_STATE', `snapshot \`${m.name}\` is committed and has no mounts; prepare or view a snapshot on it`);
  }

  protected override async importTree(layerDir: string, target: string, options: { name: string; parentTree?: string }): Promise<void> {
    await applyOverlayLayer(layerDir, target, { ...(options.parentTree !== undefined ? { parent: options.parentTree } : {}), what: `snapshot \`${options.name}\`` });
  }
}
