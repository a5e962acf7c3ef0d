import type { ContentStore } from '../content/index.js';
import type { LayerImporter } from '../snapshot/index.js';
import type { GarbageCollector } from './gc.js';
import type { ImageStore } from './image-store.js';
import type { LeaseManager } from './lease-manager.js';

/**
 * The pieces of image management over one root, wired by the composition
 * root (berthd, or a test over a temp dir) and passed to
 * `pullAndStoreImage` and `deleteImage`. `collector` must be built over the
 * same images, leases, content store, snapshotter and layers root.
 */
export interface ImageServices {
  images: ImageStore;
  leases: LeaseManager;
  content: ContentStore;
  snapshotter: LayerImporter;
  collector: GarbageCollector;
  /** Where pulls unpack layers before they become snapshots (`pullAndUnpack`'s `layersRoot`); each pull has directories of its own there. */
  layersRoot: string;
}
