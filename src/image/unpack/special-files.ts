/**
 * The few filesystem calls a layer needs that Node.js does not offer:
 * mknod(2) (device nodes, fifos, overlayfs whiteouts) and setxattr(2)
 * (overlayfs opaque directories, security.capability and other xattrs).
 * They are made through coreutils `mknod`/`mkfifo` and attr's `setfattr`,
 * one process per call: layers hold few such entries, and this keeps berth
 * free of a native addon. Paths passed here have had every parent resolved
 * inside the target by the caller; `setfattr -h` never follows the final
 * component, and mknod(2) fails on an existing one.
 */
import { execFile } from 'node:child_process';
import { BerthError } from '../../errors/index.js';

function run(cmd: string, args: string[], entryName: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolve();
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      const denied = /Operation not permitted|Permission denied/.test(stderr);
      reject(
        new BerthError(
          missing ? 'LAYER_UNSUPPORTED' : denied ? 'PERMISSION_DENIED' : 'INTERNAL',
          missing
            ? `layer entry \`${entryName}\` needs \`${cmd}\`, which is not installed`
            : `layer entry \`${entryName}\`: ${cmd} failed: ${stderr.trim() || err.message}`,
          { cause: err },
        ),
      );
    });
  });
}

export function makeNode(path: string, kind: 'c' | 'b' | 'p', mode: number, major: number, minor: number, entryName: string): Promise<void> {
  const m = (mode & 0o7777).toString(8);
  if (kind === 'p') return run('mkfifo', ['-m', m, '--', path], entryName);
  return run('mknod', ['-m', m, '--', path, kind, String(major), String(minor)], entryName);
}

export function setXattr(path: string, name: string, value: Buffer, entryName: string): Promise<void> {
  return run('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', path], entryName);
}
