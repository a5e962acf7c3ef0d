export { deleteImage, type DeletedImage, type DeleteImageOptions } from './delete-image.js';
export { GarbageCollector, type GarbageCollectorOptions, type GcReport } from './gc.js';
export { GcLock } from './gc-lock.js';
export { markReferenced, type MarkedResources, type MarkSources } from './gc-mark.js';
export type { ImageServices } from './image-services.js';
export {
  ImageStore,
  normalizeImageName,
  type ImageChanges,
  type ImageFilter,
  type ImageRecord,
  type ImageStoreOptions,
  type ImageTarget,
  type NewImage,
} from './image-store.js';
export { LeaseManager, resourceKey, type CreateLeaseOptions, type Lease, type LeaseInfo, type LeaseManagerOptions } from './lease-manager.js';
export { METADATA_SCHEMA_VERSION, openMetadataDb, type MetadataDb, type OpenMetadataDbOptions } from './metadata-db.js';
export { pullAndStoreImage, type PullAndStoreOptions, type StoredImage } from './pull-and-store.js';
