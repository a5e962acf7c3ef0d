import { rm } from 'node:fs/promises';

import { BerthError, isBerthError } from '../../errors/index.js';
import { chainIds } from './chain-id.js';
import type { LayerImporter } from './snapshotter.js';

export interface LayerDir {
  /**
   * The layer unpacked in overlayfs form (a directory `pullAndUnpack`
   * made for this caller alone). Absent when the chain is known to be
   * registered already (`pullAndUnpack`'s `inSnapshot`).
   */
  dir?: string | undefined;
  diffId: string;
}

export interface LayerSnapshot {
  chainId: string;
  /** True when this call registered it; false when the chain was there already. */
  imported: boolean;
}

/**
 * Registers unpacked layers, lowest first, as committed snapshots named by
 * chain ID, each on the one below, without copying: every `dir` is moved
 * into the snapshotter's root. This takes ownership of the directories,
 * so each must be the caller's alone (as `pullAndUnpack`'s are): when a
 * chain is registered already (another image shares those layers, or
 * another pull registered it meanwhile), its `dir` is deleted, so a layer
 * stack is kept once; when this fails, every directory not yet taken is
 * deleted too. Returns one entry per layer; the last chain ID is the parent
 * to `prepare` a container on.
 *
 *   const { layers } = await pullAndUnpack(client, store, 'busybox', layersRoot, { snapshotter: sn });
 *   const snaps = await snapshotsFromLayers(sn, layers);
 *   const mounts = await sn.prepare('ctr-1', snaps.at(-1)!.chainId);
 *
 * A layer without `dir` whose chain is not registered fails with
 * `SNAPSHOT_NOT_FOUND` (it was removed since the pull looked; pull again).
 */
export async function snapshotsFromLayers(snapshotter: LayerImporter, layers: readonly LayerDir[]): Promise<LayerSnapshot[]> {
  const ids = chainIds(layers.map((l) => l.diffId));
  const out: LayerSnapshot[] = [];
  try {
    for (const [i, layer] of layers.entries()) {
      const name = ids[i]!;
      let imported = false;
      if (!(await snapshotter.find(name))) {
        if (layer.dir === undefined) {
          throw new BerthError('SNAPSHOT_NOT_FOUND', `layer ${layer.diffId}: snapshot \`${name}\` is gone and the layer was not unpacked; pull the image again`);
        }
        try {
          await snapshotter.importDirectory(name, ids[i - 1], layer.dir, { labels: { 'berth.io/diff-id': layer.diffId } });
          imported = true;
        } catch (err) {
          // Another caller registered the same chain meanwhile.
          if (!isBerthError(err, 'SNAPSHOT_EXISTS')) throw err;
        }
      }
      if (!imported && layer.dir !== undefined) await rm(layer.dir, { recursive: true, force: true });
      out.push({ chainId: name, imported });
    }
  } catch (err) {
    await Promise.all(layers.slice(out.length).map((l) => (l.dir === undefined ? undefined : rm(l.dir, { recursive: true, force: true }))));
    throw err;
  }
  return out;
}
