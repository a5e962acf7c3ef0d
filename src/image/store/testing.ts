/**
 * Test support for the unit tests beside it (not used by berth itself): an
 * image store over a temp dir, and images written straight into its content
 * store and snapshotter without a registry.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { LocalContentStore } from '../content/index.js';
import { MEDIA_TYPE } from '../manifest/media-types.js';
import type { Descriptor } from '../manifest/types.js';
import { chainIds } from '../snapshot/chain-id.js';
import { OverlaySnapshotter } from '../snapshot/overlay-snapshotter.js';
import { GarbageCollector, type GarbageCollectorOptions } from './gc.js';
import { ImageStore } from './image-store.js';
import { LeaseManager } from './lease-manager.js';
import { openMetadataDb, type MetadataDb } from './metadata-db.js';

export interface StoreFixture {
  root: string;
  db: MetadataDb;
  images: ImageStore;
  leases: LeaseManager;
  content: LocalContentStore;
  snapshotter: OverlaySnapshotter;
  collector: GarbageCollector;
  /** The fixture's clock; move it with `clock.now = …`. */
  clock: { now: Date };
  close(): Promise<void>;
}

export async function makeStoreFixture(options: Pick<GarbageCollectorOptions, 'ingestGraceMs'> & { content?: (root: string) => LocalContentStore } = {}): Promise<StoreFixture> {
  const root = await mkdtemp(join(tmpdir(), 'berth-test-store-'));
  const clock = { now: new Date('2026-01-02T03:04:05Z') };
  const now = (): Date => clock.now;
  const db = openMetadataDb(join(root, 'metadata.db'));
  const images = new ImageStore(db, { now });
  const leases = new LeaseManager(db, { now });
  const content = options.content ? options.content(join(root, 'content')) : new LocalContentStore(join(root, 'content'));
  const snapshotter = await new OverlaySnapshotter(join(root, 'snapshots'), { now }).init();
  const gcOptions: GarbageCollectorOptions = { images, leases, content, snapshotter, layersRoot: join(root, 'layers'), now };
  if (options.ingestGraceMs !== undefined) gcOptions.ingestGraceMs = options.ingestGraceMs;
  const collector = new GarbageCollector(gcOptions);
  return {
    root,
    db,
    images,
    leases,
    content,
    snapshotter,
    collector,
    clock,
    async close() {
      db.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

export const sha256 = (data: Uint8Array | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Commits `data` to the content store and returns its descriptor. */
export async function putBlob(content: LocalContentStore, data: Uint8Array | string, mediaType = 'application/octet-stream'): Promise<Descriptor> {
  const bytes = Buffer.from(data);
  const desc = { mediaType, digest: sha256(bytes), size: bytes.length };
  await content.ensure(desc, () =>
    (async function* one() {
      yield bytes;
    })(),
  );
  return desc;
}

export interface FixtureImage {
  manifest: Descriptor;
  config: Descriptor;
  layers: Descriptor[];
  diffIds: string[];
  /** Chain IDs, lowest first; each registered as a committed snapshot. */
  chainIds: string[];
}

/**
 * Writes an image's layers (random bytes standing for gzip blobs), config
 * and manifest to the content store, and registers one committed snapshot
 * per chain ID (a directory holding one file). `layers` are the layers'
 * uncompressed contents (their sha256 is the diffID): pass the same text in
 * two images to share a layer.
 */
export async function putImage(fx: StoreFixture, layers: string[]): Promise<FixtureImage> {
  const layerDescs: Descriptor[] = [];
  for (const text of layers) layerDescs.push(await putBlob(fx.content, Buffer.concat([Buffer.from(text), Buffer.alloc(16)]), MEDIA_TYPE.ociLayerGzip));
  const diffIds = layers.map((t) => sha256(t));
  const config = await putBlob(
    fx.content,
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }),
    MEDIA_TYPE.ociConfig,
  );
  const manifest = await putBlob(
    fx.content,
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE.ociManifest, config, layers: layerDescs }),
    MEDIA_TYPE.ociManifest,
  );
  const ids = chainIds(diffIds);
  for (const [i, id] of ids.entries()) {
    if (await fx.snapshotter.find(id)) continue;
    const dir = join(fx.root, `layer-${randomBytes(4).toString('hex')}`);
    await mkdir(dir);
    await writeFile(join(dir, `file-${i}`), layers[i]!);
    await fx.snapshotter.importDirectory(id, ids[i - 1], dir);
  }
  return { manifest, config, layers: layerDescs, diffIds, chainIds: ids };
}

/** Every blob digest in the store, sorted. */
export async function blobDigests(content: LocalContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const info of content.list()) out.push(info.digest);
  return out.sort();
}
