/**
 * The container process state (runtime-spec runtime.md, "Container process
 * state") that the seccomp listener receives with the notify fd:
 *
 *   {"ociVersion":"1.2.0","fds":["seccompFd"],"pid":4242,"metadata":"...",
 *    "state":{"ociVersion":"1.2.0","id":"web","status":"creating","pid":4242,
 *             "bundle":"/b","annotations":{...}}}
 *
 * berth-init sends it, but only berth-runtime knows the process's host pid
 * (the process may be pid 1 of a new pid namespace), so it travels to the
 * executor as the message of the first CONTINUE, which limits it to
 * SYNC_MAX_MSG bytes. Fields as runc fills them: `pid` is the process's
 * host pid, `state.pid` the container init's (the same for create),
 * `state.status` "creating" for create and "running" for exec, `metadata`
 * left out when listenerMetadata is empty (Go's omitempty).
 */
import { BerthError } from '../../errors/index.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { SYNC_MAX_MSG } from '../plan/attrs.js';
import type { ContainerState, ContainerStatus } from '../state/container-state.js';
import { ociState } from './status.js';

/** The name runtime-spec gives the seccomp notify fd in `fds`. */
export const SECCOMP_FD_NAME = 'seccompFd';

/** A pid no kernel hands out (pid_max is at most 2^22): sizes the message before the real pid is known. */
export const LONGEST_PID = 4194304;

export interface ContainerProcessStateInput {
  id: string;
  bundle: string;
  /** The container's config; its linux.seccomp.listenerMetadata goes into `metadata`. */
  spec: Spec;
  annotations: Record<string, string>;
  /** Host pid of the process the filter is loaded in. */
  pid: number;
  /** Host pid of the container's init (the same as `pid` for create). */
  initPid: number;
  status: Extract<ContainerStatus, 'creating' | 'running'>;
}

/**
 * The JSON for the seccomp listener. Throws CONFIG_UNSUPPORTED naming
 * the field to shorten when it is over SYNC_MAX_MSG bytes.
 */
export function containerProcessState(input: ContainerProcessStateInput): string {
  const oci = ociState(
    { id: input.id, bundle: input.bundle, pid: input.initPid, annotations: input.annotations } as ContainerState,
    input.status,
  );
  // runc's key order (Go's field order), so that the two read the same.
  const { ociVersion, id, status, pid, bundle, annotations } = oci;
  const state = { ociVersion, id, status, pid, bundle, ...(annotations ? { annotations } : {}) };
  const metadata = input.spec.linux?.seccomp?.listenerMetadata;
  const doc = {
    ociVersion: state.ociVersion,
    fds: [SECCOMP_FD_NAME],
    pid: input.pid,
    ...(metadata ? { metadata } : {}),
    state,
  };
  const json = JSON.stringify(doc);
  const size = Buffer.byteLength(json);
  if (size > SYNC_MAX_MSG) {
    const field = metadata && Buffer.byteLength(metadata) > SYNC_MAX_MSG / 2 ? 'linux.seccomp.listenerMetadata' : 'annotations';
    throw new BerthError(
      'CONFIG_UNSUPPORTED',
      `${field}: the container process state for the seccomp listener would be ${size} bytes, over the ${SYNC_MAX_MSG} berth-init takes; ` +
        'use a shorter listenerMetadata or fewer annotations',
      { field },
    );
  }
  return json;
}
