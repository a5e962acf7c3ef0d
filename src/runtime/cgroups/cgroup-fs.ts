/**
 * File access for cgroup drivers: the few operations they need, the error
 * messages that name the file and directory, and parsers for the kernel's
 * file formats.
 *
 * The drivers take a `CgroupFs` so that the cgroup v2 driver can be tested
 * against a fixture that behaves like cgroupfs (a plain directory cannot:
 * the kernel populates files on mkdir and removes a cgroup directory that
 * still holds files). Production code always uses `nodeCgroupFs`.
 */
import { closeSync, constants as fsConstants, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { BerthError } from '../../errors/index.js';

export interface CgroupFs {
  readFile(path: string): Promise<string>;
  /**
   * Write one value with one write(2). The file is opened O_WRONLY|O_TRUNC
   * without O_CREAT, as runc does: a cgroup file that does not exist means
   * the kernel lacks the feature, and creating it would hide that.
   */
  writeFile(path: string, data: string): Promise<void>;
  /** Create one directory level; false when it already existed. */
  mkdir(path: string): Promise<boolean>;
  rmdir(path: string): Promise<void>;
  /** Names of the subdirectories (child cgroups). */
  readSubdirs(path: string): Promise<string[]>;
  /** Names of the regular files (interface files). */
  readFileNames(path: string): Promise<string[]>;
  isDirectory(path: string): Promise<boolean>;
}

/**
 * cgroupfs answers from memory in microseconds, so the production driver uses
 * synchronous calls: an async open/write/close costs three thread-pool round
 * trips each, which made creating one container's cgroups take tens of ms.
 */
export const nodeCgroupFs: CgroupFs = {
  readFile: async (path) => readFileSync(path, 'utf8'),
  async writeFile(path, data) {
    const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_TRUNC);
    try {
      const bytesWritten = writeSync(fd, data);
      if (bytesWritten !== Buffer.byteLength(data)) {
        throw Object.assign(new Error(`short write to ${path}`), { code: 'EIO' });
      }
    } finally {
      closeSync(fd);
    }
  },
  async mkdir(path) {
    try {
      mkdirSync(path, 0o755);
      return true;
    } catch (err) {
      if (errnoCode(err) === 'EEXIST') return false;
      throw err;
    }
  },
  rmdir: async (path) => rmdirSync(path),
  async readSubdirs(path) {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  },
  async readFileNames(path) {
    return readdirSync(path, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  },
  async isDirectory(path) {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
  },
};

export function errnoCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'string') {
    return (err as { code: string }).code;
  }
  return undefined;
}

/**
 * glibc's strerror text for the errnos cgroup files return, so messages read
 * like the kernel's own tools (libuv's wording differs: "resource busy or
 * locked" for EBUSY).
 */
const STRERROR: Record<string, string> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EIO: 'Input/output error',
  E2BIG: 'Argument list too long',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EINVAL: 'Invalid argument',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  ERANGE: 'Numerical result out of range',
  ENOTEMPTY: 'Directory not empty',
  EOPNOTSUPP: 'Operation not supported',
  ENOTSUP: 'Operation not supported',
};

export function strerror(err: unknown): string {
  const code = errnoCode(err);
  if (code !== undefined && STRERROR[code] !== undefined) return STRERROR[code];
  if (err instanceof Error) return err.message;
  return String(err);
}

function errnoNumber(err: unknown): number | undefined {
  const code = errnoCode(err);
  if (code === undefined) return undefined;
  return (osConstants.errno as Record<string, number>)[code];
}

/** Read `dir/file`, turning failures into a BerthError that names both. */
export async function readCgroupFile(fs: CgroupFs, dir: string, file: string): Promise<string> {
  try {
    return await fs.readFile(join(dir, file));
  } catch (err) {
    throw await fileError(fs, 'read', dir, file, err);
  }
}

/** Read `dir/file`, or undefined when the file does not exist. */
export async function readOptionalCgroupFile(fs: CgroupFs, dir: string, file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(join(dir, file));
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' && (await fs.isDirectory(dir))) return undefined;
    throw await fileError(fs, 'read', dir, file, err);
  }
}

/** Write `dir/file`; ENOENT for a file of an existing cgroup is CGROUP_UNSUPPORTED. */
export async function writeCgroupFile(fs: CgroupFs, dir: string, file: string, value: string): Promise<void> {
  try {
    await fs.writeFile(join(dir, file), value);
  } catch (err) {
    throw await fileError(fs, 'write', dir, file, err);
  }
}

export async function cgroupFileExists(fs: CgroupFs, dir: string, file: string): Promise<boolean> {
  try {
    await fs.readFile(join(dir, file));
    return true;
  } catch (err) {
    // Write-only files (devices.allow, cgroup.kill) exist but cannot be read.
    return errnoCode(err) !== 'ENOENT';
  }
}

async function fileError(fs: CgroupFs, op: 'read' | 'write', dir: string, file: string, err: unknown): Promise<BerthError> {
  if (errnoCode(err) === 'ENOENT') {
    if (!(await fs.isDirectory(dir))) {
      return new BerthError('CGROUP_FAILED', `cannot ${op} \`${file}\`: cgroup ${dir} does not exist`, { cause: err, errno: errnoNumber(err) });
    }
    return new BerthError(
      'CGROUP_UNSUPPORTED',
      `cannot ${op} \`${file}\` in ${dir}: the kernel does not provide it (the \`${controllerOfFile(file)}\` controller or this feature of it is not available)`,
      { cause: err, errno: errnoNumber(err) },
    );
  }
  return new BerthError('CGROUP_FAILED', `cannot ${op} \`${file}\` in ${dir}: ${strerror(err)}`, { cause: err, errno: errnoNumber(err) });
}

/** `memory.swap.max` → `memory`; `hugetlb.2MB.max` → `hugetlb`. */
export function controllerOfFile(file: string): string {
  const dot = file.indexOf('.');
  return dot < 0 ? file : file.slice(0, dot);
}

export function cgroupFailed(message: string, cause?: unknown): BerthError {
  return new BerthError('CGROUP_FAILED', message, cause === undefined ? {} : { cause, errno: errnoNumber(cause) });
}

export function cgroupUnsupported(message: string, cause?: unknown): BerthError {
  return new BerthError('CGROUP_UNSUPPORTED', message, cause === undefined ? {} : { cause });
}

/**
 * The value cgroup drivers report for "no limit". The kernel's v1 value
 * (PAGE_COUNTER_MAX pages of 4 KiB, 2^63 - 4096) is used for v2 `max` too:
 * it is exact as a double and survives JSON into both int64 and uint64 in Go
 * clients, which 2^64 - 1 (runc's value for `max`) would not.
 */
export const UNLIMITED = 9223372036854771712;

/** Parse one unsigned number as the kernel prints it; `max` is UNLIMITED. */
export function parseUint(text: string): number {
  const t = text.trim();
  if (t === 'max') return UNLIMITED;
  const n = Number(t);
  // Negative values appear in v1 files for "unlimited" (cfs_quota_us = -1).
  return Number.isFinite(n) ? n : 0;
}

/** `key value` lines (memory.stat, cpu.stat, memory.events) into a map. */
export function parseKeyValues(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length !== 2 || fields[0] === undefined || fields[1] === undefined) continue;
    out[fields[0]] = parseUint(fields[1]);
  }
  return out;
}

/** Whitespace-separated numbers (cpuacct.usage_percpu). */
export function parseNumberList(text: string): number[] {
  return text.trim().split(/\s+/).filter((s) => s !== '').map(parseUint);
}

/** Lines of a cgroup.procs file as pids. */
export function parsePids(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    const n = Number(t);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}
