/**
 * The filesystem calls a layer needs that Node.js does not offer: mknod(2)
 * (device nodes, fifos, overlayfs whiteouts) and setxattr(2) (overlayfs
 * opaque directories, security.capability and other xattrs), made by
 * `berth-unpack-helper` (src/native/unpack/main.c), one process per unpack,
 * started on the first entry that needs it:
 *
 *   const specials = new SpecialFiles(root);
 *   await specials.makeNode(`${root}/etc`, 'gone', 'c', 0, 0, 0, 'etc/.wh.gone');
 *   await specials.setXattr(`${root}/bin`, 'ping', 'security.capability', value, 'bin/ping');
 *   await specials.close();
 *
 * Requests go as NUL-separated fields on the helper's stdin and each is
 * answered with an errno number on a line of its stdout (the protocol is in
 * main.c). A process per entry (coreutils `mknod`, attr's `setfattr`) cost
 * about 10 ms each: 42 s for a layer with 2000 whiteouts and 2000 xattrs on tmpfs.
 *
 * Directories passed here have been resolved inside the root by the caller
 * (safe-path.ts); the helper walks them again from the root without
 * following symlinks and never follows the final component.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';

import { BerthError, type ErrorCode } from '../../errors/index.js';
import { nativeProgramPath } from '../../util/native-path.js';

/** Where berth-unpack-helper is: BERTH_UNPACK_HELPER, else `native/berth-unpack-helper` in the nearest `dist/`. */
export function unpackHelperPath(): string {
  return nativeProgramPath('berth-unpack-helper', 'BERTH_UNPACK_HELPER');
}

const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n, name]));

function codeForErrno(errno: number): ErrorCode {
  const name = errnoNames.get(errno);
  if (name === 'EPERM' || name === 'EACCES') return 'PERMISSION_DENIED';
  if (name === 'ENOTSUP' || name === 'EOPNOTSUPP') return 'LAYER_UNSUPPORTED';
  if (name === 'ELOOP' || name === 'ENOTDIR' || name === 'EXDEV') return 'LAYER_UNSAFE';
  return 'INTERNAL';
}

interface Waiter {
  resolve(errno: number): void;
  reject(err: Error): void;
}

export class SpecialFiles {
  readonly #root: string;
  #child: ChildProcess | undefined;
  #exited: Promise<number | null> | undefined;
  #waiters: Waiter[] = [];
  #stdout = '';
  #stderr = '';
  #failure: Error | undefined;

  /** `root` is the unpack target; every directory passed later lies inside it. */
  constructor(root: string) {
    this.#root = root;
  }

  /** A character or block device, or a fifo (`p`), named `name` in `dir`. */
  async makeNode(dir: string, name: string, kind: 'c' | 'b' | 'p', mode: number, major: number, minor: number, entryName: string): Promise<void> {
    const m = (mode & 0o7777).toString(8);
    await this.#call(['mknod', this.#relative(dir, entryName), name, kind, m, String(major), String(minor)], entryName, `mknod \`${name}\``);
  }

  /** Sets xattr `attr` on `name` in `dir` (`.` for `dir` itself), never following a symlink. */
  async setXattr(dir: string, name: string, attr: string, value: Uint8Array, entryName: string): Promise<void> {
    if (attr.includes('\0')) throw new BerthError('LAYER_INVALID', `layer entry \`${entryName}\` has an xattr name with a NUL byte`);
    const hex = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
    await this.#call(['setxattr', this.#relative(dir, entryName), name, attr, hex], entryName, `setting xattr \`${attr}\``);
  }

  /** Ends the helper (if it was started) and waits for it. Idempotent. */
  async close(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    child.stdin?.end();
    const code = await this.#exited;
    if (code !== 0 && !this.#failure) {
      throw new BerthError('INTERNAL', `berth-unpack-helper exited with ${code}: ${this.#stderr.trim()}`);
    }
  }

  #relative(dir: string, entryName: string): string {
    if (dir === this.#root) return '';
    if (!dir.startsWith(`${this.#root}/`)) throw new BerthError('LAYER_UNSAFE', `layer entry \`${entryName}\` resolves outside the target directory`);
    return dir.slice(this.#root.length + 1);
  }

  async #call(fields: string[], entryName: string, what: string): Promise<void> {
    if (fields.some((f) => f.includes('\0'))) throw new BerthError('LAYER_INVALID', `layer entry \`${entryName}\` has a name with a NUL byte`);
    const child = this.#start(entryName);
    const errno = await new Promise<number>((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      child.stdin!.write(`${fields.join('\0')}\0`);
    });
    if (errno === 0) return;
    const name = errnoNames.get(errno) ?? `errno ${errno}`;
    throw new BerthError(codeForErrno(errno), `layer entry \`${entryName}\`: ${what} failed: ${name}`, { errno });
  }

  #start(entryName: string): ChildProcess {
    if (this.#failure) throw this.#failure;
    if (this.#child) return this.#child;
    const path = unpackHelperPath();
    const child = spawn(path, [this.#root], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      this.#stdout += s;
      for (let nl = this.#stdout.indexOf('\n'); nl >= 0; nl = this.#stdout.indexOf('\n')) {
        const line = this.#stdout.slice(0, nl);
        this.#stdout = this.#stdout.slice(nl + 1);
        this.#waiters.shift()?.resolve(Number(line));
      }
    });
    child.stderr!.on('data', (s: string) => {
      if (this.#stderr.length < 4096) this.#stderr += s;
    });
    // A write to a helper that died is reported by 'exit'; the pipe error itself says nothing more.
    child.stdin!.on('error', () => {});
    this.#exited = new Promise((resolve) => {
      child.on('error', (err) => {
        const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
        this.#fail(
          missing
            ? new BerthError('LAYER_UNSUPPORTED', `layer entry \`${entryName}\` needs ${path}, which is missing (build it with make -C src/native)`, { cause: err })
            : new BerthError('INTERNAL', `cannot start ${path}: ${err.message}`, { cause: err }),
        );
        resolve(null);
      });
      child.on('exit', (code, signal) => {
        if (this.#waiters.length > 0) {
          this.#fail(new BerthError('INTERNAL', `berth-unpack-helper ended (${signal ?? `exit ${code}`}) with requests unanswered: ${this.#stderr.trim()}`));
        }
        resolve(code);
      });
    });
    return child;
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    for (const w of this.#waiters.splice(0)) w.reject(this.#failure);
  }
}
