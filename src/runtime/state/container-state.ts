/**
 * What berth-runtime records about one container in `<root>/<id>/state.json`,
 * and how the OCI status is derived from it and from the live system.
 */
import type { Spec } from '../../oci/runtime-spec.js';

export type ContainerStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

export interface ContainerState {
  /** Version of this file's layout. */
  version: 1;
  id: string;
  /** Absolute path of the bundle. */
  bundle: string;
  /** Absolute path of the rootfs on the host. */
  rootfs: string;
  /** Host pid of the container's init process; 0 before it exists. */
  pid: number;
  /** Start time of that pid in clock ticks (field 22 of /proc/PID/stat): guards against pid reuse. */
  pidStartTime: number;
  /** RFC 3339 creation time. */
  created: string;
  /** The validated config.json, with resources updated by `update`. */
  spec: Spec;
  /** Absolute cgroup path, as the cgroup manager resolved it. */
  cgroupPath: string;
  /** controller → host directory of the container's cgroup. */
  cgroupPaths: Record<string, string>;
  cgroupVersion: 1 | 2;
  /** The uid of whoever created it, for `list`. */
  owner: string;
  annotations: Record<string, string>;
}

/** The OCI state document (runtime-spec runtime.md "State"). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
