/**
 * The cgroup layer of berth-runtime: one `CgroupManager` interface, a v1
 * (and hybrid) driver and a v2 driver, chosen by `createCgroupManager`.
 */
export type {
  BlkioEntry, CgroupManager, CgroupSelfJoin, CgroupManagerOptions, CgroupStats, FreezerState, MemoryEntry, V2DevicePolicy, WatchOomOptions,
} from './manager.js';
export type * from './resources.js';
export { createCgroupManager, type CreateCgroupManagerOptions } from './create-cgroup-manager.js';
export { detectCgroupVersion, parseCgroupsPath, parseProcCgroup, parseCgroupMounts } from './paths.js';
export { CgroupV1Manager, type CgroupV1ManagerInit } from './v1-manager.js';
export { CgroupV2Manager, type CgroupV2ManagerInit } from './v2-manager.js';
export { DEFAULT_DEVICE_RULES, classifyDeviceRules, normalizeDeviceRule, type DeviceRule } from './devices.js';
export { cpuSharesToWeight, blkioWeightToIoWeight, memorySwapToV2 } from './convert.js';
export { nodeCgroupFs, UNLIMITED, type CgroupFs } from './cgroup-fs.js';
