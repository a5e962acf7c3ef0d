import { rm } from 'node:fs/promises';

import { isBerthError } from '../../errors/index.js';
import { chainIds } from './chain-id.js';
import type { LayerImporter } from './snapshotter.js';

export interface LayerDir {
  /** The layer unpacked in overlayfs form (as `pullAndUnpack` leaves it in `<layersRoot>/<diffID hex>`). */
  dir: string;
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
 * into the snapshotter's root. This takes ownership of the directories:
 * when a chain is registered already (another image shares those layers),
 * its `dir` is deleted, so a layer stack is kept once. Returns one entry
 * per layer; the last chain ID is the parent to `prepare` a container on.
 *
 *   const { layers } = await pullAndUnpack(client, store, 'busybox', layersRoot);
 *   const snaps = await snapshotsFromLayers(sn, layers);
 *   const mounts = await sn.prepare('ctr-1', snaps.at(-1)!.chainId);
 */
export async function snapshotsFromLayers(snapshotter: LayerImporter, layers: readonly LayerDir[]): Promise<LayerSnapshot[]> {
  const ids = chainIds(layers.map((l) => l.diffId));
  const out: LayerSnapshot[] = [];
  for (const [i, layer] of layers.entries()) {
    const name = ids[i]!;
    let imported = false;
    if (!(await snapshotter.find(name))) {
      try {
        await snapshotter.importDirectory(name, ids[i - 1], layer.dir, { labels: { 'berth.io/diff-id': layer.diffId } });
        imported = true;
      } catch (err) {
        // Another caller registered the same chain meanwhile.
        if (!isBerthError(err, 'SNAPSHOT_EXISTS')) throw err;
      }
    }
    if (!imported) await rm(layer.dir, { recursive: true, force: true });
    out.push({ chainId: name, imported });
  }
  return out;
}
