/**
 * Turns a layer unpacked in overlayfs form (as `pullAndUnpack` leaves it: a
 * whiteout is a 0:0 character device, an opaque directory carries
 * `trusted.overlay.opaque=y`) into a full tree on its parent: the tree a
 * read-only overlay `lowerdir=<layer>:<parent>` shows, as plain files.
 *
 * It works by moving, not by copying the layer onto the parent: the parent
 * is copied once (the copying snapshotter's price), then every parent entry
 * the layer does not shadow is renamed into the layer's own tree, which
 * becomes the result. That keeps the layer's directories exactly as they
 * were (overlayfs shows the upper directory's owner, mode, times and xattrs
 * for a merged directory) without reading or writing any xattr but the
 * markers, and costs one rename per moved entry.
 *
 * The markers are taken out of the layer before it moves: a 0:0 device or a
 * trusted.overlay.* xattr cannot be created inside an overlayfs mount (mknod
 * fails with EPERM, the xattr is escaped), and a root on overlayfs is just
 * where the copying snapshotter runs.
 *
 * Symlinks are never followed: both trees are walked with lstat/d_type and
 * only real directories are entered, the parent's copy and the layer are
 * private to the snapshotter while this runs, and rename(2) and unlink(2)
 * do not follow their final component. A parent entry `a -> /etc` under a
 * layer directory `a/` is replaced by the directory, never written through.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { lstat, lutimes, readdir, rename, rm, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { BerthError, isErrno } from '../../errors/index.js';
import { copyTree } from './tree-copy.js';

const NS_PER_S = 1_000_000_000n;
const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** setfattr arguments per process, well under ARG_MAX. */
const PATHS_PER_CALL = 256;

/** Paths relative to the layer root, `/`-separated; the root is `''`. */
interface Markers {
  whiteouts: Set<string>;
  opaque: Set<string>;
}

export interface ApplyOverlayLayerOptions {
  /** The parent's full tree; absent for a base layer. */
  parent?: string;
  /** Names the snapshot in errors. */
  what: string;
}

/**
 * Builds `target` (which must not exist; its folder must be on the
 * filesystem the result should live on) from `layerDir` on `parent`.
 * `layerDir` is consumed: afterwards it is gone. On failure nothing is left
 * at `target`; `layerDir` is kept only when the failure came before it was
 * touched (copying the parent), otherwise removed rather than left half
 * converted.
 */
export async function applyOverlayLayer(layerDir: string, target: string, options: ApplyOverlayLayerOptions): Promise<void> {
  const lower = options.parent === undefined ? undefined : join(dirname(target), `.lower-${randomBytes(6).toString('hex')}`);
  let touched = false;
  try {
    if (lower !== undefined) await copyTree(options.parent!, lower, { what: options.what });
    touched = true;
    const markers = await takeMarkers(layerDir, options.what);
    await moveTree(layerDir, target, options.what);
    if (lower !== undefined && !markers.opaque.has('')) await merge(target, lower, '', markers);
  } catch (err) {
    await rm(target, { recursive: true, force: true });
    if (touched) await rm(layerDir, { recursive: true, force: true });
    throw err;
  } finally {
    if (lower !== undefined) await rm(lower, { recursive: true, force: true });
  }
}

/** A rename; a copy then a delete across filesystems. */
async function moveTree(from: string, to: string, what: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if (!isErrno(err, 'EXDEV')) throw err;
    await copyTree(from, to, { what });
    await rm(from, { recursive: true, force: true });
  }
}

/**
 * Records and removes the overlay markers of a layer: 0:0 character devices
 * (unlinked) and trusted.overlay.* xattrs (removed; only `opaque=y` on a
 * directory means anything here, the rest is overlayfs bookkeeping that
 * overlayfs itself never shows). Directory times are put back after a
 * whiteout is unlinked from them.
 */
async function takeMarkers(layerDir: string, what: string): Promise<Markers> {
  const markers: Markers = { whiteouts: new Set(), opaque: new Set() };
  const xattrs = await overlayXattrs(layerDir, what);
  const byName = new Map<string, string[]>();
  for (const [rel, attrs] of xattrs) {
    for (const [name, value] of attrs) {
      const paths = byName.get(name) ?? [];
      paths.push(rel === '' ? layerDir : join(layerDir, rel));
      byName.set(name, paths);
      if (name === OPAQUE_XATTR && value.equals(Buffer.from('y')) && (await lstat(join(layerDir, rel))).isDirectory()) markers.opaque.add(rel);
    }
  }
  for (const [name, paths] of byName) {
    for (let i = 0; i < paths.length; i += PATHS_PER_CALL) {
      await run('setfattr', ['-h', '-x', name, '--', ...paths.slice(i, i + PATHS_PER_CALL)], what);
    }
  }
  const walk = async (dir: string, rel: string): Promise<void> => {
    const before = await lstat(dir, { bigint: true });
    let removed = false;
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        await walk(path, childRel);
      } else if (e.isCharacterDevice() && (await lstat(path)).rdev === 0) {
        await unlink(path);
        markers.whiteouts.add(childRel);
        removed = true;
      }
    }
    if (removed) await restoreTimes(dir, before, what);
  };
  await walk(layerDir, '');
  return markers;
}

/**
 * Moves into `upper` every entry of `lower` that `upper` neither has nor
 * whites out, descending where both hold a real directory and the upper one
 * is not opaque. `rel` is `upper`'s path in the layer.
 */
async function merge(upper: string, lower: string, rel: string, markers: Markers): Promise<void> {
  const before = await lstat(upper, { bigint: true });
  const upperEntries = new Map((await readdir(upper, { withFileTypes: true })).map((e) => [e.name, e]));
  let moved = false;
  for (const e of await readdir(lower, { withFileTypes: true })) {
    const childRel = rel === '' ? e.name : `${rel}/${e.name}`;
    const u = upperEntries.get(e.name);
    if (u) {
      if (u.isDirectory() && e.isDirectory() && !markers.opaque.has(childRel)) await merge(join(upper, e.name), join(lower, e.name), childRel, markers);
      continue;
    }
    if (markers.whiteouts.has(childRel)) continue;
    const from = join(lower, e.name);
    const to = join(upper, e.name);
    const st = e.isDirectory() ? await lstat(from, { bigint: true }) : undefined;
    await rename(from, to);
    // Some filesystems touch a directory that changes parent (its `..`); ext4 does not.
    if (st && (await lstat(to, { bigint: true })).mtimeNs !== st.mtimeNs) await restoreTimes(to, st, '');
    moved = true;
  }
  if (moved) await restoreTimes(upper, before, '');
}

/**
 * Puts back a directory's atime and mtime. Node passes times to utimensat
 * as doubles, which carry whole seconds exactly but not nanoseconds of a
 * current date (about 0.2 µs off); tar times are whole seconds, anything
 * finer is set again by touch(1), which parses `@S.N` exactly.
 */
async function restoreTimes(path: string, st: BigIntStats, what: string): Promise<void> {
  const seconds = (ns: bigint): number => Number(ns / NS_PER_S) + Number(ns % NS_PER_S) / 1e9;
  await lutimes(path, seconds(st.atimeNs), seconds(st.mtimeNs));
  if (st.mtimeNs % NS_PER_S !== 0n && st.mtimeNs > 0n) {
    const stamp = `@${st.mtimeNs / NS_PER_S}.${(st.mtimeNs % NS_PER_S).toString().padStart(9, '0')}`;
    await run('touch', ['-h', '-m', '-d', stamp, '--', path], what || path);
  }
}

/**
 * The trusted.overlay.* xattrs in a tree, by path relative to it, from one
 * `getfattr -R` (physical walk: symlinks are not followed). getfattr
 * writes bytes outside printable ASCII in names as `\ooo`.
 */
async function overlayXattrs(dir: string, what: string): Promise<Map<string, Map<string, Buffer>>> {
  const out = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', '^trusted\\.overlay\\.', '-e', 'hex', '.'], what, dir);
  const result = new Map<string, Map<string, Buffer>>();
  let current: Map<string, Buffer> | undefined;
  for (const line of out.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      const raw = line.slice('# file: '.length).replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
      const path = Buffer.from(raw, 'latin1').toString('utf8');
      const rel = path === '.' ? '' : path.replace(/^\.\//, '');
      current = new Map();
      result.set(rel, current);
    } else if (line !== '' && current) {
      const eq = line.indexOf('=');
      const name = eq < 0 ? line : line.slice(0, eq);
      const value = eq < 0 ? '' : line.slice(eq + 1);
      current.set(name, value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1'));
    }
  }
  return result;
}

function run(cmd: string, args: string[], what: string, cwd?: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 64 << 20, ...(cwd ? { cwd } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT' && (err as NodeJS.ErrnoException).path === cmd;
      reject(
        new BerthError(
          missing ? 'NOT_IMPLEMENTED' : 'INTERNAL',
          missing ? `${what}: applying a layer needs \`${cmd}\`, which is not installed` : `${what}: ${cmd} failed: ${stderr.toString('utf8').trim() || err.message}`,
          { cause: err },
        ),
      );
    });
  });
}
