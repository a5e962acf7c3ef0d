/**
 * Path handling for layer entries (DESIGN.md rule 5, containerd
 * CVE-2021-32760 and kin): every path a tar names is confined to the target
 * directory, and symlinks met on the way are resolved as if the target were
 * the filesystem root, never out of it.
 *
 * Node has no openat2(RESOLVE_IN_ROOT), so resolution is done component by
 * component with lstat and readlink. That is sound because nothing else
 * writes into a snapshot while a layer is applied to it (the same assumption
 * containerd's fs.RootPath makes); the only writer is the unpacker itself.
 */
import { lstat, readlink } from 'node:fs/promises';
import { BerthError, isErrno } from '../../errors/index.js';

/** Most symlinks followed while resolving one path (Linux's MAXSYMLINKS is 40). */
const MAX_SYMLINKS = 40;

/**
 * Cleans a tar entry name into components relative to the target: leading
 * `/` and `./` are dropped (absolute names are taken relative to the target,
 * as GNU tar and containerd do), `.` is dropped, `a/../b` is folded. A name
 * whose `..` would climb above the target is refused: `LAYER_UNSAFE` naming
 * the entry. Returns [] for the target itself.
 */
export function cleanEntryPath(name: string, what = 'entry'): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new BerthError('LAYER_UNSAFE', `layer ${what} \`${name}\` points outside the target directory`);
      out.pop();
      continue;
    }
    if (part.includes('\0')) throw new BerthError('LAYER_UNSAFE', `layer ${what} \`${name}\` contains a NUL byte`);
    out.push(part);
  }
  return out;
}

export interface ResolvedPath {
  /** Components from the target root to the entry's parent directory, symlinks resolved. */
  parent: string[];
  /** The final component, not followed. */
  name: string;
  /** How many parent components exist already (the rest must be created). */
  existing: number;
}

/**
 * Resolves the parent components of `parts` inside `root`, following
 * symlinks as if `root` were `/` (absolute targets restart at `root`, `..`
 * stops at `root`). The final component is never followed. A parent that is
 * neither a directory nor a symlink fails with `LAYER_INVALID`.
 */
export async function resolveParentInRoot(root: string, parts: string[], entryName: string): Promise<ResolvedPath> {
  if (parts.length === 0) throw new BerthError('LAYER_INVALID', `layer entry \`${entryName}\` names the target directory itself`);
  const queue = parts.slice(0, -1);
  const resolved: string[] = [];
  let existing = 0;
  let missing = false;
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (resolved.length > 0) resolved.pop();
      existing = Math.min(existing, resolved.length);
      continue;
    }
    if (missing) {
      resolved.push(c);
      continue;
    }
    const path = `${root}/${[...resolved, c].join('/')}`;
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      missing = true;
      resolved.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) {
        throw new BerthError('LAYER_INVALID', `layer entry \`${entryName}\`: too many levels of symbolic links`);
      }
      const target = await readlink(path);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
      existing = Math.min(existing, resolved.length);
      continue;
    }
    if (!st.isDirectory()) {
      throw new BerthError('LAYER_INVALID', `layer entry \`${entryName}\`: \`/${[...resolved, c].join('/')}\` is not a directory`);
    }
    resolved.push(c);
    existing = resolved.length;
  }
  return { parent: resolved, name: parts[parts.length - 1]!, existing: missing ? existing : resolved.length };
}
