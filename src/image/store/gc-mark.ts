/**
 * The mark phase of garbage collection: everything that something still
 * references. The roots are:
 *
 *   - every image record: its target, and when that is in the store, the
 *     walk below it: an index's manifests (those in the store; a pull keeps
 *     only its platform's), each manifest's config and layers, and for a
 *     manifest whose image config is in the store, the committed snapshots
 *     named by the chain IDs of its `rootfs.diff_ids`, with their parents;
 *   - every resource of a lease that has not expired;
 *   - every active or view snapshot (a container's rootfs), with its
 *     parent chain.
 *
 * Image records and leases are read in one synchronous step, so a pull that
 * writes its image record and then deletes its lease is seen either before
 * (its lease marks everything) or after (its image does). What changes after
 * that step is the sweep's business (gc.ts).
 *
 * A manifest or config that cannot be read or parsed stops the mark with an
 * error naming the image: its layers cannot be told from garbage.
 */
import { BerthError, isBerthError } from '../../errors/index.js';
import type { ContentStore } from '../content/index.js';
import { MEDIA_TYPE, isIndexMediaType, isManifestMediaType } from '../manifest/media-types.js';
import { parseImageConfig, parseManifest } from '../manifest/parse-manifest.js';
import { chainIds } from '../snapshot/chain-id.js';
import type { SnapshotInfo, Snapshotter } from '../snapshot/index.js';
import type { ImageStore } from './image-store.js';
import type { LeaseManager } from './lease-manager.js';

export interface MarkSources {
  images: ImageStore;
  leases: LeaseManager;
  content: Pick<ContentStore, 'findInfo' | 'readBlob'>;
  snapshotter: Pick<Snapshotter, 'list'>;
}

export interface MarkedResources {
  /** Digests of referenced blobs (some may be absent from the store). */
  content: Set<string>;
  /** Keys and names of referenced snapshots. */
  snapshots: Set<string>;
  /** Ingest refs held by leases. */
  ingests: Set<string>;
  /** `images.revision()` when the roots were read. */
  imagesRevision: number;
}

/** Manifests and indexes larger than this are refused, as pulls refuse them. */
const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_CONFIG_BYTES = 8 << 20;
const IMAGE_CONFIG_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.ociConfig, MEDIA_TYPE.dockerConfig];

/** Marks what image records, unexpired leases and containers' snapshots reference, as of `now`. */
export async function markReferenced(sources: MarkSources, now: Date): Promise<MarkedResources> {
  const { images, leases, content, snapshotter } = sources;
  // One synchronous step: see the header.
  const imagesRevision = images.revision();
  const records = images.list();
  const leased = leases.activeResources(now);

  const marked: MarkedResources = { content: new Set(), snapshots: new Set(), ingests: new Set(), imagesRevision };
  const snapshots = new Map<string, SnapshotInfo>((await snapshotter.list()).map((s) => [s.name, s]));
  const markSnapshot = (key: string): void => {
    for (let k: string | undefined = key; k !== undefined && !marked.snapshots.has(k); k = snapshots.get(k)?.parent) {
      marked.snapshots.add(k);
    }
  };

  const walked = new Set<string>();
  const walk = async (desc: { mediaType: string; digest: string }): Promise<void> => {
    marked.content.add(desc.digest);
    if (walked.has(desc.digest)) return;
    walked.add(desc.digest);
    const isIndex = isIndexMediaType(desc.mediaType);
    if (!isIndex && !isManifestMediaType(desc.mediaType)) return;
    if (!(await content.findInfo(desc.digest))) return;
    const parsed = parseManifest(await content.readBlob(desc.digest, { maxBytes: MAX_MANIFEST_BYTES }), { name: desc.digest, mediaType: desc.mediaType });
    if (parsed.kind === 'index') {
      for (const m of parsed.index.manifests) await walk(m);
      return;
    }
    const { config, layers } = parsed.manifest;
    marked.content.add(config.digest);
    for (const layer of layers) marked.content.add(layer.digest);
    if (!IMAGE_CONFIG_MEDIA_TYPES.includes(config.mediaType) || !(await content.findInfo(config.digest))) return;
    const imageConfig = parseImageConfig(await content.readBlob(config.digest, { maxBytes: MAX_CONFIG_BYTES }), {
      name: config.digest,
      layerCount: layers.length,
    });
    for (const id of chainIds(imageConfig.rootfs.diff_ids)) markSnapshot(id);
  };

  for (const image of records) {
    try {
      await walk(image.target);
    } catch (err) {
      if (!isBerthError(err)) throw err;
      throw new BerthError(err.code, `image \`${image.name}\`: ${err.message}; garbage collection stopped before removing anything`, { cause: err });
    }
  }
  for (const r of leased) {
    if (r.type === 'content') marked.content.add(r.digest);
    else if (r.type === 'snapshot') markSnapshot(r.key);
    else marked.ingests.add(r.ref);
  }
  for (const s of snapshots.values()) {
    if (s.kind !== 'committed') markSnapshot(s.name);
  }
  return marked;
}
