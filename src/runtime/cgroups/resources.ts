/**
 * The `linux.resources` object of an OCI runtime config: the cgroup drivers
 * take the runtime-spec types from src/oci as they are, under the names
 * this layer has always used. Values are JSON numbers: `-1` means "no
 * limit" where the spec says so, and, as in runc, `0` means "not set" for
 * limits, shares, quota and period.
 */
export type {
  LinuxBlockIO as LinuxBlockIo,
  LinuxCPU as LinuxCpu,
  LinuxDeviceCgroup,
  LinuxHugepageLimit,
  LinuxInterfacePriority,
  LinuxMemory,
  LinuxNetwork,
  LinuxPids,
  LinuxRdma,
  LinuxResources,
  LinuxThrottleDevice,
  LinuxWeightDevice,
} from '../../oci/runtime-spec.js';

