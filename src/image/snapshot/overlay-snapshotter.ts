/**
 * The overlayfs snapshotter. On disk, under its root, the records and
 * trees of every `TreeSnapshotter` (see `SnapshotMetadata`), plus a work
 * dir for each active snapshot:
 *
 *   <root>/snapshots/<id>/fs      the snapshot's own tree: the overlay upper
 *       dir of an active snapshot, a lower dir once committed
 *   <root>/snapshots/<id>/work    the overlay work dir (active only; removed
 *       at commit)
 *
 * Mounts (never made here; see `Snapshotter`):
 *   prepare, no parent     bind `fs` rw
 *   prepare on a parent    overlay lowerdir=<parent fs>:<grandparent fs>…,
 *                          upperdir=fs, workdir=work
 *   view of one layer      bind `<parent fs>` ro
 *   view of several        overlay lowerdir=… only (read-only overlay; it
 *                          needs two lower dirs, hence the bind for one)
 *
 * `importDirectory` moves a layer directory in as it is (a rename; a copy
 * only across filesystems): its whiteouts and opaque markers are what
 * overlayfs reads.
 */
import { execFile } from 'node:child_process';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { BerthError, isErrno } from '../../errors/index.js';
import type { SnapshotRecord } from './snapshot-metadata.js';
import type { Mount } from './snapshotter.js';
import { TreeSnapshotter, type TreeSnapshotterOptions } from './tree-snapshotter.js';

const execFileP = promisify(execFile);

/**
 * mount(2) copies its data argument into one page: overlay options longer
 * than 4095 bytes fail with EINVAL (containerd works around it by mounting
 * from inside the root with relative paths; not done here yet).
 */
const MAX_MOUNT_DATA_BYTES = 4095;

export type OverlaySnapshotterOptions = TreeSnapshotterOptions;

export class OverlaySnapshotter extends TreeSnapshotter {
  #workDir(id: string): string {
    return join(this.records.snapshotDir(id), 'work');
  }

  protected override async createTree(record: SnapshotRecord): Promise<void> {
    await mkdir(this.records.fsDir(record.id), { mode: 0o755 });
    if (record.kind === 'active') await mkdir(this.#workDir(record.id), { mode: 0o711 });
  }

  /** The lower dirs of a snapshot on `parent`, topmost first (overlayfs order). */
  async #lowerDirs(parent: string): Promise<string[]> {
    const dirs: string[] = [];
    const seen = new Set<string>();
    for (let name: string | undefined = parent; name !== undefined; ) {
      if (seen.has(name)) throw new BerthError('STATE_CORRUPT', `snapshot \`${parent}\`: its parent chain loops at \`${name}\``);
      seen.add(name);
      const m = await this.records.read(name);
      if (!m) throw new BerthError('STATE_CORRUPT', `snapshot \`${parent}\`: ancestor \`${name}\` is missing`);
      dirs.push(this.records.fsDir(m.id));
      name = m.parent;
    }
    return dirs;
  }

  protected override async mountsOf(m: SnapshotRecord): Promise<Mount[]> {
    const lowers = m.parent === undefined ? [] : await this.#lowerDirs(m.parent);
    const fs = this.records.fsDir(m.id);
    let mount: Mount;
    if (m.kind === 'active') {
      mount =
        lowers.length === 0
          ? { type: 'bind', source: fs, options: ['rbind', 'rw'] }
          : { type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, `upperdir=${fs}`, `workdir=${this.#workDir(m.id)}`] };
    } else if (m.kind === 'view') {
      if (lowers.length === 0) mount = { type: 'bind', source: fs, options: ['rbind', 'ro'] };
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

  /** The work dir is overlayfs scratch space (work/work is left mode 000 by the kernel); a lower dir needs none. */
  protected override async sealTree(record: SnapshotRecord): Promise<void> {
    await rm(this.#workDir(record.id), { recursive: true, force: true });
  }

  protected override async importTree(layerDir: string, target: string): Promise<void> {
    try {
      await rename(layerDir, target);
    } catch (err) {
      if (!isErrno(err, 'EXDEV')) throw err;
      // Another filesystem: copy preserving owners, modes, links, xattrs (the whiteouts' trusted.overlay.*).
      await execFileP('cp', ['-a', '--reflink=auto', layerDir, target]);
      await rm(layerDir, { recursive: true, force: true });
    }
  }
}
