import { execFile } from 'node:child_process';

import { BerthError } from '../../errors/index.js';

/**
 * Copies the directory tree `source` to `target` (which must not exist) with
 * GNU cp, keeping what a container's root needs: owners, modes (setuid too),
 * nanosecond timestamps, hard links within the tree, symlinks as symlinks,
 * device nodes, fifos and sockets as such, and xattrs (security.capability,
 * user.*, trusted.*). Sparse files stay sparse; file data is shared by
 * reflink where the filesystem can (btrfs, xfs).
 *
 * Node's `fs.cp` loses the owners of special files and every xattr, and
 * Node has no setxattr(2), hence cp. `xattr` is named in --preserve rather
 * than taken from `-a`: with `-a` a failure to copy an xattr is silent
 * (coreutils manual, "--preserve=all"), and a file that lost its
 * capability would break in the container without a trace.
 *
 * `options.what` names the copy in errors (`snapshot \`x\``).
 */
export function copyTree(source: string, target: string, options: { what: string }): Promise<void> {
  const { what } = options;
  const args = ['-dR', '--preserve=mode,ownership,timestamps,links,xattr', '--reflink=auto', '--sparse=auto', '--no-target-directory', '--', source, target];
  return new Promise((resolve, reject) => {
    execFile('cp', args, { encoding: 'utf8', maxBuffer: 4 << 20 }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new BerthError(
          missing ? 'NOT_IMPLEMENTED' : 'INTERNAL',
          missing ? `${what}: copying a tree needs GNU cp (coreutils), which is not installed` : `${what}: copying ${source} failed: ${stderr.trim().split('\n').slice(0, 5).join('; ') || err.message}`,
          { cause: err },
        ),
      );
    });
  });
}
