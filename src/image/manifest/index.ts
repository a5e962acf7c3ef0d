export {
  ACCEPT_MANIFESTS,
  INDEX_MEDIA_TYPES,
  MANIFEST_MEDIA_TYPES,
  MEDIA_TYPE,
  isIndexMediaType,
  isManifestMediaType,
  layerMediaTypeInfo,
  type LayerCompression,
  type LayerMediaTypeInfo,
} from './media-types.js';
export { checkDescriptor, checkPlatform, parseImageConfig, parseManifest, type ParseManifestOptions } from './parse-manifest.js';
export { defaultPlatform, formatPlatform, normalizePlatform, parsePlatform, platformMatches, platformRank, selectManifest } from './platform.js';
export type { Descriptor, ImageConfig, ImageIndex, ImageManifest, ParsedManifest, Platform } from './types.js';
