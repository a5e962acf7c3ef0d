/**
 * The image services over one root as berthd's composition root wires them
 * (metadata database, image store, leases, content store, overlay
 * snapshotter, collector, registry client), and a container rootfs mounted
 * on a snapshot chain, for the integration tests of pulls and collection.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

import { LocalContentStore } from '../../src/image/content/index.js';
import { RegistryClient } from '../../src/image/distribution/index.js';
import { OverlaySnapshotter, type Mount, type Snapshotter } from '../../src/image/snapshot/index.js';
import { GarbageCollector, ImageStore, LeaseManager, openMetadataDb, type ImageServices, type MetadataDb } from '../../src/image/store/index.js';

export interface Services extends ImageServices {
  registry: RegistryClient;
  db: MetadataDb;
  close(): Promise<void>;
}

/** Everything over `root`; `clock` moves leases' and ingests' time, `ingestGraceMs` is the collector's. */
export async function openServices(root: string, clock?: { now: Date }, ingestGraceMs?: number): Promise<Services> {
  const now = clock ? () => clock.now : () => new Date();
  const db = openMetadataDb(join(root, 'metadata.db'));
  const images = new ImageStore(db, { now });
  const leases = new LeaseManager(db, { now });
  const content = new LocalContentStore(join(root, 'content'));
  const snapshotter = await new OverlaySnapshotter(join(root, 'snapshots')).init();
  const layersRoot = join(root, 'layers');
  const collector = new GarbageCollector({ images, leases, content, snapshotter, layersRoot, now, ...(ingestGraceMs === undefined ? {} : { ingestGraceMs }) });
  const registry = new RegistryClient({ retry: { attempts: 2, baseDelayMs: 10 } });
  return {
    images,
    leases,
    content,
    snapshotter,
    collector,
    layersRoot,
    registry,
    db,
    async close() {
      await registry.close();
      db.close();
    },
  };
}

/** Prepares a container rootfs on `parent`, mounts it at `target`, runs `fn` on it, then unmounts and removes it. */
export async function withRootfs(snapshotter: Snapshotter, parent: string, target: string, fn: (dir: string) => Promise<void>): Promise<void> {
  const key = `ctr-${randomBytes(4).toString('hex')}`;
  const mounts: Mount[] = await snapshotter.prepare(key, parent);
  try {
    assert.equal(mounts.length, 1);
    const m = mounts[0]!;
    execFileSync('mount', ['-t', m.type, '-o', m.options.join(','), m.source, target]);
    try {
      await fn(target);
    } finally {
      execFileSync('umount', [target]);
    }
  } finally {
    await snapshotter.remove(key);
  }
}
