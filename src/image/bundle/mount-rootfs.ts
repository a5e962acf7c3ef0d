/**
 * Mounting a snapshotter's mount descriptions (containerd's mount.All) at a
 * target, and unmounting everything under it. Node cannot call mount(2),
 * so util-linux `mount` and `umount` run, one process per mount.
 *
 * mount(2) copies its data argument into one page: overlay options longer
 * than that fail with EINVAL. As containerd does
 * (mount_linux.go `compactLowerdirOption`), the lower directories are then
 * given relative to their common parent and `mount` runs with that parent
 * as its working directory, which the kernel resolves them against. Options
 * still too long fail with NOT_IMPLEMENTED naming the layer count.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { promisify } from 'node:util';

import { BerthError } from '../../errors/index.js';
import type { Mount } from '../snapshot/snapshotter.js';

const execFileP = promisify(execFile);

/** The data argument of mount(2) must fit in one page, NUL included. */
export const MAX_MOUNT_DATA_BYTES = 4095;

export interface MountCommand {
  args: string[];
  /** Working directory for `mount` (relative lowerdirs), or undefined. */
  cwd?: string;
}

function commonDir(dirs: readonly string[]): string {
  let common = dirs[0]!.split('/');
  for (const d of dirs.slice(1)) {
    const parts = d.split('/');
    let i = 0;
    while (i < common.length && i < parts.length && common[i] === parts[i]) i++;
    common = common.slice(0, i);
  }
  return common.join('/') || '/';
}

/**
 * The `mount` command line for one description at `target`. Overlay
 * options over a page are compacted (relative lowerdirs and a working
 * directory); bind mounts go through util-linux, which turns `bind,ro`
 * into a bind and a read-only remount.
 */
export function mountCommand(m: Mount, target: string): MountCommand {
  for (const o of m.options) {
    if (o.includes('\0')) throw new BerthError('ARGUMENT_INVALID', `mount option \`${o}\` contains a NUL byte`);
  }
  if (m.type === 'bind') {
    const options = m.options.includes('bind') || m.options.includes('rbind') ? m.options : ['bind', ...m.options];
    return { args: ['-o', options.join(','), '--', m.source, target] };
  }
  const data = m.options.join(',');
  if (m.type !== 'overlay' || Buffer.byteLength(data) <= MAX_MOUNT_DATA_BYTES) {
    return { args: ['-t', m.type, ...(data ? ['-o', data] : []), '--', m.source, target] };
  }
  const idx = m.options.findIndex((o) => o.startsWith('lowerdir='));
  const lowers = idx < 0 ? [] : m.options[idx]!.slice('lowerdir='.length).split(':');
  const tooLong = (): BerthError =>
    new BerthError('NOT_IMPLEMENTED', `overlay mount of ${lowers.length} layers at ${target}: options are longer than one page (${MAX_MOUNT_DATA_BYTES} bytes) even with relative lower directories`);
  if (lowers.length < 2 || lowers.some((l) => !l.startsWith('/'))) throw tooLong();
  const cwd = commonDir(lowers.map((l) => posix.dirname(l)));
  if (cwd === '/') throw tooLong();
  const options = [...m.options];
  options[idx] = `lowerdir=${lowers.map((l) => posix.relative(cwd, l)).join(':')}`;
  const compact = options.join(',');
  if (Buffer.byteLength(compact) > MAX_MOUNT_DATA_BYTES) throw tooLong();
  return { args: ['-t', m.type, '-o', compact, '--', m.source, target], cwd };
}

function stderrOf(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr || e.message || String(err)).trim();
}

/** Mounts every description at `target`, in order; on a failure, unmounts what this call mounted. */
export async function mountAll(mounts: readonly Mount[], target: string): Promise<void> {
  const commands = mounts.map((m) => mountCommand(m, target));
  let done = 0;
  try {
    for (const c of commands) {
      try {
        await execFileP('mount', c.args, { cwd: c.cwd });
      } catch (err) {
        throw new BerthError('MOUNT_FAILED', `mounting ${mounts[done]!.type} at ${target} failed: ${stderrOf(err)}`, { cause: err });
      }
      done++;
    }
  } catch (err) {
    for (; done > 0; done--) await execFileP('umount', ['--', target]).catch(() => {});
    throw err;
  }
}

function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Mount points at or under `dir` in this mount namespace, deepest and latest first (the order to unmount in). */
export function mountPointsUnder(dir: string): string[] {
  const base = posix.normalize(dir).replace(/\/+$/, '');
  const out: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp === undefined) continue;
    const p = unescapeMountField(mp);
    if (p === base || p.startsWith(`${base}/`)) out.push(p);
  }
  // mountinfo lists mounts in mount order: reversed, stacked mounts come off top first, children before parents.
  return out.reverse().sort((a, b) => b.split('/').length - a.split('/').length);
}

/**
 * Unmounts everything mounted at or under `target` (stacked mounts
 * included). Fails with MOUNT_FAILED when something stays mounted, so
 * that a caller never deletes through a mount into a snapshot.
 */
export async function unmountAll(target: string): Promise<void> {
  for (let round = 0; round < 64; round++) {
    const points = mountPointsUnder(target);
    if (points.length === 0) return;
    try {
      await execFileP('umount', ['--', points[0]!]);
    } catch (err) {
      throw new BerthError('MOUNT_FAILED', `unmounting ${points[0]} failed: ${stderrOf(err)}`, { cause: err });
    }
  }
  throw new BerthError('MOUNT_FAILED', `${target} still has mounts after 64 unmounts`);
}
