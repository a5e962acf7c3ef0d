/**
 * Host-side pieces the compatibility tests share: finding the tools, running
 * a client under a pseudo-terminal, and undoing what a container manager
 * leaves on the host (mounts under its temp root, cgroup trees, processes
 * that name the temp root, directories it makes outside it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { basename, join } from 'node:path';

import { readMountinfo, mountsUnder } from '../../helpers/mounts.js';
import { TEST_TMP_PREFIX } from '../../helpers/paths.js';
import { requires, which } from '../../helpers/requires.js';
import { runCmd, type CmdResult, type RunOptions } from '../../helpers/run.js';

/**
 * Undefined when every tool is on PATH and the basics of a root container
 * test hold, else the reasons, for `{ skip }`.
 */
export function requireTools(...tools: string[]): string | undefined {
  const reasons: string[] = [];
  const base = requires('root', 'busybox', 'probe', 'berth-runtime');
  if (base) reasons.push(base);
  for (const t of tools) if (!which(t)) reasons.push(`needs ${t} (not on PATH; scripts/setup.sh installs it)`);
  return reasons.length ? reasons.join('; ') : undefined;
}

/** Quotes an argument for `sh -c`. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `bin args` with a pseudo-terminal as its stdin, stdout and stderr,
 * through util-linux `script`, so a client that asks for a TTY (`ctr run -t`,
 * `podman run -it`) gets one. The exit code is the command's (`script -e`);
 * the output has the terminal's CRLF line ends.
 */
export function runInPty(bin: string, args: readonly string[], opts: RunOptions = {}): Promise<CmdResult> {
  const line = [bin, ...args].map(shellQuote).join(' ');
  return runCmd('script', ['-q', '-e', '-c', line, '/dev/null'], opts);
}

/** Output lines with the terminal's CR and script's stray NUL (echoed as `^@`) removed. */
export function ptyLines(out: string): string[] {
  return out
    .replace(/\^@/g, '')
    .replace(/\0/g, '')
    .split(/\r?\n/)
    .map((l) => l.replace(/\r/g, ''))
    .filter((l) => l.length > 0);
}

/** The mount points of every cgroup hierarchy (v1 and v2) of this mount namespace. */
function cgroupMounts(): string[] {
  return readMountinfo()
    .filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2')
    .map((m) => m.mountPoint);
}

function removeTree(dir: string): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeTree(join(dir, e.name));
  try {
    rmdirSync(dir);
  } catch {
    // EBUSY: a process is still in it; the leak check reports it.
  }
}

/**
 * The cgroup parent for a test's containers: the name of its temp directory
 * (`berth-test-...`), unique and recognisable by the leak check.
 */
export function cgroupParentFor(dir: string): string {
  const name = basename(dir);
  if (!name.startsWith(TEST_TMP_PREFIX)) {
    throw new Error(`${dir} is not a test temp directory (${TEST_TMP_PREFIX}*): its name is used as a cgroup parent`);
  }
  return name;
}

/**
 * Removes the top-level cgroup directory `name` (a test's own, named
 * `berth-test-*`) and everything below it, children first, in every
 * hierarchy. A cgroup with processes in it stays (rmdir fails with EBUSY).
 */
export function removeCgroupTree(name: string): void {
  const rel = name.replace(/^\/+/, '');
  if (!rel.startsWith(TEST_TMP_PREFIX) || rel.includes('/')) {
    throw new Error(`refusing to remove cgroup tree \`${name}\`: only top-level ${TEST_TMP_PREFIX}* trees are the tests' own`);
  }
  for (const mount of cgroupMounts()) {
    const dir = join(mount, rel);
    if (existsSync(dir)) removeTree(dir);
  }
}

/** Unmounts everything at or under `dir`, deepest first; returns what could not be unmounted. */
export function unmountUnder(dir: string): string[] {
  for (const m of mountsUnder(dir).reverse()) {
    const r = spawnSync('umount', [m], { stdio: 'ignore' });
    if (r.status !== 0) spawnSync('umount', ['-l', m], { stdio: 'ignore' });
  }
  return mountsUnder(dir);
}

/** Pids of live processes whose command line contains `marker`, except this process. */
export function processesNaming(marker: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    let stat: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'Z' || state === 'X') continue;
    if (cmdline.split('\0').some((a) => a.includes(marker))) out.push(Number(name));
  }
  return out;
}

/**
 * Waits up to `timeoutMs` for the processes that name `marker` (shims,
 * conmon, podman's exit commands) to end, then kills those left with
 * SIGKILL, by pid. Returns the pids it had to kill.
 */
export async function reapProcessesNaming(marker: string, timeoutMs = 15_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesNaming(marker);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesNaming(marker);
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: it ended meanwhile.
    }
  }
  return left;
}

/**
 * Directories outside the test's temp root that a manager creates whatever
 * its configuration says (containerd's shim sockets in /run/containerd/s,
 * podman's blob-info cache in /var/lib/containers/cache). `undo()` removes
 * those of them that did not exist when the guard was made; a directory is
 * removed with its contents only when `withContents` names it, otherwise
 * only when empty.
 */
export function hostDirGuard(dirs: readonly string[], withContents: readonly string[] = []): { undo(): void } {
  const absent = dirs.filter((d) => !existsSync(d));
  return {
    undo() {
      // Deepest first, so that a parent made with its child can be removed after it.
      for (const d of [...absent].sort((a, b) => b.length - a.length)) {
        if (!existsSync(d)) continue;
        if (withContents.includes(d)) {
          spawnSync('rm', ['-rf', '--one-file-system', d], { stdio: 'ignore' });
        } else {
          try {
            rmdirSync(d);
          } catch {
            // Not empty: something else uses it now.
          }
        }
      }
    },
  };
}
