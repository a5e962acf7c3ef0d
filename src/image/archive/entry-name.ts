/**
 * Names inside an image archive. They come from the archive (tar headers,
 * `manifest.json` paths, symlink targets), so they are untrusted: a name is
 * only ever a key into the archive's own table of entries, never a host
 * path, and one that climbs out (`..`) or is absolute is refused, as
 * containerd's importer and `docker load` refuse them.
 */
import { posix } from 'node:path';
import { BerthError } from '../../errors/index.js';

/** How many symlinks or hardlinks a lookup follows before giving up (a loop). */
export const MAX_LINK_HOPS = 8;

/**
 * The canonical form of an entry name (`./a//b/` is `a/b`), or
 * `ARCHIVE_INVALID` naming it when it is empty, absolute, climbs with `..`
 * or holds a NUL byte. `what` says where the name came from in errors.
 */
export function cleanEntryName(name: string, what = 'archive entry'): string {
  if (name.includes('\0')) throw new BerthError('ARCHIVE_INVALID', `${what} ${JSON.stringify(name)}: the name holds a NUL byte`);
  if (name.startsWith('/')) throw new BerthError('ARCHIVE_INVALID', `${what} \`${name}\`: absolute paths are not allowed in an image archive`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new BerthError('ARCHIVE_INVALID', `${what} \`${name}\`: \`..\` is not allowed in an image archive`);
    parts.push(part);
  }
  if (parts.length === 0) throw new BerthError('ARCHIVE_INVALID', `${what} ${JSON.stringify(name)}: empty name`);
  return parts.join('/');
}

/**
 * Where a link entry points, as an entry name: a symlink's target is
 * relative to the link's directory, a hardlink's to the archive root (tar's
 * convention). Absolute targets and targets that climb above the root fail.
 */
export function linkTarget(entry: string, kind: 'symlink' | 'hardlink', target: string): string {
  if (target.startsWith('/')) throw new BerthError('ARCHIVE_INVALID', `archive entry \`${entry}\`: ${kind} to absolute path \`${target}\` is not allowed`);
  const joined = kind === 'symlink' ? posix.join(posix.dirname(entry), target) : posix.normalize(target);
  if (joined === '..' || joined.startsWith('../')) {
    throw new BerthError('ARCHIVE_INVALID', `archive entry \`${entry}\`: ${kind} to \`${target}\` points outside the archive`);
  }
  return cleanEntryName(joined, `archive entry \`${entry}\` ${kind} target`);
}

/** The entry name of a blob in an OCI image layout. */
export function blobEntryName(algorithm: string, encoded: string): string {
  return `blobs/${algorithm}/${encoded}`;
}
