/**
 * Pulls an image into the image store: content, snapshots and the image
 * record, each step safe against a garbage collection running meanwhile.
 *
 *   const { image, chainId } = await pullAndStoreImage({ ...services, registry }, 'busybox');
 *   const mounts = await services.snapshotter.prepare('ctr-1', chainId);
 *
 *   1. create a lease, expiring after `leaseExpiryMs` (default 24 h) so a
 *      pull that crashed pins nothing for ever;
 *   2. `pullAndUnpack` with the lease and the snapshotter: every manifest,
 *      index, config and layer blob, and every layer's chain ID, is added to
 *      the lease before the pull looks for it; a layer whose chain is a
 *      committed snapshot already is neither fetched nor unpacked; the
 *      others are unpacked into directories of this pull's own;
 *   3. register the unpacked layers as snapshots with the collector's lock
 *      held shared (the chains are leased: see gc.ts). A chain another pull
 *      registered meanwhile is used as it is, and this pull's directory for
 *      it deleted;
 *   4. write the image record: the name (normalized) to the descriptor the
 *      reference resolved to, an index or a manifest;
 *   5. delete the lease; from here the image record keeps it all. On a
 *      failure the lease is deleted too, and what the pull left is garbage
 *      for the next collection; no unpack directory outlives the call.
 *
 * Any number of these may run at once over one root, sharing layers.
 */
import { rm } from 'node:fs/promises';

import { pullAndUnpack, type PullUnpackOptions, type PullUnpackResult } from '../distribution/pull-and-unpack.js';
import type { RegistryClient } from '../distribution/registry-client.js';
import { formatReference, parseDockerReference } from '../reference/index.js';
import { snapshotsFromLayers, type LayerSnapshot } from '../snapshot/snapshots-from-layers.js';
import type { ImageRecord } from './image-store.js';
import type { ImageServices } from './image-services.js';

export interface PullAndStoreOptions extends Omit<PullUnpackOptions, 'lease' | 'snapshotter'> {
  /** Labels of the image record; when absent, an existing record keeps its labels. */
  labels?: Record<string, string>;
  /** Expiry of the pull's lease. Default 24 hours. */
  leaseExpiryMs?: number;
}

export interface StoredImage {
  image: ImageRecord;
  pull: PullUnpackResult;
  /** One per layer, lowest first. */
  snapshots: LayerSnapshot[];
  /** The top layer's chain ID, the parent of a container's rootfs; undefined for an image without layers. */
  chainId: string | undefined;
}

const DEFAULT_LEASE_EXPIRY_MS = 24 * 60 * 60_000;

export async function pullAndStoreImage(services: ImageServices & { registry: RegistryClient }, input: string, options: PullAndStoreOptions = {}): Promise<StoredImage> {
  const { images, leases, content, snapshotter, collector, layersRoot, registry } = services;
  const { labels, leaseExpiryMs, ...pullOptions } = options;
  const name = formatReference(parseDockerReference(input));
  const lease = leases.create({ expiresInMs: leaseExpiryMs ?? DEFAULT_LEASE_EXPIRY_MS, labels: { 'berth.io/pull': name } });
  try {
    const pull = await pullAndUnpack(registry, content, input, layersRoot, { ...pullOptions, lease, snapshotter });
    let snapshots: LayerSnapshot[];
    try {
      // pullAndUnpack leased them already; registering relies on it, so say it here too (idempotent).
      for (const l of pull.layers) lease.add({ type: 'snapshot', key: l.chainId });
      snapshots = await collector.lock.shared(() => snapshotsFromLayers(snapshotter, pull.layers));
    } catch (err) {
      await Promise.all(pull.layers.map((l) => (l.dir === undefined ? undefined : rm(l.dir, { recursive: true, force: true }))));
      throw err;
    }
    const { mediaType, digest, size } = pull.descriptor;
    const image = images.upsert({ name, target: { mediaType, digest, size }, ...(labels === undefined ? {} : { labels }) });
    return { image, pull, snapshots, chainId: pull.layers.at(-1)?.chainId };
  } finally {
    lease.delete();
  }
}
