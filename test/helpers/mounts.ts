/**
 * /proc/self/mountinfo, read for the test helpers (proc(5) gives the format).
 */
import { readFileSync } from 'node:fs';

/** Undoes mountinfo's octal escapes (\040 is a space). */
export function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export interface MountEntry {
  mountPoint: string;
  root: string;
  fstype: string;
  superOptions: string[];
}

/** The mounts of this process's mount namespace, in mountinfo order. */
export function readMountinfo(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const f = pre.split(' ');
    const g = post.split(' ');
    out.push({
      root: unescapeMountField(f[3] ?? ''),
      mountPoint: unescapeMountField(f[4] ?? ''),
      fstype: g[0] ?? '',
      superOptions: (g[2] ?? '').split(','),
    });
  }
  return out;
}

/** Mount points at or under `dir`, parents before children. */
export function mountsUnder(dir: string): string[] {
  const base = dir.replace(/\/+$/, '');
  return readMountinfo()
    .map((m) => m.mountPoint)
    .filter((p) => p === base || p.startsWith(`${base}/`))
    .sort((a, b) => a.split('/').length - b.split('/').length);
}
