/**
 * Leak checks for integration tests: what a test run leaves on the host that
 * it did not find there. Every integration file calls `withLeakCheck()` once
 * at top level, which snapshots the host in `before` and fails the file in
 * `after` when mounts, cgroups, processes or network namespaces were left.
 *
 * Only what berth can plausibly leave is compared, so that unrelated
 * activity on the machine does not fail a test:
 *  - mounts whose mount point contains a marker (default: "berth");
 *  - cgroup directories, to depth 3, of every v1 hierarchy and every cgroup2
 *    mount, that are top-level, inside this process's own cgroup, or named
 *    with a marker;
 *  - processes that are children of this process, whose command line names
 *    a test temp directory, berth-init or berth-shim, or that live in
 *    another pid or mount namespace (a container process), unless they
 *    descend from something that ran before the snapshot and is not this
 *    test (a container an earlier file leaked, forking away);
 *  - named network namespaces (`ip netns list`).
 *
 * The check cannot tell whose leftovers it sees: on a machine where other
 * test runs go on at the same time, BERTH_LEAK_CHECK=warn turns failures into
 * warnings. CI runs alone and keeps the default, which fails.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { after as nodeAfter, before as nodeBefore } from 'node:test';

import { readMountinfo } from './mounts.js';
import { TEST_TMP_PREFIX } from './paths.js';

export { mountsUnder } from './mounts.js';

export interface HostSnapshot {
  /** "MOUNTPOINT (FSTYPE)", repeated for stacked mounts. */
  mounts: string[];
  /** Absolute cgroup directories. */
  cgroups: string[];
  /** Every process by key, and those watched as possible leaks. */
  processes: ProcessSnapshot;
  /** Names from `ip netns list`. */
  netns: string[];
}

export interface LeakCheckOptions {
  /** Extra substrings that make a mount point, cgroup path or command line relevant (a test's own temp dir, say). */
  markers?: string[];
  /** How long `assertNoLeaks` waits for things that are going away (exiting processes, cgroups being removed); default 3000. */
  graceMs?: number;
  /** Leak lines to accept, such as /cgroup .*\/podman$/ for a parent cgroup a client tool keeps by design. */
  ignore?: RegExp[];
}

const MOUNT_MARKERS = ['berth'];
const PROCESS_MARKERS = [TEST_TMP_PREFIX, 'berth-init', 'berth-shim'];

function relevant(s: string, markers: readonly string[]): boolean {
  return markers.some((m) => s.includes(m));
}

function snapshotMounts(markers: readonly string[]): string[] {
  return readMountinfo()
    .filter((m) => relevant(m.mountPoint, markers))
    .map((m) => `${m.mountPoint} (${m.fstype})`)
    .sort();
}

/** This process's cgroup path in each hierarchy, keyed by controller list ("memory", "name=systemd", "" for v2). */
function ownCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (m) own.set(m[1]!, m[2]!);
  }
  return own;
}

function listDirs(root: string, maxDepth: number, out: string[], depth = 1): void {
  if (depth > maxDepth) return;
  let entries;
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch {
    return; // removed meanwhile
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const p = `${root}/${e.name}`;
    out.push(p);
    listDirs(p, maxDepth, out, depth + 1);
  }
}

function snapshotCgroups(markers: readonly string[]): string[] {
  const own = ownCgroups();
  const found = new Set<string>();
  for (const m of readMountinfo()) {
    let ownPath: string | undefined;
    if (m.fstype === 'cgroup2') {
      ownPath = own.get('');
    } else if (m.fstype === 'cgroup') {
      // A v1 hierarchy's controllers (and name=) are among its super options.
      for (const [key, path] of own) {
        if (key && key.split(',').every((c) => m.superOptions.includes(c))) ownPath = path;
      }
    } else {
      continue;
    }
    const mountRoot = m.root === '/' ? '' : m.root;
    const relOwn = ownPath && ownPath.startsWith(mountRoot) ? ownPath.slice(mountRoot.length) : undefined;
    const ownDir = relOwn && relOwn !== '/' ? `${m.mountPoint}${relOwn}` : undefined;

    const dirs: string[] = [];
    listDirs(m.mountPoint, 3, dirs);
    if (ownDir) listDirs(ownDir, 3, dirs);
    for (const d of dirs) {
      const rel = d.slice(m.mountPoint.length);
      const topLevel = rel.split('/').length === 2;
      const insideOwn = ownDir ? d.startsWith(`${ownDir}/`) : true;
      if (topLevel || insideOwn || relevant(rel, markers)) found.add(d);
    }
  }
  return [...found].sort();
}

function readProc(pid: string, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

function nsOf(pid: string, ns: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined;
  }
}

export interface ProcEntry {
  pid: string;
  ppid: string;
  /** "PID@STARTTIME": stays unique when pids are reused. */
  key: string;
  state: string;
  cmdline: string;
}

/** Every process now, kernel threads included. */
function processTable(): Map<string, ProcEntry> {
  const table = new Map<string, ProcEntry>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = readProc(pid, 'stat');
    if (!stat) continue;
    // Fields after the parenthesised command: state is 3rd, ppid 4th, starttime 22nd.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cmdline = (readProc(pid, 'cmdline') ?? '').split('\0').filter(Boolean).join(' ');
    table.set(pid, { pid, ppid: rest[1] ?? '0', key: `${pid}@${rest[19] ?? ''}`, state: rest[0] ?? '', cmdline });
  }
  return table;
}

export interface ProcessSnapshot {
  /** Keys of every process that existed. */
  all: Set<string>;
  /** Watched processes: key to a description with the reason. */
  watched: Map<string, string>;
  /** Keys of this process and its ancestors. */
  ancestors: Set<string>;
  /** The process table the snapshot was taken from. */
  table: Map<string, ProcEntry>;
}

function snapshotProcesses(markers: readonly string[]): ProcessSnapshot {
  const self = String(process.pid);
  const myPidNs = nsOf('self', 'pid');
  const myMntNs = nsOf('self', 'mnt');
  const table = processTable();
  const ancestors = new Set<string>();
  for (let p = table.get(self); p && !ancestors.has(p.key); p = table.get(p.ppid)) ancestors.add(p.key);
  const watched = new Map<string, string>();
  for (const p of table.values()) {
    if (p.pid === self || p.state === 'Z' || p.state === 'X' || !p.cmdline) continue; // self, zombies, kernel threads
    const reasons: string[] = [];
    if (p.ppid === self) reasons.push('child of the test process');
    if (relevant(p.cmdline, markers)) reasons.push('command line names berth');
    const pidNs = nsOf(p.pid, 'pid');
    const mntNs = nsOf(p.pid, 'mnt');
    if ((pidNs && myPidNs && pidNs !== myPidNs) || (mntNs && myMntNs && mntNs !== myMntNs)) {
      reasons.push('in another namespace');
    }
    if (reasons.length) watched.set(p.key, `pid ${p.pid} (${reasons.join(', ')}): ${p.cmdline}`);
  }
  return { all: new Set([...table.values()].map((p) => p.key)), watched, ancestors, table };
}

/**
 * Whether a new process belongs to something that was already running
 * before the snapshot and is not this test (another test run, or a
 * container an earlier test file leaked, forking away): its nearest
 * ancestor that existed before is neither pid 1 (orphans, such as detached
 * container inits, are reparented there) nor this process or its ancestors.
 */
function descendsFromOthers(key: string, before: ProcessSnapshot, now: ProcessSnapshot): boolean {
  let p = now.table.get(key.split('@')[0]!);
  const seen = new Set<string>();
  while (p && !seen.has(p.key)) {
    seen.add(p.key);
    if (p.key !== key && before.all.has(p.key)) {
      return p.pid !== '1' && !before.ancestors.has(p.key);
    }
    p = now.table.get(p.ppid);
  }
  return false;
}

function snapshotNetns(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status === 0) {
    return r.stdout
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter(Boolean)
      .sort();
  }
  try {
    return readdirSync('/run/netns').sort();
  } catch {
    return [];
  }
}

/** What berth could leak, as found on the host now. */
export function snapshotHost(opts: LeakCheckOptions = {}): HostSnapshot {
  const extra = opts.markers ?? [];
  return {
    mounts: snapshotMounts([...MOUNT_MARKERS, ...extra]),
    cgroups: snapshotCgroups([...MOUNT_MARKERS, ...extra]),
    processes: snapshotProcesses([...PROCESS_MARKERS, ...extra]),
    netns: snapshotNetns(),
  };
}

/** Items of `now` that `before` did not have, counting repeats. */
function added(before: readonly string[], now: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const x of before) counts.set(x, (counts.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of now) {
    const n = counts.get(x) ?? 0;
    if (n > 0) counts.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

/** The leaks of `now` against `before`, one line each; empty when clean. */
export function diffSnapshots(before: HostSnapshot, now: HostSnapshot): string[] {
  const lines: string[] = [];
  for (const m of added(before.mounts, now.mounts)) lines.push(`mount ${m}`);
  for (const c of added(before.cgroups, now.cgroups)) lines.push(`cgroup ${c}`);
  for (const [key, desc] of now.processes.watched) {
    if (!before.processes.watched.has(key) && !descendsFromOthers(key, before.processes, now.processes)) lines.push(`process ${desc}`);
  }
  for (const n of added(before.netns, now.netns)) lines.push(`netns ${n}`);
  return lines;
}

/**
 * Rejects, listing every leak, when the host has mounts, cgroups, processes
 * or network namespaces that `before` did not. Waits up to `graceMs` for
 * things that are on their way out.
 */
export async function assertNoLeaks(before: HostSnapshot, opts: LeakCheckOptions = {}): Promise<void> {
  const deadline = Date.now() + (opts.graceMs ?? 3000);
  for (;;) {
    const leaks = diffSnapshots(before, snapshotHost(opts)).filter((l) => !opts.ignore?.some((re) => re.test(l)));
    if (leaks.length === 0) return;
    if (Date.now() >= deadline) {
      const message = `${basename(process.argv[1] ?? 'the test')} left ${leaks.length} thing(s) behind on the host:\n  ${leaks.join('\n  ')}`;
      // On a machine shared with other test runs their leftovers look like ours.
      if (process.env.BERTH_LEAK_CHECK === 'warn') {
        process.emitWarning(message, 'BerthLeakWarning');
        return;
      }
      throw new Error(message);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Something that registers hooks: node:test's top level (the default) or a TestContext. */
export interface HookHost {
  before(fn: () => unknown): void;
  after(fn: () => unknown): void;
}

/**
 * Snapshots the host before the tests of a file (or of a test context's
 * subtests) and asserts in `after` that nothing leaked:
 *
 *   withLeakCheck();              // top level of an integration test file
 *
 * node:test runs `after` hooks in the order they were registered, so a file
 * that cleans up in its own `after` hook registers that hook first and calls
 * withLeakCheck() after it; cleaning up inside each test (`await using`)
 * needs no care.
 */
export function withLeakCheck(t?: HookHost, opts: LeakCheckOptions = {}): void {
  let snapshot: HostSnapshot | undefined;
  const register: HookHost = t ?? { before: (fn) => nodeBefore(fn), after: (fn) => nodeAfter(fn) };
  register.before(() => {
    snapshot = snapshotHost(opts);
  });
  register.after(async () => {
    if (snapshot) await assertNoLeaks(snapshot, opts);
  });
}
