export { applyLayer, type ApplyLayerOptions, type ApplyLayerResult } from './apply-layer.js';
export { detectCompression, type Compression } from './decompress.js';
export { cleanEntryPath, resolveParentInRoot } from './safe-path.js';
