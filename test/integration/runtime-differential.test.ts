/**
 * Differential tests: the same bundle under runc (and crun, where it can run
 * on this host) and under berth-runtime, compared through what the probe
 * reports from inside. Every difference is listed in the assertion message.
 * Where berth deliberately differs from the reference, the exception below
 * names the one field it covers, says why, and checks berth's side exactly.
 */
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { test, type TestContext } from 'node:test';

import { makeBundle, type Bundle, type BundleSpec } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { parseProbe, type ProbeMount, type ProbeReport, type ProbeResult } from '../helpers/probe.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runtimeCli, type CmdResult, type RuntimeName } from '../helpers/run.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'probe', 'berth-runtime', 'cgroup-v1');
let seq = 0;
const newId = (name: string) => `diff-${name}-${process.pid}-${seq++}`;

/** A spec with a bit of everything the probe can see. */
function withFeatures(s: BundleSpec): void {
  s.process.user = { uid: 1000, gid: 1000, additionalGids: [100, 5], umask: 0o027 };
  s.process.cwd = '/tmp';
  s.process.env = ['PATH=/bin:/usr/bin', 'A=1', 'B=two words', 'EMPTY='];
  s.process.rlimits = [
    { type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 },
    { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
    { type: 'RLIMIT_NPROC', soft: 300, hard: 400 },
  ];
  s.process.capabilities = {
    bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_SETUID'],
    effective: ['CAP_KILL', 'CAP_CHOWN'],
    permitted: ['CAP_KILL', 'CAP_CHOWN'],
    inheritable: ['CAP_KILL'],
    ambient: ['CAP_KILL'],
  };
  s.process.noNewPrivileges = true;
  s.hostname = 'diff-host';
  s.domainname = 'diff.example';
  s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', 'noexec', 'size=1m', 'mode=1777'] });
  s.mounts!.push({ destination: '/ro-scratch', type: 'tmpfs', source: 'tmpfs', options: ['ro', 'size=1m'] });
  s.linux.maskedPaths = [...(s.linux.maskedPaths ?? []), '/etc/hostname', '/home'];
  s.linux.readonlyPaths = [...(s.linux.readonlyPaths ?? []), '/root'];
  s.linux.seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
    syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 }],
  };
}

/** The comparable part of what a container sees. */
interface View {
  pid: number;
  ids: string;
  groups: number[];
  caps: ProbeReport['caps'];
  noNewPrivs: number;
  seccomp: number;
  umask: string;
  cwd: string | null;
  env: string[];
  rlimits: ProbeReport['rlimits'];
  hostname: string;
  domainname: string;
  oomScoreAdj: number | null;
  personality: number;
  fdNumbers: string[];
  /** Mount point -> "fstype ro|rw[,nosuid][,nodev][,noexec]"; stacked mounts joined with " + ". */
  mounts: Record<string, string>;
  /** Namespaces that are not the host's. */
  newNamespaces: string[];
  /** Masked path -> what stat(2) says about it (type, mode, device) or its errno. */
  masked: Record<string, string>;
  /** Writes to read-only paths -> errno name. */
  readonlyWrites: Record<string, string>;
  /** mkdir under the seccomp rule -> errno name. */
  seccompMkdir: string;
}

const FLAG_WORDS = ['nosuid', 'nodev', 'noexec'];

function mountFlags(m: ProbeMount): string {
  const opts = m.options.split(',');
  return [opts.includes('ro') ? 'ro' : 'rw', ...FLAG_WORDS.filter((f) => opts.includes(f))].join(',');
}

function statLine(r: ProbeResult): string {
  if (r.error) return r.error;
  return `${r.type} ${r.mode} ${r.rdevMajor}:${r.rdevMinor}`;
}

const HOST_NS = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts'];

function viewOf(report: ProbeReport, checks: string[], spec: BundleSpec): View {
  const mounts: Record<string, string> = {};
  for (const m of report.mounts) {
    const v = `${m.fstype} ${mountFlags(m)}`;
    mounts[m.mountPoint] = mounts[m.mountPoint] ? `${mounts[m.mountPoint]} + ${v}` : v;
  }
  const masked: Record<string, string> = {};
  const readonlyWrites: Record<string, string> = {};
  const maskedPaths = spec.linux.maskedPaths ?? [];
  const readonlyPaths = spec.linux.readonlyPaths ?? [];
  const results = checks.map((l) => JSON.parse(l) as ProbeResult);
  maskedPaths.forEach((p, i) => {
    masked[p] = statLine(results[i]!);
  });
  readonlyPaths.forEach((p, i) => {
    readonlyWrites[p] = results[maskedPaths.length + i]!.error ?? 'written';
  });
  const last = results[maskedPaths.length + readonlyPaths.length]!;
  return {
    pid: report.pid,
    ids: `uid ${JSON.stringify(report.uid)} gid ${JSON.stringify(report.gid)}`,
    groups: [...report.groups].sort((a, b) => a - b),
    caps: report.caps,
    noNewPrivs: report.noNewPrivs,
    seccomp: report.seccomp,
    umask: report.umask,
    cwd: report.cwd,
    env: [...new Set(report.env)].sort(),
    rlimits: report.rlimits,
    hostname: report.hostname,
    domainname: report.domainname,
    oomScoreAdj: report.oomScoreAdj,
    personality: report.personality,
    fdNumbers: Object.keys(report.fds).sort(),
    mounts,
    newNamespaces: HOST_NS.filter((ns) => report.namespaces[ns] !== undefined && report.namespaces[ns] !== readlinkSync(`/proc/self/ns/${ns}`)),
    masked,
    readonlyWrites,
    seccompMkdir: last.error ?? 'created',
  };
}

/** Runs the bundle twice under `rt`: the probe as the init, then a script of per-path checks. */
async function observe(name: RuntimeName, b: Bundle, base: BundleSpec): Promise<{ view?: View; failed?: CmdResult }> {
  await using rt = await runtimeCli(name);
  const spec = structuredClone(base);
  spec.process.args = ['/probe'];
  await b.writeConfig(spec);
  const first = await rt.run(['run', '--bundle', b.dir, newId(name.replace(/-.*/, ''))]);
  if (first.code !== 0) return { failed: first };

  const paths = [
    ...(spec.linux.maskedPaths ?? []).map((p) => `/probe stat ${p}`),
    ...(spec.linux.readonlyPaths ?? []).map((p) => `/probe write ${p}/berth-diff-probe`),
    '/probe syscall mkdir /tmp/berth-diff-dir',
  ];
  spec.process.args = ['sh', '-c', paths.join('; ')];
  await b.writeConfig(spec);
  const second = await rt.run(['run', '--bundle', b.dir, newId(name.replace(/-.*/, ''))]);
  if (second.code !== 0) return { failed: second };
  const checks = second.stdout.trim().split('\n');
  assert.equal(checks.length, paths.length, `one result per check under ${name}\n${describeResult(second)}`);
  await b.writeConfig(base);
  return { view: viewOf(parseProbe<ProbeReport>(first.stdout), checks, spec) };
}

/** Field-by-field differences, one line each. */
function differences(ours: View, theirs: View, ref: string): string[] {
  const out: string[] = [];
  const show = (v: unknown) => JSON.stringify(v);
  for (const key of Object.keys(ours) as Array<keyof View>) {
    const a = ours[key];
    const b = theirs[key];
    if (key === 'mounts' || key === 'masked' || key === 'readonlyWrites') {
      const am = a as Record<string, string>;
      const bm = b as Record<string, string>;
      for (const p of [...new Set([...Object.keys(am), ...Object.keys(bm)])].sort()) {
        if (am[p] !== bm[p]) out.push(`${key} ${p}: berth-runtime ${am[p] ?? '(none)'}, ${ref} ${bm[p] ?? '(none)'}`);
      }
    } else if (show(a) !== show(b)) {
      out.push(`${key}: berth-runtime ${show(a)}, ${ref} ${show(b)}`);
    }
  }
  return out;
}

/**
 * Differences berth has on purpose. Each takes the list of differences and
 * removes the one it explains after checking berth's side exactly; anything
 * it does not match stays and fails the test.
 */
interface Exception {
  why: string;
  applies(line: string): boolean;
  /** Checks berth's value; throws when berth is not what the exception says. */
  check(ours: View): void;
}

const EXCEPTIONS: Exception[] = [
  {
    // The spec's cgroup mount is "ro". runc 1.1 leaves the tmpfs that holds
    // the v1 hierarchies writable (only the hierarchy binds are read-only);
    // later runc versions, and berth, remount it read-only as asked.
    why: 'berth remounts the /sys/fs/cgroup tmpfs read-only, as the spec\'s "ro" asks; runc 1.1 leaves it rw',
    applies: (l) => /^mounts \/sys\/fs\/cgroup: berth-runtime tmpfs ro,nosuid,nodev,noexec, \S+ tmpfs rw,nosuid,nodev,noexec$/.test(l),
    check: (v) => assert.equal(v.mounts['/sys/fs/cgroup'], 'tmpfs ro,nosuid,nodev,noexec'),
  },
  {
    // On a hybrid host (v1 controllers plus a cgroup2 mount at
    // /sys/fs/cgroup/unified) berth also binds the container's directory of
    // the unified hierarchy, as it binds name=systemd, so systemd-style
    // tools inside find their hybrid layout; runc 1.1 leaves it out.
    why: 'berth exposes the hybrid host\'s unified cgroup2 hierarchy at /sys/fs/cgroup/unified (read-only); runc 1.1 omits it',
    applies: (l) => /^mounts \/sys\/fs\/cgroup\/unified: berth-runtime cgroup2 ro,nosuid,nodev,noexec, \S+ \(none\)$/.test(l),
    check: (v) => assert.equal(v.mounts['/sys/fs/cgroup/unified'], 'cgroup2 ro,nosuid,nodev,noexec'),
  },
  {
    // runtime-spec 1.1 added `domainname`; runc 1.1 predates it and ignores
    // the field, leaving the kernel's "(none)". berth sets it.
    why: 'berth sets the spec\'s domainname; runc 1.1 ignores the field',
    applies: (l) => /^domainname: berth-runtime "diff\.example", \S+ "\(none\)"$/.test(l),
    check: (v) => assert.equal(v.domainname, 'diff.example'),
  },
];

async function compareWith(t: TestContext, ref: RuntimeName, config: (s: BundleSpec) => void): Promise<void> {
  await using b = await makeBundle({ config });
  const base = await b.readConfig();
  const theirs = await observe(ref, b, base);
  if (theirs.failed) {
    if (/hybrid mode not supported/.test(theirs.failed.stderr)) {
      t.skip(`${ref} cannot run containers on this hybrid cgroup host: ${theirs.failed.stderr.trim()}`);
      return;
    }
    assert.fail(`the reference runtime failed on the bundle\n${describeResult(theirs.failed)}`);
  }
  const ours = await observe('berth-runtime', b, base);
  if (ours.failed) assert.fail(`berth-runtime failed on a bundle ${ref} runs\n${describeResult(ours.failed)}`);

  const diffs = differences(ours.view!, theirs.view!, ref);
  const explained: string[] = [];
  const unexplained = diffs.filter((line) => {
    const ex = EXCEPTIONS.find((e) => e.applies(line));
    if (!ex) return true;
    ex.check(ours.view!);
    explained.push(`${line} (${ex.why})`);
    return false;
  });
  for (const line of explained) t.diagnostic(`expected difference: ${line}`);
  assert.deepEqual(unexplained, [], `berth-runtime and ${ref} differ:\n  ${unexplained.join('\n  ')}`);
  // The comparison must have had something to compare.
  assert.ok(Object.keys(ours.view!.mounts).length > 5);
}

for (const ref of ['runc', 'crun'] as const) {
  test(`the default spec gives the same container under berth-runtime and ${ref}`, { skip: skip ?? requires(ref) }, async (t) => {
    await compareWith(t, ref, () => {});
  });

  test(`user, groups, rlimits, capabilities, masked and read-only paths, hostname, tmpfs and seccomp match ${ref}`, { skip: skip ?? requires(ref) }, async (t) => {
    await compareWith(t, ref, withFeatures);
  });
}
