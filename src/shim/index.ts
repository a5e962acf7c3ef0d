/**
 * The TypeScript side of the berth-shim contract (docs/protocol-shim.md):
 * launching a shim, its exit files, attaching, control commands.
 */
export { AttachStream, attachShim } from './attach-stream.js';
export { closeIO, reopenLog, resizePty, sendControl, type ControlOptions } from './control.js';
export { findExitStatus, parseExitStatus, type ExitStatus } from './exit-file.js';
export { ExitWatcher, watchExitDir, type ExitEvent, type ExitWatcherOptions } from './exit-watcher.js';
export { FrameDecoder, type Frame } from './frame-decoder.js';
export { launchShim, type LaunchedShim, type LaunchShimOptions } from './launch-shim.js';
export { shimArgs, type CreateShimOptions, type ExecShimOptions, type ShimOptions } from './shim-options.js';
export { shimPath } from './shim-path.js';
export { waitForExitFile } from './wait-exit-file.js';
