/**
 * An OCI bundle made from an image: `<dir>/config.json` from the image
 * config (`image-spec.ts`) and `<dir>/rootfs` with the container's
 * snapshot mounted on it.
 *
 *   const mounts = await snapshotter.prepare('ctr-1', chainId);
 *   const bundle = await createBundle('/run/berth/bundles/ctr-1', { config, mounts, image: 'busybox', hostname: 'ctr-1' });
 *   // runc run -b bundle.dir ctr-1
 *   await bundle.remove();              // unmount, delete the directory
 *   await snapshotter.remove('ctr-1');
 *
 * Order in `createBundle`, and why:
 *  1. make `<dir>` (it must not exist) and `<dir>/rootfs`;
 *  2. mount the snapshot: users and the working directory are looked up in
 *     the merged tree, as the container will see it, not in one layer;
 *  3. resolve the user through the image's /etc/passwd and /etc/group and
 *     make the working directory if missing (Docker does; it lands in the
 *     snapshot's upper directory), both inside the rootfs only;
 *  4. write config.json last, atomically: a bundle with a config is
 *     complete.
 * Any failure unmounts and removes everything this call made.
 */
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { BerthError, isErrno } from '../../errors/index.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { atomicWriteFile } from '../../util/atomic-write.js';
import type { ImageConfig } from '../manifest/types.js';
import type { Mount } from '../snapshot/snapshotter.js';
import { mkdirAllInRoot } from './in-root.js';
import { resolveImageUser } from './image-user.js';
import { imageSpec, processArgs, processEnv, userSpec, workingDir, type ImageSpecOptions } from './image-spec.js';
import { mountAll, unmountAll } from './mount-rootfs.js';

export interface CreateBundleOptions extends ImageSpecOptions {
  /** The image config (`pullAndUnpack(...).config`). */
  config: ImageConfig;
  /** The container snapshot's mount descriptions (`Snapshotter.prepare` or `mounts`). */
  mounts: Mount[];
}

export interface ImageBundle extends AsyncDisposable {
  /** The bundle directory (absolute). */
  readonly dir: string;
  /** `<dir>/rootfs`, the snapshot mounted. */
  readonly rootfs: string;
  /** `<dir>/config.json`. */
  readonly configPath: string;
  /** What config.json holds. */
  readonly spec: Spec;
  /** Unmounts the rootfs and deletes the directory (`removeBundle`); idempotent. */
  remove(): Promise<void>;
}

/**
 * Makes the bundle `dir` for a container of the image `options.config` on
 * the snapshot `options.mounts`. See the module comment for the order.
 * Errors: BUNDLE_INVALID (dir exists), MOUNT_FAILED, USER_NOT_FOUND,
 * ROOTFS_UNSAFE, IMAGE_CONFIG_INVALID, ARGUMENT_INVALID; nothing is left
 * behind by a failure.
 */
export async function createBundle(dir: string, options: CreateBundleOptions): Promise<ImageBundle> {
  const abs = resolve(dir);
  const rootfs = join(abs, 'rootfs');
  const configPath = join(abs, 'config.json');
  if (typeof options.config !== 'object' || options.config === null) {
    throw new BerthError('ARGUMENT_INVALID', `bundle ${abs}: no image config given (pass what pullAndUnpack returned as \`config\`)`);
  }
  if (!Array.isArray(options.mounts) || options.mounts.length === 0) {
    throw new BerthError('ARGUMENT_INVALID', `bundle ${abs}: no mounts given for the rootfs (pass what Snapshotter.prepare returned)`);
  }
  // Checked before anything is made, so bad input leaves nothing behind.
  const user = userSpec(options.config, options);
  const cwd = workingDir(options.config, options);
  processArgs(options.config, options);
  processEnv(options.config, options);
  try {
    await mkdir(abs, { mode: 0o711 });
  } catch (err) {
    if (isErrno(err, 'EEXIST')) throw new BerthError('BUNDLE_INVALID', `bundle directory ${abs} already exists; remove it first`, { cause: err });
    if (isErrno(err, 'ENOENT')) throw new BerthError('BUNDLE_INVALID', `the parent of bundle directory ${abs} does not exist`, { cause: err });
    throw err;
  }
  try {
    await mkdir(rootfs, { mode: 0o755 });
    await mountAll(options.mounts, rootfs);
    const resolved = resolveImageUser(rootfs, user, { groupAdd: options.groupAdd ?? [], ...(options.image ? { image: options.image } : {}) });
    mkdirAllInRoot(rootfs, cwd, { what: 'working directory' });
    const spec = imageSpec(options.config, resolved, options);
    await atomicWriteFile(configPath, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600 });
    let removed: Promise<void> | undefined;
    const remove = (): Promise<void> => (removed ??= removeBundle(abs));
    return { dir: abs, rootfs, configPath, spec, remove, [Symbol.asyncDispose]: remove };
  } catch (err) {
    await removeBundle(abs).catch(() => {});
    throw err;
  }
}

/**
 * Unmounts everything at or under `<dir>/rootfs` and deletes the bundle
 * directory. Works on a bundle left by a crash too; a missing directory is
 * not an error. If something cannot be unmounted, nothing is deleted
 * (MOUNT_FAILED): deleting through a mount would empty the snapshot.
 */
export async function removeBundle(dir: string): Promise<void> {
  const abs = resolve(dir);
  const rootfs = join(abs, 'rootfs');
  await unmountAll(rootfs);
  // rootfs is an empty mount point now; rmdir (not rm -r) proves it.
  await rmdir(rootfs).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
  await rm(abs, { recursive: true, force: true });
}
