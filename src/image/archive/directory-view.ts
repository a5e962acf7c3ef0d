/**
 * `DirectoryView`: an OCI image layout directory read in place. Entry names
 * are cleaned before use, and every component is checked with `lstat` and
 * the file opened with `O_NOFOLLOW`: a layout whose `blobs/sha256` or a
 * blob is a symlink is refused rather than followed out of the directory.
 */
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, isErrno } from '../../errors/index.js';
import { hashEntry, type ArchiveView } from './archive-view.js';
import { cleanEntryName } from './entry-name.js';

export class DirectoryView implements ArchiveView {
  readonly label: string;
  readonly #root: string;

  constructor(root: string) {
    this.#root = root;
    this.label = `image layout \`${root}\``;
  }

  /** The host path of a regular file entry, or undefined; refuses symlinks and other kinds on the way. */
  async #path(name: string): Promise<string | undefined> {
    const clean = cleanEntryName(name);
    const parts = clean.split('/');
    let path = this.#root;
    for (const [i, part] of parts.entries()) {
      path = join(path, part);
      let st;
      try {
        st = await lstat(path);
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return undefined;
        throw err;
      }
      const last = i === parts.length - 1;
      if (st.isSymbolicLink()) {
        throw new BerthError('ARCHIVE_INVALID', `${this.label}: \`${parts.slice(0, i + 1).join('/')}\` is a symlink; an image layout holds its blobs as regular files`);
      }
      if (last ? !st.isFile() : !st.isDirectory()) {
        throw new BerthError('ARCHIVE_INVALID', `${this.label}: \`${parts.slice(0, i + 1).join('/')}\` is not a ${last ? 'regular file' : 'directory'}`);
      }
    }
    return path;
  }

  async find(name: string): Promise<{ name: string; sizeBytes: number } | undefined> {
    const path = await this.#path(name);
    if (path === undefined) return undefined;
    return { name: cleanEntryName(name), sizeBytes: (await lstat(path)).size };
  }

  async open(name: string, options: { start?: number } = {}): Promise<Readable> {
    const path = await this.#path(name);
    if (path === undefined) throw new BerthError('ARCHIVE_INVALID', `${this.label}: \`${name}\` is missing`);
    // O_NOFOLLOW: a blob swapped for a symlink after the check is still not followed.
    const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    return fh.createReadStream({ start: options.start ?? 0 });
  }

  digestOf(name: string, algorithm: string): Promise<string> {
    return hashEntry(this, name, algorithm);
  }

  async close(): Promise<void> {}
}
