export type { LayerImporter, Mount, SnapshotInfo, SnapshotKind, SnapshotOptions, Snapshotter, SnapshotUsage } from './snapshotter.js';
export { OverlaySnapshotter, type OverlaySnapshotterOptions } from './overlay-snapshotter.js';
export { CopySnapshotter, type CopySnapshotterOptions } from './copy-snapshotter.js';
export { probeOverlay, selectSnapshotter, type OverlayProbe, type SelectedSnapshotter, type SelectSnapshotterOptions, type SnapshotterDriver } from './select-snapshotter.js';
export { chainId, chainIds } from './chain-id.js';
export { snapshotsFromLayers, type LayerDir, type LayerSnapshot } from './snapshots-from-layers.js';
export { directoryUsage } from './usage.js';
