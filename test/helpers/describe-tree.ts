/**
 * A directory tree as text, for tests that compare trees: two trees with
 * equal descriptions are copies of each other as a container would see
 * them (the snapshotter tests compare a copy with its source, and a copy
 * snapshot with a mounted overlay).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/** Every xattr of every entry under `dir` (all namespaces), by relative path (`''` for `dir`), from one `getfattr` that follows no symlink. */
export function xattrsOf(dir: string): Map<string, string[]> {
  const out = execFileSync('getfattr', ['-R', '-P', '-h', '-d', '-m', '-', '-e', 'base64', '.'], { cwd: dir, encoding: 'latin1' });
  const map = new Map<string, string[]>();
  let cur: string[] | undefined;
  for (const line of out.split('\n')) {
    if (line.startsWith('# file: ')) {
      const p = line.slice(8);
      cur = [];
      map.set(p === '.' ? '' : p.replace(/^\.\//, ''), cur);
    } else if (line && cur) cur.push(line);
  }
  return map;
}

export interface DescribeTreeOptions {
  /** Include mtimes (to the ns); default true. */
  times?: boolean;
  /** Include a line for `dir` itself; default true. */
  root?: boolean;
}

/**
 * One line per entry, parents before children, names sorted: path, type
 * (`d f l c b p s`), mode in octal, owner, size and content hash (files),
 * link target (symlinks), rdev (devices), mtime in ns, xattrs, and which
 * earlier path it is a hard link of.
 *
 *   assert.deepEqual(await describeTree(copy), await describeTree(source));
 */
export async function describeTree(dir: string, options: DescribeTreeOptions = {}): Promise<string[]> {
  const xattrs = xattrsOf(dir);
  const inodes = new Map<bigint, string>();
  const lines: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    const path = rel === '' ? dir : join(dir, rel);
    const st = await lstat(path, { bigint: true });
    const type = st.isDirectory() ? 'd' : st.isFile() ? 'f' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : '?';
    const parts = [rel || '.', type, st.mode.toString(8), `${st.uid}:${st.gid}`];
    if (type === 'f') parts.push(`size=${st.size}`, createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16));
    if (type === 'l') parts.push(`-> ${await readlink(path)}`);
    if (type === 'c' || type === 'b') parts.push(`rdev=${st.rdev}`);
    if (options.times !== false) parts.push(`mtime=${st.mtimeNs}`);
    const x = xattrs.get(rel);
    if (x?.length) parts.push(`xattrs=${x.sort().join(',')}`);
    if (type !== 'd' && st.nlink > 1n) {
      const first = inodes.get(st.ino);
      if (first) parts.push(`link of ${first}`);
      else inodes.set(st.ino, rel);
    }
    if (rel !== '' || options.root !== false) lines.push(parts.join(' '));
    if (type === 'd') for (const name of (await readdir(path)).sort()) await visit(rel === '' ? name : `${rel}/${name}`);
  };
  await visit('');
  return lines;
}
