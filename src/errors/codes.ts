/**
 * The table of every error code berth can raise, with its kind. Kinds map to
 * an exit code or an HTTP status only at the edges (`exitCodeForKind`).
 * docs/errors.md lists the same table; a test keeps them in step.
 */
export type ErrorKind =
  | 'not-found'
  | 'already-exists'
  | 'invalid-argument'
  | 'failed-precondition'
  | 'conflict'
  | 'unavailable'
  | 'permission-denied'
  | 'not-implemented'
  | 'canceled'
  | 'deadline-exceeded'
  | 'internal';

export const ERROR_CODES = {
  // config.json and command-line input
  CONFIG_INVALID: { kind: 'invalid-argument', summary: 'config.json is malformed or a field has a wrong value' },
  CONFIG_UNSUPPORTED: { kind: 'not-implemented', summary: 'config.json asks for something this runtime cannot honour' },
  BUNDLE_INVALID: { kind: 'invalid-argument', summary: 'the bundle directory or its rootfs is missing or unusable' },
  ARGUMENT_INVALID: { kind: 'invalid-argument', summary: 'a command-line argument is missing or wrong' },
  ID_INVALID: { kind: 'invalid-argument', summary: 'a container id has characters that are not allowed' },
  // container lifecycle
  CONTAINER_NOT_FOUND: { kind: 'not-found', summary: 'no container with this id exists under the runtime root' },
  CONTAINER_EXISTS: { kind: 'already-exists', summary: 'a container with this id already exists' },
  CONTAINER_STATE: { kind: 'failed-precondition', summary: 'the container is not in a state that allows the operation' },
  CONTAINER_LOCKED: { kind: 'conflict', summary: 'another operation holds the container lock' },
  // the executor and the kernel
  EXECUTOR_FAILED: { kind: 'internal', summary: 'berth-init reported an error while setting up the container' },
  EXECUTOR_PROTOCOL: { kind: 'internal', summary: 'berth-init and berth-runtime disagree on the plan or sync protocol' },
  EXECUTOR_MISSING: { kind: 'unavailable', summary: 'the berth-init executable was not found; run the build' },
  CGROUP_FAILED: { kind: 'internal', summary: 'a cgroup could not be created, configured or removed' },
  CGROUP_UNSUPPORTED: { kind: 'not-implemented', summary: 'the cgroup layout or controller is not available on this host' },
  HOOK_FAILED: { kind: 'internal', summary: 'a lifecycle hook exited non-zero or timed out' },
  SIGNAL_INVALID: { kind: 'invalid-argument', summary: 'a signal name or number is not known' },
  STATE_CORRUPT: { kind: 'internal', summary: 'a state file could not be read' },
  // images: references, content, layers
  REFERENCE_INVALID: { kind: 'invalid-argument', summary: 'an image reference does not parse' },
  DIGEST_INVALID: { kind: 'invalid-argument', summary: 'a digest is malformed or uses an unsupported algorithm' },
  CONTENT_NOT_FOUND: { kind: 'not-found', summary: 'no blob with this digest is in the content store' },
  CONTENT_SIZE_MISMATCH: { kind: 'invalid-argument', summary: 'a blob is not the size its descriptor says; nothing was committed' },
  CONTENT_DIGEST_MISMATCH: { kind: 'invalid-argument', summary: 'a blob does not hash to its digest; nothing was committed' },
  LAYER_INVALID: { kind: 'invalid-argument', summary: 'a layer is not a readable tar stream in a supported compression' },
  LAYER_UNSAFE: { kind: 'invalid-argument', summary: 'a layer entry would write, link or change something outside the target directory' },
  LAYER_UNSUPPORTED: { kind: 'not-implemented', summary: 'a layer entry needs something this host or build cannot do' },
  MANIFEST_INVALID: { kind: 'invalid-argument', summary: 'a manifest, index or image config is not valid for its media type' },
  MANIFEST_UNSUPPORTED: { kind: 'not-implemented', summary: 'a manifest or layer has a media type berth does not handle (Docker schema 1, unknown types)' },
  MANIFEST_NOT_FOUND: { kind: 'not-found', summary: 'the registry has no manifest for this reference' },
  PLATFORM_INVALID: { kind: 'invalid-argument', summary: 'a platform string is not os[/architecture[/variant]]' },
  PLATFORM_NOT_FOUND: { kind: 'not-found', summary: 'an image index has no manifest for the requested platform' },
  BLOB_NOT_FOUND: { kind: 'not-found', summary: 'the registry has no blob with this digest in the repository' },
  ARCHIVE_INVALID: { kind: 'invalid-argument', summary: 'an image archive or layout is malformed, unsafe or incomplete; nothing from it was committed' },
  // snapshots
  SNAPSHOT_NOT_FOUND: { kind: 'not-found', summary: 'no snapshot with this key or name exists' },
  SNAPSHOT_EXISTS: { kind: 'already-exists', summary: 'a snapshot with this key or name already exists' },
  SNAPSHOT_STATE: { kind: 'failed-precondition', summary: 'the snapshot is of the wrong kind for the operation, or another snapshot still uses it as its parent' },
  // the image store and leases
  IMAGE_NOT_FOUND: { kind: 'not-found', summary: 'no image with this name is in the image store' },
  IMAGE_EXISTS: { kind: 'already-exists', summary: 'an image with this name is already in the image store' },
  IMAGE_INVALID: { kind: 'invalid-argument', summary: 'an image record has a bad target descriptor or labels' },
  LEASE_NOT_FOUND: { kind: 'not-found', summary: 'no lease with this id exists (it expired, or was deleted)' },
  LEASE_EXISTS: { kind: 'already-exists', summary: 'a lease with this id already exists' },
  LEASE_INVALID: { kind: 'invalid-argument', summary: 'a lease id, expiry or resource is malformed' },
  METADATA_UNSUPPORTED: { kind: 'failed-precondition', summary: 'the metadata database has a schema version this berth does not know (written by a newer berth)' },
  METADATA_BUSY: { kind: 'unavailable', summary: "another process held the metadata database's write lock past the busy timeout; stop the other process using this root (one berthd per root) or try again" },
  // bundles from images
  IMAGE_CONFIG_INVALID: { kind: 'invalid-argument', summary: 'an image config (with its overrides) cannot make a container process: no command, a malformed User, Env entry or WorkingDir' },
  USER_NOT_FOUND: { kind: 'not-found', summary: "a user or group named by the image config or an override is not in the image's /etc/passwd or /etc/group" },
  ROOTFS_UNSAFE: { kind: 'invalid-argument', summary: "a path read or created in an image's rootfs is a symlink that leaves the rootfs or loops, or is not the kind of file expected" },
  MOUNT_FAILED: { kind: 'internal', summary: "a rootfs mount or unmount failed; the message is mount's own" },
  // registries
  REGISTRY_UNAVAILABLE: { kind: 'unavailable', summary: 'the registry could not be reached, or kept failing after retries' },
  REGISTRY_UNAUTHORIZED: { kind: 'permission-denied', summary: 'the registry refused the credentials, or the token for the scope' },
  REGISTRY_PROTOCOL: { kind: 'internal', summary: 'the registry answered something the distribution spec does not allow' },
  REGISTRY_INSECURE: { kind: 'failed-precondition', summary: 'plain HTTP was needed for a registry not marked insecure' },
  // the shim (berth-shim) and the runtime it runs
  SHIM_MISSING: { kind: 'unavailable', summary: 'the berth-shim executable was not found; run the build' },
  SHIM_FAILED: { kind: 'internal', summary: 'berth-shim could not set up or carry out its work (files, sockets, pipes, the exit file)' },
  SHIM_PROTOCOL: { kind: 'internal', summary: 'berth-shim sent no message or one that could not be understood' },
  SHIM_UNAVAILABLE: { kind: 'unavailable', summary: 'the shim of a container is not running or does not answer on its socket' },
  RUNTIME_FAILED: { kind: 'internal', summary: "the OCI runtime's create or exec failed; the message is the runtime's own" },
  DEADLINE_EXCEEDED: { kind: 'deadline-exceeded', summary: 'an operation did not finish within the time it was given' },
  PERMISSION_DENIED: { kind: 'permission-denied', summary: 'the operation needs privileges the caller does not have' },
  NOT_IMPLEMENTED: { kind: 'not-implemented', summary: 'the feature is not implemented yet' },
  INTERNAL: { kind: 'internal', summary: 'an unexpected internal error' },
} as const satisfies Record<string, { kind: ErrorKind; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Process exit code for an error kind, used by the command-line fronts. */
export function exitCodeForKind(_kind: ErrorKind): number {
  // runc exits 1 for every failure; managers depend on that, so we do too.
  return 1;
}
