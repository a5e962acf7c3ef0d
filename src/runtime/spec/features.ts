/**
 * The runtime-spec features document (features.md, features-linux.md) that
 * `berth-runtime features` prints, shaped like `runc features`. It lists
 * what berth carries out, not merely what it parses: values berth
 * recognizes but rejects as CONFIG_UNSUPPORTED (tmpcopyup, rro, idmap,
 * SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV ...) are left out, so a manager reading this
 * document does not ask for them.
 */
import { HOOK_NAMES, NAMESPACE_TYPES, RUNTIME_SPEC_VERSION, RUNTIME_SPEC_VERSION_MIN, type Features } from '../../oci/runtime-spec.js';
import { CAPABILITY_NAMES } from './capabilities.js';
import { knownMountOptions } from './mount-options.js';
import {
  SECCOMP_ACTIONS,
  SECCOMP_ARCHES,
  SECCOMP_FLAGS,
  SECCOMP_FLAGS_UNSUPPORTED,
  SECCOMP_OPERATORS,
} from './seccomp.js';

export interface FeaturesOptions {
  /** The cgroup drivers built in; default cgroupfs v1 and v2, no systemd, no rdma. */
  cgroup?: { v1?: boolean; v2?: boolean; systemd?: boolean; systemdUser?: boolean; rdma?: boolean };
  /** Extra annotations, e.g. the berth version and the libseccomp version of the executor. */
  annotations?: Record<string, string>;
}

/** The features document. */
export function features(options: FeaturesOptions = {}): Features {
  const sorted = (names: Iterable<string>): string[] => [...names].sort();
  const doc: Features = {
    ociVersionMin: RUNTIME_SPEC_VERSION_MIN,
    ociVersionMax: RUNTIME_SPEC_VERSION,
    hooks: [...HOOK_NAMES],
    mountOptions: knownMountOptions(),
    linux: {
      namespaces: [...NAMESPACE_TYPES],
      capabilities: [...CAPABILITY_NAMES],
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false, rdma: false, ...options.cgroup },
      seccomp: {
        enabled: true,
        actions: sorted(Object.keys(SECCOMP_ACTIONS)),
        operators: sorted(Object.keys(SECCOMP_OPERATORS)),
        archs: sorted(Object.keys(SECCOMP_ARCHES)),
        knownFlags: sorted(Object.keys(SECCOMP_FLAGS)),
        supportedFlags: sorted(Object.keys(SECCOMP_FLAGS).filter((f) => !SECCOMP_FLAGS_UNSUPPORTED.includes(f))),
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
      intelRdt: { enabled: false, schemata: false },
      mountExtensions: { idmap: { enabled: false } },
      netDevices: { enabled: false },
    },
  };
  if (options.annotations) doc.annotations = { ...options.annotations };
  return doc;
}
