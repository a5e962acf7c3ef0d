/**
 * Media types of the OCI image spec and of Docker's image manifest v2
 * schema 2, the two formats registries serve today. Docker schema 1 is not
 * supported (deprecated since 2017, signed JSON that nothing should pull).
 */
export const MEDIA_TYPE = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  /** Uncompressed: what `docker save` archives hold, and what containerd records for them. */
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** Manifest media types (single-platform images). */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.ociManifest, MEDIA_TYPE.dockerManifest];

/** Index media types (one manifest per platform). */
export const INDEX_MEDIA_TYPES: readonly string[] = [MEDIA_TYPE.ociIndex, MEDIA_TYPE.dockerManifestList];

/** What a client sends in `Accept` when it resolves a reference: all four, the ones it prefers first. */
export const ACCEPT_MANIFESTS: readonly string[] = [
  MEDIA_TYPE.ociIndex,
  MEDIA_TYPE.dockerManifestList,
  MEDIA_TYPE.ociManifest,
  MEDIA_TYPE.dockerManifest,
];

export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && MANIFEST_MEDIA_TYPES.includes(mediaType);
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_MEDIA_TYPES.includes(mediaType);
}

export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface LayerMediaTypeInfo {
  compression: LayerCompression;
  /**
   * Foreign (Docker) and non-distributable (OCI) layers: the spec says a
   * client should fetch them from their `urls` and must not push them.
   */
  nondistributable: boolean;
}

const LAYERS: Record<string, LayerMediaTypeInfo> = {
  [MEDIA_TYPE.ociLayer]: { compression: 'none', nondistributable: false },
  [MEDIA_TYPE.ociLayerGzip]: { compression: 'gzip', nondistributable: false },
  [MEDIA_TYPE.ociLayerZstd]: { compression: 'zstd', nondistributable: false },
  [MEDIA_TYPE.ociLayerNondistributable]: { compression: 'none', nondistributable: true },
  [MEDIA_TYPE.ociLayerNondistributableGzip]: { compression: 'gzip', nondistributable: true },
  [MEDIA_TYPE.ociLayerNondistributableZstd]: { compression: 'zstd', nondistributable: true },
  [MEDIA_TYPE.dockerLayer]: { compression: 'none', nondistributable: false },
  [MEDIA_TYPE.dockerLayerGzip]: { compression: 'gzip', nondistributable: false },
  [MEDIA_TYPE.dockerLayerForeignGzip]: { compression: 'gzip', nondistributable: true },
};

/** What a layer media type says, or undefined when berth does not know it as a layer. */
export function layerMediaTypeInfo(mediaType: string): LayerMediaTypeInfo | undefined {
  return LAYERS[mediaType];
}
