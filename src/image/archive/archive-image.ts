/**
 * What import returns and export takes: an image as a plain record (a name
 * as the archive or the caller gives it, and the descriptor of its manifest
 * or index), so this folder does not depend on the image store. Also the
 * limits and the one media type the archive formats need beyond
 * `manifest/media-types.ts`.
 */
import type { LayerCompression } from '../manifest/media-types.js';
import { layerMediaTypeInfo, MEDIA_TYPE } from '../manifest/media-types.js';
import type { Descriptor } from '../manifest/types.js';

export interface ArchiveImage {
  /**
   * Import: the name found in the archive (a `RepoTags` entry, the
   * `io.containerd.image.name` or `org.opencontainers.image.ref.name`
   * annotation), verbatim. Export: a reference such as `busybox:1`.
   */
  name?: string;
  /** The image's manifest or index. */
  descriptor: Descriptor;
}

/** The annotation containerd and Docker 25+ put the full image name in. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** The OCI annotation for a tag (skopeo's `oci:DIR:TAG`) or, for some writers, a full name. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

/** Cap of `index.json`, `manifest.json`, `repositories`, manifests and indexes (the registry client's cap). */
export const MAX_JSON_BYTES = 4 << 20;
/** Cap of an image config (as `pullImage`). */
export const MAX_CONFIG_BYTES = 8 << 20;

/**
 * Docker's uncompressed layer, what `docker save` archives hold and what
 * containerd records for them (`images.MediaTypeDockerSchema2Layer`).
 */
export const DOCKER_LAYER_TAR = MEDIA_TYPE.dockerLayer;

/** A layer media type's compression, or undefined when it is not a layer type berth knows. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return layerMediaTypeInfo(mediaType)?.compression;
}

/** True for image config media types (OCI and Docker), whose layers must be known layer types. */
export function isImageConfigMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPE.ociConfig || mediaType === MEDIA_TYPE.dockerConfig;
}
