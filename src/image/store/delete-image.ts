import type { GcReport } from './gc.js';
import type { ImageRecord } from './image-store.js';
import type { ImageServices } from './image-services.js';

export interface DeleteImageOptions {
  /** Collect garbage right after, so the image's unshared blobs and snapshots go now. Default false. */
  gc?: boolean;
}

export interface DeletedImage {
  /** The record as it was. */
  image: ImageRecord;
  /** The collection's report, when `gc` was asked. */
  gc?: GcReport;
}

/**
 * Deletes an image record (`IMAGE_NOT_FOUND` when there is none) and,
 * with `gc`, collects what nothing references any more. Blobs and
 * snapshots other images share stay.
 *
 *   const { gc } = await deleteImage(services, 'busybox', { gc: true });
 */
export async function deleteImage(services: Pick<ImageServices, 'images' | 'collector'>, name: string, options: DeleteImageOptions = {}): Promise<DeletedImage> {
  const image = services.images.delete(name);
  if (!options.gc) return { image };
  return { image, gc: await services.collector.collect() };
}
