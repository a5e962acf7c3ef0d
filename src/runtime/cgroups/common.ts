/**
 * Pieces both cgroup drivers share: directory creation and removal, the
 * recursive pid walk, OOM polling.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join, posix } from 'node:path';
import {
  cgroupFailed, errnoCode, parsePids, readCgroupFile, strerror, writeCgroupFile, type CgroupFs,
} from './cgroup-fs.js';
import { BerthError } from '../../errors/index.js';
import type { WatchOomOptions } from './manager.js';

export { sleep };

/**
 * mkdir -p under `top` (which must exist), calling `onLevel` for each level
 * below it in order, created or not. Each directory it creates is pushed to
 * `created` at once, outermost first, so a caller can undo a failure half way.
 */
export async function mkdirLevels(
  fs: CgroupFs,
  top: string,
  dir: string,
  created: string[],
  onLevel?: (level: string, parent: string) => Promise<void>,
): Promise<void> {
  const rel = posix.relative(top, dir);
  if (rel === '' || rel.startsWith('..')) throw cgroupFailed(`cgroup directory ${dir} is not below ${top}`);
  let current = top;
  for (const part of rel.split('/')) {
    const parent = current;
    current = join(current, part);
    try {
      if (await fs.mkdir(current)) created.push(current);
    } catch (err) {
      throw new BerthError('CGROUP_FAILED', `cannot create cgroup ${current}: ${strerror(err)}`, { cause: err });
    }
    if (onLevel) await onLevel(current, parent);
  }
}

const RMDIR_RETRIES = 5;

/**
 * rmdir a cgroup and its child cgroups, deepest first. A cgroup whose last
 * task just exited can answer EBUSY for a moment (the kernel frees it
 * asynchronously), so EBUSY is retried with a short doubling delay, as runc
 * does. A directory that is already gone is fine.
 */
export async function removeCgroupTree(fs: CgroupFs, dir: string): Promise<void> {
  let children: string[];
  try {
    children = await fs.readSubdirs(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return;
    throw new BerthError('CGROUP_FAILED', `cannot list cgroup ${dir}: ${strerror(err)}`, { cause: err });
  }
  for (const child of children) await removeCgroupTree(fs, join(dir, child));
  let delayMs = 10;
  for (let attempt = 0; ; attempt++) {
    try {
      await fs.rmdir(dir);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOENT') return;
      if (code === 'EBUSY' && attempt < RMDIR_RETRIES) {
        await sleep(delayMs);
        delayMs *= 2;
        continue;
      }
      const hint = code === 'EBUSY' ? '; processes are still in it, kill them first' : '';
      throw new BerthError('CGROUP_FAILED', `cannot remove cgroup ${dir}: ${strerror(err)}${hint}`, { cause: err });
    }
  }
}

/** Remove every directory, collecting failures into one error naming them all. */
export async function removeAll(fs: CgroupFs, dirs: readonly string[]): Promise<void> {
  const failures: BerthError[] = [];
  for (const dir of dirs) {
    try {
      await removeCgroupTree(fs, dir);
    } catch (err) {
      failures.push(err instanceof BerthError ? err : new BerthError('CGROUP_FAILED', `cannot remove cgroup ${dir}: ${strerror(err)}`, { cause: err }));
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) {
    throw new BerthError('CGROUP_FAILED', failures.map((f) => f.message).join('; '), { cause: failures[0] });
  }
}

/** Every pid in `dir`/cgroup.procs and in its descendants. */
export async function collectPids(fs: CgroupFs, dir: string): Promise<number[]> {
  const out: number[] = [];
  const walk = async (d: string): Promise<void> => {
    let text: string;
    if (d === dir) {
      text = await readCgroupFile(fs, d, 'cgroup.procs');
    } else {
      try {
        text = await fs.readFile(join(d, 'cgroup.procs'));
      } catch (err) {
        // A child cgroup removed while we walk is not an error.
        if (errnoCode(err) === 'ENOENT') return;
        throw cgroupFailed(`cannot read \`cgroup.procs\` in ${d}: ${strerror(err)}`, err);
      }
    }
    out.push(...parsePids(text));
    let children: string[] = [];
    try {
      children = await fs.readSubdirs(d);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw cgroupFailed(`cannot list cgroup ${d}: ${strerror(err)}`, err);
    }
    for (const c of children) await walk(join(d, c));
  };
  await walk(dir);
  return out;
}

/**
 * Write a pid to cgroup.procs. EINVAL can mean the task is still being
 * created (TASK_NEW, between clone and wake-up); runc retries it, so do we.
 */
export async function writePid(fs: CgroupFs, dir: string, pid: number): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new BerthError('INTERNAL', `pid ${pid} is not a process id`);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await writeCgroupFile(fs, dir, 'cgroup.procs', String(pid));
      return;
    } catch (err) {
      if (err instanceof BerthError && errnoCode(err.cause) === 'EINVAL' && attempt < 5) {
        await sleep(30);
        continue;
      }
      throw err;
    }
  }
}

/** What an OOM poll reads: a counter of OOM events, and whether the cgroup is stuck under OOM now. */
export interface OomSample {
  events: number;
  /** v1 `under_oom`: with the OOM killer disabled, tasks wait instead of dying. */
  underOom: boolean;
}

/**
 * Poll `sample` and call `onOom` once per interval in which the counter
 * rose or the cgroup entered the under-OOM state, until aborted or the
 * cgroup is gone.
 */
export function pollOom(
  sample: () => Promise<OomSample>,
  exists: () => Promise<boolean>,
  signal: AbortSignal,
  onOom: () => void,
  options: WatchOomOptions = {},
): void {
  const intervalMs = options.intervalMs ?? 200;
  const run = async (): Promise<void> => {
    let last = await sample().catch(() => ({ events: 0, underOom: false }));
    while (!signal.aborted) {
      try {
        await sleep(intervalMs, undefined, { signal });
      } catch {
        return;
      }
      let now: OomSample;
      try {
        now = await sample();
      } catch {
        if (!(await exists().catch(() => false))) return;
        continue;
      }
      if ((now.events > last.events || (now.underOom && !last.underOom)) && !signal.aborted) onOom();
      last = now;
    }
  };
  void run();
}

/** Poll `check` until it is true or `timeoutMs` passes; false on timeout. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delayMs = 1;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(delayMs);
    delayMs = Math.min(delayMs * 2, 20);
  }
}
