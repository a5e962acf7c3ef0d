/**
 * Reading and creating paths inside an untrusted root filesystem (an
 * image's rootfs) without ever leaving it (DESIGN.md rule 3).
 *
 * Node has no openat(2) or openat2(RESOLVE_IN_ROOT), so each component is
 * looked up through `/proc/self/fd/<dir fd>/<name>`: the kernel follows the
 * magic link to the directory this process holds open, then looks `name` up
 * in it, and `lstat` / `O_NOFOLLOW` keep the final component unfollowed. A
 * component is never looked up by a host path again after its directory
 * was opened, so a symlink swapped into an already-walked parent cannot
 * redirect the walk.
 *
 * Symlinks met on the way are resolved as the container will see them:
 * an absolute target restarts at the root. A target whose `..` would climb
 * above the root is refused rather than clamped: an image has no use for
 * one, and a link such as `/etc/passwd -> ../../../../etc/passwd` is an
 * attempt to make the host read its own files.
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { posix } from 'node:path';

import { BerthError, isErrno } from '../../errors/index.js';

/** Most symlinks followed while resolving one path (Linux's MAXSYMLINKS is 40). */
const MAX_SYMLINKS = 40;

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

function at(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

function unsafe(what: string, path: string, why: string): BerthError {
  return new BerthError('ROOTFS_UNSAFE', `${what} \`${path}\` in the image's rootfs ${why}`);
}

/** The components of an absolute container path, `..` folded lexically at the root as the kernel does (`/../x` is `/x`). */
export function cleanContainerPath(path: string): string[] {
  return posix
    .normalize(`/${path}`)
    .split('/')
    .filter((c) => c !== '' && c !== '.');
}

interface Walked {
  /** Directory fds from the root down to the final component's parent; the caller closes them. */
  fds: number[];
  /** The final component's name in fds.at(-1); undefined for the root itself. */
  name: string | undefined;
  /** lstat of the final component; undefined when it does not exist. */
  stat: Stats | undefined;
}

function closeAll(fds: number[]): void {
  for (const fd of fds.splice(0)) closeSync(fd);
}

/**
 * Walks `path` inside `root`, following symlinks in every component
 * (including the last) within the root. With `create`, missing directories
 * are made (mode `create.mode`, owned by the caller) on the way, the last
 * one too.
 */
function walk(root: string, path: string, what: string, create: { mode: number } | undefined): Walked {
  const fds = [openSync(root, O_DIR)];
  const queue = cleanContainerPath(path);
  let hops = 0;
  try {
    while (queue.length > 0) {
      const c = queue.shift()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        if (fds.length === 1) throw unsafe(what, path, 'is reached through a symbolic link that climbs out of the rootfs');
        closeSync(fds.pop()!);
        continue;
      }
      const dir = fds.at(-1)!;
      let st: Stats | undefined;
      try {
        st = lstatSync(at(dir, c));
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      if (st === undefined && create) {
        try {
          mkdirSync(at(dir, c), create.mode);
          const fd = openSync(at(dir, c), O_DIR);
          // The umask must not decide the mode of a directory the container will use.
          fchmodSync(fd, create.mode);
          closeSync(fd);
        } catch (err) {
          if (!isErrno(err, 'EEXIST')) throw err;
        }
        st = lstatSync(at(dir, c));
      }
      if (st === undefined) {
        if (queue.length === 0) return { fds, name: c, stat: undefined };
        // A missing parent: the path does not exist.
        return { fds, name: undefined, stat: undefined };
      }
      if (st.isSymbolicLink()) {
        if (++hops > MAX_SYMLINKS) throw unsafe(what, path, 'has too many levels of symbolic links (a loop)');
        const target = readlinkSync(at(dir, c));
        if (target.startsWith('/')) fds.splice(1).forEach((fd) => closeSync(fd));
        queue.unshift(...target.split('/'));
        continue;
      }
      if (queue.length === 0) return { fds, name: c, stat: st };
      if (!st.isDirectory()) throw unsafe(what, path, `has \`${c}\` on its way, which is not a directory`);
      fds.push(openSync(at(dir, c), O_DIR));
    }
    return { fds, name: undefined, stat: fstatSync(fds.at(-1)!) };
  } catch (err) {
    closeAll(fds);
    throw err;
  }
}

export interface ReadInRootOptions {
  /** What the file is, for messages: `/etc/passwd`. Default the path. */
  what?: string;
  /** Larger files fail with ROOTFS_UNSAFE; default 8 MiB. */
  maxBytes?: number;
}

/**
 * The contents of the regular file at `path` inside `root`, or undefined
 * when it does not exist. Symlinks are resolved inside the root; a path
 * that leaves the root, loops, or ends at something other than a regular
 * file (a FIFO would block, a device could have side effects) fails with
 * ROOTFS_UNSAFE.
 */
export function readFileInRoot(root: string, path: string, options: ReadInRootOptions = {}): Buffer | undefined {
  const what = options.what ?? 'file';
  const maxBytes = options.maxBytes ?? 8 << 20;
  const w = walk(root, path, what, undefined);
  try {
    if (w.stat === undefined || w.name === undefined) return undefined;
    if (!w.stat.isFile()) throw unsafe(what, path, 'is not a regular file');
    if (w.stat.size > maxBytes) throw unsafe(what, path, `is larger than ${maxBytes} bytes`);
    const fd = openSync(at(w.fds.at(-1)!, w.name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      // The file looked up is the file opened: nothing was swapped in between.
      if (st.ino !== w.stat.ino || st.dev !== w.stat.dev || !st.isFile()) throw unsafe(what, path, 'changed while it was being opened');
      const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1);
      let n = 0;
      for (;;) {
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r === 0) break;
        n += r;
        if (n > maxBytes) throw unsafe(what, path, `is larger than ${maxBytes} bytes`);
        if (n === buf.length) break;
      }
      return buf.subarray(0, n);
    } finally {
      closeSync(fd);
    }
  } finally {
    closeAll(w.fds);
  }
}

/**
 * Makes the directory `path` and its missing parents inside `root` (like
 * `mkdir -p` run in the container), resolving symlinks inside the root.
 * New directories get `mode` (default 0755) and the caller's owner (root).
 * Fails with ROOTFS_UNSAFE when the path leaves the root, loops, or
 * names something that is not a directory.
 */
export function mkdirAllInRoot(root: string, path: string, options: { what?: string; mode?: number } = {}): void {
  const what = options.what ?? 'directory';
  const w = walk(root, path, what, { mode: options.mode ?? 0o755 });
  try {
    if (w.stat === undefined) throw unsafe(what, path, 'could not be created');
    if (!w.stat.isDirectory()) throw unsafe(what, path, 'exists and is not a directory');
  } finally {
    closeAll(w.fds);
  }
}
