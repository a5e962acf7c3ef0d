/**
 * A lease keeps resources alive across garbage collection while an operation
 * that will reference them is still running (containerd's leases). A pull
 * adds each blob and snapshot to its lease *before* it checks whether the
 * resource exists or starts writing it, so a collection running meanwhile can
 * neither delete a blob the pull has decided to reuse nor one it just wrote
 * but has not yet recorded in an image. The image store implements this; the
 * pull functions only call `add`.
 */
export type LeaseResource =
  | { type: 'content'; digest: string }
  | { type: 'snapshot'; key: string }
  | { type: 'ingest'; ref: string };

export interface ResourceLease {
  readonly id: string;
  /** Records a resource under the lease; synchronous so it happens-before the use it guards. */
  add(resource: LeaseResource): void;
}
