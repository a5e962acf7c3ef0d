import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import { CLONE_NEW, MS, S_IFBLK, S_IFCHR, S_IFIFO } from '../../oci/linux-constants.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { MOUNT_KIND, type PlanMount } from '../plan/plan.js';
import { capabilityMask } from './capabilities.js';
import { defaultSpec } from './default-spec.js';
import { fakeSpecHost, typicalHostFiles, type FakeFile } from './fake-spec-host.js';
import { lookupHome, processToPlan, resolveInRoot, specToPlan, type CreatePlanContext } from './to-plan.js';

function host(extra: Record<string, FakeFile> = {}) {
  return fakeSpecHost({
    ...typicalHostFiles(),
    '/b/rootfs': { kind: 'directory' },
    '/b/data': { kind: 'directory' },
    '/b/file.conf': { kind: 'file' },
    ...extra,
  });
}

function ctx(more: Partial<CreatePlanContext> = {}): CreatePlanContext {
  return {
    id: 'web',
    bundle: '/b',
    rootfs: '/b/rootfs',
    execFifo: '/run/berth-runtime/web/exec.fifo',
    consoleSocket: '/tmp/console.sock',
    cgroupVersion: 1,
    cgroupBinds: [
      { hostPath: '/sys/fs/cgroup/memory/berth/web', containerPath: 'memory' },
      { hostPath: '/sys/fs/cgroup/systemd/berth/web', containerPath: 'name=systemd' },
    ],
    host: host(),
    ...more,
  };
}

function spec(edit: (s: Spec) => void = () => {}): Spec {
  const s = defaultSpec();
  edit(s);
  return s;
}

function m(fields: Partial<PlanMount> & Pick<PlanMount, 'source' | 'target'>): PlanMount {
  return { fstype: '', flags: 0n, data: '', propagation: [], remountFlags: 0n, targetIsFile: false, kind: MOUNT_KIND.normal, ...fields };
}

const CGROUP_FLAGS = MS.NOEXEC | MS.NOSUID | MS.NODEV;
const DEFAULT_CAPS = capabilityMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);

test('specToPlan turns runc’s default spec into the plan runc would carry out', () => {
  const plan = specToPlan(defaultSpec(), ctx());
  assert.deepEqual(plan, {
    mode: 'create',
    containerId: 'web',
    cloneFlags: CLONE_NEW.PID | CLONE_NEW.NET | CLONE_NEW.IPC | CLONE_NEW.UTS | CLONE_NEW.NS,
    nsJoin: [],
    rootfs: '/b/rootfs',
    rootfsReadonly: true,
    rootPropagation: MS.SLAVE | MS.REC,
    noPivot: false,
    mounts: [
      m({ source: 'proc', target: '/proc', fstype: 'proc' }),
      m({ source: 'tmpfs', target: '/dev', fstype: 'tmpfs', flags: MS.NOSUID | MS.STRICTATIME, data: 'mode=755,size=65536k' }),
      m({
        source: 'devpts',
        target: '/dev/pts',
        fstype: 'devpts',
        flags: MS.NOSUID | MS.NOEXEC,
        data: 'newinstance,ptmxmode=0666,mode=0620,gid=5',
      }),
      m({ source: 'shm', target: '/dev/shm', fstype: 'tmpfs', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV, data: 'mode=1777,size=65536k' }),
      m({ source: 'mqueue', target: '/dev/mqueue', fstype: 'mqueue', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV }),
      m({ source: 'sysfs', target: '/sys', fstype: 'sysfs', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY }),
      m({ source: 'tmpfs', target: '/sys/fs/cgroup', fstype: 'tmpfs', flags: CGROUP_FLAGS, data: 'mode=755', kind: MOUNT_KIND.cgroupRoot }),
      m({
        source: '/sys/fs/cgroup/memory/berth/web',
        target: '/sys/fs/cgroup/memory',
        flags: MS.BIND | MS.REC,
        remountFlags: CGROUP_FLAGS | MS.RDONLY,
        kind: MOUNT_KIND.bind,
      }),
      m({
        source: '/sys/fs/cgroup/systemd/berth/web',
        target: '/sys/fs/cgroup/systemd',
        flags: MS.BIND | MS.REC,
        remountFlags: CGROUP_FLAGS | MS.RDONLY,
        kind: MOUNT_KIND.bind,
      }),
      m({ source: '', target: '/sys/fs/cgroup', flags: MS.BIND | MS.REMOUNT | CGROUP_FLAGS | MS.RDONLY }),
    ],
    devices: [
      { path: '/dev/null', type: S_IFCHR, major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0, bind: false },
      { path: '/dev/random', type: S_IFCHR, major: 1, minor: 8, mode: 0o666, uid: 0, gid: 0, bind: false },
      { path: '/dev/full', type: S_IFCHR, major: 1, minor: 7, mode: 0o666, uid: 0, gid: 0, bind: false },
      { path: '/dev/tty', type: S_IFCHR, major: 5, minor: 0, mode: 0o666, uid: 0, gid: 0, bind: false },
      { path: '/dev/zero', type: S_IFCHR, major: 1, minor: 5, mode: 0o666, uid: 0, gid: 0, bind: false },
      { path: '/dev/urandom', type: S_IFCHR, major: 1, minor: 9, mode: 0o666, uid: 0, gid: 0, bind: false },
    ],
    symlinks: [
      { target: 'pts/ptmx', path: '/dev/ptmx' },
      { target: '/proc/self/fd', path: '/dev/fd' },
      { target: '/proc/self/fd/0', path: '/dev/stdin' },
      { target: '/proc/self/fd/1', path: '/dev/stdout' },
      { target: '/proc/self/fd/2', path: '/dev/stderr' },
      { target: '/proc/kcore', path: '/dev/core' },
    ],
    maskedPaths: defaultSpec().linux!.maskedPaths,
    readonlyPaths: defaultSpec().linux!.readonlyPaths,
    sysctl: [],
    hostname: 'runc',
    domainname: undefined,
    rlimits: [{ resource: 7, soft: 1024n, hard: 1024n }],
    uid: 0,
    gid: 0,
    additionalGids: undefined,
    setgroupsDeny: false,
    startHooks: [],
    umask: undefined,
    capabilities: { bounding: DEFAULT_CAPS, effective: DEFAULT_CAPS, inheritable: 0n, permitted: DEFAULT_CAPS, ambient: 0n },
    noNewPrivileges: true,
    oomScoreAdj: undefined,
    personality: undefined,
    seccomp: undefined,
    args: ['sh'],
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm', 'HOME=/'],
    cwd: '/',
    terminal: true,
    consoleSocket: '/tmp/console.sock',
    consoleHeight: undefined,
    consoleWidth: undefined,
    execFifo: '/run/berth-runtime/web/exec.fifo',
    preserveFds: 0,
    newKeyring: true,
    keyringName: '_ses.web',
    parentWaits: false,
    consoleProxy: false,
    cgroupNsAfterSync: false,
    deviceRules: [],
  });
});

test('the rootless default spec creates a user namespace and bind-mounts devices and /sys', () => {
  const plan = specToPlan(defaultSpec({ rootless: true, hostUid: 1000, hostGid: 1000 }), ctx({ host: host({ '/sys': { kind: 'directory' } }) }));
  assert.equal(plan.cloneFlags, CLONE_NEW.PID | CLONE_NEW.IPC | CLONE_NEW.UTS | CLONE_NEW.NS | CLONE_NEW.USER);
  assert.ok(plan.devices.every((d) => d.bind));
  const sys = plan.mounts.find((x) => x.target === '/sys')!;
  assert.deepEqual(sys, m({
    source: '/sys',
    target: '/sys',
    flags: MS.BIND | MS.REC,
    remountFlags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RDONLY,
    kind: MOUNT_KIND.bind,
  }));
});

test('namespace paths are joined user first and mount last; a new cgroup namespace waits for the cgroups', () => {
  const plan = specToPlan(
    spec((s) => {
      s.linux!.namespaces = [
        { type: 'mount', path: '/proc/7/ns/mnt' },
        { type: 'network', path: '/run/netns/n1' },
        { type: 'pid' },
        { type: 'user', path: '/proc/7/ns/user' },
        { type: 'cgroup' },
        { type: 'uts' },
        { type: 'ipc', path: '/proc/7/ns/ipc' },
      ];
    }),
    ctx(),
  );
  assert.deepEqual(plan.nsJoin, [
    { type: CLONE_NEW.USER, path: '/proc/7/ns/user' },
    { type: CLONE_NEW.IPC, path: '/proc/7/ns/ipc' },
    { type: CLONE_NEW.NET, path: '/run/netns/n1' },
    { type: CLONE_NEW.NS, path: '/proc/7/ns/mnt' },
  ]);
  assert.equal(plan.cloneFlags, CLONE_NEW.PID | CLONE_NEW.UTS);
  assert.equal(plan.cgroupNsAfterSync, true);
});

test('with a cgroup namespace on v1 each hierarchy gets its own cgroup mount', () => {
  const plan = specToPlan(spec((s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); }), ctx({
    cgroupBinds: [
      { hostPath: '/sys/fs/cgroup/cpu,cpuacct/web', containerPath: 'cpu,cpuacct' },
      { hostPath: '/sys/fs/cgroup/systemd/web', containerPath: '/sys/fs/cgroup/systemd' },
      { hostPath: '/sys/fs/cgroup/unified/web', containerPath: 'unified' },
    ],
  }));
  const cg = plan.mounts.filter((x) => x.target.startsWith('/sys/fs/cgroup'));
  assert.deepEqual(cg, [
    m({ source: 'tmpfs', target: '/sys/fs/cgroup', fstype: 'tmpfs', flags: CGROUP_FLAGS, data: 'mode=755', kind: MOUNT_KIND.cgroupRoot }),
    m({ source: 'cgroup', target: '/sys/fs/cgroup/cpu,cpuacct', fstype: 'cgroup', flags: CGROUP_FLAGS | MS.RDONLY, data: 'cpu,cpuacct' }),
    m({ source: 'systemd', target: '/sys/fs/cgroup/systemd', fstype: 'cgroup', flags: CGROUP_FLAGS | MS.RDONLY, data: 'name=systemd' }),
    m({ source: 'cgroup2', target: '/sys/fs/cgroup/unified', fstype: 'cgroup2', flags: CGROUP_FLAGS | MS.RDONLY }),
    m({ source: '', target: '/sys/fs/cgroup', flags: MS.BIND | MS.REMOUNT | CGROUP_FLAGS | MS.RDONLY }),
  ]);
});

test('co-mounted v1 controllers are mounted with all their names; the hybrid unified hierarchy goes under unified', () => {
  const binds = [
    { hostPath: '/sys/fs/cgroup/cpu,cpuacct/web', containerPath: 'cpu' },
    { hostPath: '/sys/fs/cgroup/cpu,cpuacct/web', containerPath: 'cpuacct' },
    { hostPath: '/sys/fs/cgroup/unified/web', containerPath: '' },
  ];
  const withNs = specToPlan(spec((s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); }), ctx({ cgroupBinds: binds }));
  assert.deepEqual(
    withNs.mounts.filter((x) => x.fstype.startsWith('cgroup')).map((x) => [x.target, x.fstype, x.data]),
    [
      ['/sys/fs/cgroup/cpu', 'cgroup', 'cpu,cpuacct'],
      ['/sys/fs/cgroup/cpuacct', 'cgroup', 'cpu,cpuacct'],
      ['/sys/fs/cgroup/unified', 'cgroup2', ''],
    ],
  );
  const noNs = specToPlan(defaultSpec(), ctx({ cgroupBinds: binds }));
  assert.deepEqual(
    noNs.mounts.filter((x) => x.kind === MOUNT_KIND.bind).map((x) => [x.source, x.target]),
    [
      ['/sys/fs/cgroup/cpu,cpuacct/web', '/sys/fs/cgroup/cpu'],
      ['/sys/fs/cgroup/cpu,cpuacct/web', '/sys/fs/cgroup/cpuacct'],
      ['/sys/fs/cgroup/unified/web', '/sys/fs/cgroup/unified'],
    ],
  );
});

test('on cgroup v2 the cgroup mount is cgroup2 with a namespace, else a bind of the container’s cgroup', () => {
  const binds = [{ hostPath: '/sys/fs/cgroup/berth/web', containerPath: '' }];
  const withNs = specToPlan(spec((s) => { s.linux!.namespaces!.push({ type: 'cgroup' }); }), ctx({ cgroupVersion: 2, cgroupBinds: binds }));
  assert.deepEqual(withNs.mounts.filter((x) => x.target === '/sys/fs/cgroup'), [
    m({ source: 'cgroup', target: '/sys/fs/cgroup', fstype: 'cgroup2', flags: MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.RELATIME | MS.RDONLY }),
  ]);
  const noNs = specToPlan(defaultSpec(), ctx({ cgroupVersion: 2, cgroupBinds: binds }));
  assert.deepEqual(noNs.mounts.filter((x) => x.target === '/sys/fs/cgroup'), [
    m({
      source: '/sys/fs/cgroup/berth/web',
      target: '/sys/fs/cgroup',
      flags: MS.BIND | MS.REC,
      remountFlags: CGROUP_FLAGS | MS.RDONLY,
      kind: MOUNT_KIND.bind,
    }),
  ]);
});

test('bind mounts resolve sources against the bundle, know file targets and remount for flags', () => {
  const plan = specToPlan(
    spec((s) => {
      s.mounts!.push(
        { destination: '/data', type: 'none', source: 'data', options: ['rbind', 'ro', 'nosuid', 'rslave'] },
        { destination: 'etc/app.conf', type: 'bind', source: '/b/file.conf' },
        { destination: '/x', source: '/b/data', options: ['bind', 'rw'] },
      );
    }),
    ctx(),
  );
  assert.deepEqual(plan.mounts.slice(-3), [
    m({
      source: '/b/data',
      target: '/data',
      flags: MS.BIND | MS.REC,
      remountFlags: MS.RDONLY | MS.NOSUID,
      propagation: [MS.SLAVE | MS.REC],
      kind: MOUNT_KIND.bind,
    }),
    m({ source: '/b/file.conf', target: '/etc/app.conf', flags: MS.BIND, targetIsFile: true, kind: MOUNT_KIND.bind }),
    m({ source: '/b/data', target: '/x', flags: MS.BIND, kind: MOUNT_KIND.bind }),
  ]);
});

test('a missing bind source is CONFIG_INVALID naming the mount', () => {
  assert.throws(
    () => specToPlan(spec((s) => { s.mounts!.push({ destination: '/d', source: 'nope', options: ['bind'] }); }), ctx()),
    (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === 'mounts[7].source',
  );
});

test('spec devices replace default ones on the same path; a user namespace binds them', () => {
  const s = spec((s) => {
    s.linux!.devices = [
      { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o20600, uid: 5, gid: 6 },
      { path: '/dev/sda', type: 'b', major: 8, minor: 0 },
      { path: '/dev/fifo', type: 'p' },
      { path: '/dev/fuse', type: 'u', major: 10, minor: 229 },
    ];
  });
  const plan = specToPlan(s, ctx());
  assert.deepEqual(plan.devices.map((d) => d.path), [
    '/dev/random', '/dev/full', '/dev/tty', '/dev/zero', '/dev/urandom', '/dev/null', '/dev/sda', '/dev/fifo', '/dev/fuse',
  ]);
  assert.deepEqual(plan.devices[5], { path: '/dev/null', type: S_IFCHR, major: 1, minor: 3, mode: 0o600, uid: 5, gid: 6, bind: false });
  assert.equal(plan.devices[6]!.type, S_IFBLK);
  assert.equal(plan.devices[7]!.type, S_IFIFO);
  assert.equal(plan.devices[8]!.type, S_IFCHR);
  assert.ok(specToPlan(s, ctx({ userns: true })).devices.every((d) => d.bind));
});

test('a bind-mounted /dev gets no devices and no symlinks (runc’s needsSetupDev)', () => {
  const plan = specToPlan(
    spec((s) => { s.mounts![1] = { destination: '/dev', type: 'bind', source: '/b/data', options: ['rbind'] }; }),
    ctx(),
  );
  assert.deepEqual(plan.devices, []);
  assert.deepEqual(plan.symlinks, []);
});

test('/dev/core is linked only when /proc/kcore exists', () => {
  const files = typicalHostFiles();
  delete files['/proc/kcore'];
  const plan = specToPlan(defaultSpec(), ctx({ host: fakeSpecHost({ ...files, '/b/rootfs': { kind: 'directory' } }) }));
  assert.ok(!plan.symlinks.some((l) => l.path === '/dev/core'));
});

test('rootfsPropagation is applied recursively and private is refused without pivot_root', () => {
  assert.equal(specToPlan(spec((s) => { s.linux!.rootfsPropagation = 'shared'; }), ctx()).rootPropagation, MS.SHARED | MS.REC);
  assert.equal(specToPlan(spec((s) => { s.linux!.rootfsPropagation = 'private'; }), ctx()).rootPropagation, MS.PRIVATE | MS.REC);
  assert.throws(
    () => specToPlan(spec((s) => { s.linux!.rootfsPropagation = 'rprivate'; }), ctx({ noPivot: true })),
    (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === 'linux.rootfsPropagation',
  );
  assert.equal(specToPlan(spec((s) => { s.linux!.rootfsPropagation = 'slave'; }), ctx({ noPivot: true })).noPivot, true);
});

test('capabilities: none means none, ambient needs permitted and inheritable, unknown-to-kernel caps drop', () => {
  assert.deepEqual(specToPlan(spec((s) => { delete s.process!.capabilities; }), ctx()).capabilities, {
    bounding: 0n, effective: 0n, inheritable: 0n, permitted: 0n, ambient: 0n,
  });
  const caps = specToPlan(
    spec((s) => {
      s.process!.capabilities = {
        bounding: ['CAP_KILL', 'CAP_BPF'],
        permitted: ['CAP_KILL', 'CAP_CHOWN'],
        inheritable: ['CAP_KILL'],
        ambient: ['CAP_KILL', 'CAP_CHOWN'],
      };
    }),
    ctx({ host: host({ '/proc/sys/kernel/cap_last_cap': { kind: 'file', content: '38\n' } }) }),
  ).capabilities;
  assert.equal(caps.bounding, 1n << 5n);
  assert.equal(caps.ambient, 1n << 5n);
  assert.equal(caps.effective, 0n);
});

test('process details: env deduplicated, HOME from the container passwd, groups, umask, console, oom, personality, sysctl', () => {
  const files = {
    '/b/rootfs/etc': { kind: 'directory' as const },
    '/b/rootfs/etc/passwd': { kind: 'symlink' as const, target: '/usr/share/passwd' },
    '/b/rootfs/usr/share/passwd': { kind: 'file' as const, content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
  };
  const plan = specToPlan(
    spec((s) => {
      s.process!.env = ['A=1', 'B=2', 'A=3'];
      s.process!.user = { uid: 1000, gid: 1000, umask: 0o22, additionalGids: [10, 20] };
      s.process!.consoleSize = { height: 40, width: 120 };
      s.process!.oomScoreAdj = -500;
      s.linux!.personality = { domain: 'LINUX32' };
      s.linux!.sysctl = { 'net/ipv4/conf/eth0.1/forwarding': '1', 'kernel.shmmax': '1' };
      s.domainname = 'example.org';
    }),
    ctx({ host: host(files) }),
  );
  assert.deepEqual(plan.env, ['B=2', 'A=3', 'HOME=/home/app']);
  assert.equal(plan.uid, 1000);
  assert.deepEqual(plan.additionalGids, [10, 20]);
  assert.equal(plan.umask, 0o22);
  assert.equal(plan.consoleHeight, 40);
  assert.equal(plan.consoleWidth, 120);
  assert.equal(plan.oomScoreAdj, -500);
  assert.equal(plan.personality, 8);
  assert.equal(plan.domainname, 'example.org');
  assert.deepEqual(plan.sysctl, [
    { key: 'net.ipv4.conf.eth0/1.forwarding', value: '1' },
    { key: 'kernel.shmmax', value: '1' },
  ]);
  assert.deepEqual(specToPlan(spec((s) => { s.process!.env = ['HOME=/h']; }), ctx()).env, ['HOME=/h']);
  const noTerm = specToPlan(spec((s) => { s.process!.terminal = false; s.process!.consoleSize = { height: 1, width: 1 }; }), ctx());
  assert.equal(noTerm.consoleHeight, undefined);
});

test('setgroups denied with supplementary groups is CONFIG_INVALID', () => {
  assert.throws(
    () => specToPlan(spec((s) => { s.process!.user.additionalGids = [5]; }), ctx({ setgroupsDeny: true })),
    (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === 'process.user.additionalGids',
  );
  assert.equal(specToPlan(defaultSpec(), ctx({ setgroupsDeny: true })).setgroupsDeny, true);
});

test('keyring, fifo and foreground flags come from the context', () => {
  const plan = specToPlan(defaultSpec(), ctx({ noNewKeyring: true, parentWaits: true, preserveFds: 2, execFifo: undefined }));
  assert.equal(plan.newKeyring, false);
  assert.equal(plan.keyringName, undefined);
  assert.equal(plan.parentWaits, true);
  assert.equal(plan.preserveFds, 2);
  assert.equal(plan.execFifo, undefined);
});

test('seccomp is converted into the plan', () => {
  const plan = specToPlan(spec((s) => {
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
  }), ctx());
  assert.deepEqual(plan.seccomp, {
    defaultAction: 0x00050001,
    architectures: ['x86_64'],
    flags: 4,
    syscalls: [{ names: ['read'], action: 0x7fff0000, args: [] }],
  });
});

test('resolveInRoot keeps symlinks and .. inside the root', () => {
  const h = fakeSpecHost({
    '/r/etc': { kind: 'symlink', target: '../../../host-etc' },
    '/r/host-etc': { kind: 'directory' },
    '/r/a': { kind: 'symlink', target: '/b' },
    '/r/b': { kind: 'symlink', target: '/a' },
  });
  assert.equal(resolveInRoot(h, '/r', '/etc/passwd'), '/r/host-etc/passwd');
  assert.equal(resolveInRoot(h, '/r', '/../../etc/../x'), '/r/x');
  assert.equal(resolveInRoot(h, '/r', '/a/x'), undefined);
  assert.equal(lookupHome(h, '/r', 0), '/');
  assert.equal(lookupHome(h, undefined, 0), '/');
});

test('processToPlan joins every namespace of the container through /proc, user first and mount last', () => {
  const container = spec((s) => {
    s.linux!.namespaces!.push({ type: 'user' }, { type: 'cgroup' }, { type: 'time' });
    s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }];
    s.process!.oomScoreAdj = 100;
    s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['reboot'], action: 'SCMP_ACT_ERRNO' }] };
  });
  const plan = processToPlan(
    { user: { uid: 1, gid: 2 }, args: ['ps'], cwd: '/tmp', env: ['A=1'], noNewPrivileges: false },
    { id: 'web', spec: container, initPid: 123, consoleSocket: '/c.sock', parentWaits: true, host: host() },
  );
  assert.equal(plan.mode, 'exec');
  assert.deepEqual(plan.nsJoin, [
    { type: CLONE_NEW.USER, path: '/proc/123/ns/user' },
    { type: CLONE_NEW.IPC, path: '/proc/123/ns/ipc' },
    { type: CLONE_NEW.UTS, path: '/proc/123/ns/uts' },
    { type: CLONE_NEW.NET, path: '/proc/123/ns/net' },
    { type: CLONE_NEW.PID, path: '/proc/123/ns/pid' },
    { type: CLONE_NEW.CGROUP, path: '/proc/123/ns/cgroup' },
    { type: CLONE_NEW.TIME, path: '/proc/123/ns/time' },
    { type: CLONE_NEW.NS, path: '/proc/123/ns/mnt' },
  ]);
  assert.equal(plan.cloneFlags, 0n);
  assert.equal(plan.rootfs, undefined);
  assert.deepEqual(plan.mounts, []);
  assert.deepEqual(plan.args, ['ps']);
  assert.deepEqual(plan.env, ['A=1', 'HOME=/']);
  assert.equal(plan.uid, 1);
  assert.equal(plan.gid, 2);
  // Falls back to the container's rlimits, capabilities and oom score.
  assert.deepEqual(plan.rlimits, [{ resource: 7, soft: 100n, hard: 200n }]);
  assert.equal(plan.capabilities.bounding, DEFAULT_CAPS);
  assert.equal(plan.oomScoreAdj, 100);
  // The container's no_new_privs holds for exec too.
  assert.equal(plan.noNewPrivileges, true);
  assert.equal(plan.seccomp!.syscalls.length, 1);
  assert.equal(plan.keyringName, '_ses.web');
  assert.equal(plan.parentWaits, true);
  assert.equal(plan.consoleSocket, '/c.sock');
  assert.equal(plan.cgroupNsAfterSync, false);
});

test('processToPlan uses the exec process’s own rlimits and capabilities when given', () => {
  const plan = processToPlan(
    {
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      cwd: '/',
      rlimits: [{ type: 'RLIMIT_CORE', soft: 0, hard: 0 }],
      capabilities: { bounding: ['CAP_CHOWN'] },
    },
    { id: 'c', spec: defaultSpec(), initPid: 9, host: host() },
  );
  assert.deepEqual(plan.rlimits, [{ resource: 4, soft: 0n, hard: 0n }]);
  assert.equal(plan.capabilities.bounding, 1n);
  assert.deepEqual(plan.nsJoin.map((j) => j.path), ['/proc/9/ns/ipc', '/proc/9/ns/uts', '/proc/9/ns/net', '/proc/9/ns/pid', '/proc/9/ns/mnt']);
});

const V2_DIR = '/sys/fs/cgroup/berth/web';
const ACC = { m: 1, r: 2, w: 4, rwm: 7 };

test('specToPlan on cgroup v2 sends the device filter: deny-all, then runc’s allowed devices', () => {
  const plan = specToPlan(defaultSpec(), ctx({ cgroupVersion: 2, cgroupBinds: [], deviceCgroup: V2_DIR }));
  assert.equal(plan.deviceCgroup, V2_DIR);
  assert.deepEqual(plan.deviceRules[0], { allow: false, type: 'a', major: -1, minor: -1, access: ACC.rwm });
  const rest = plan.deviceRules.slice(1);
  assert.ok(rest.every((r) => r.allow && r.type !== 'a'), 'after the default come only grants');
  const has = (type: string, major: number, minor: number, access: number) =>
    rest.some((r) => r.type === type && r.major === major && r.minor === minor && r.access === access);
  assert.ok(has('c', -1, -1, ACC.m), 'mknod of any char device');
  assert.ok(has('b', -1, -1, ACC.m), 'mknod of any block device');
  for (const [major, minor] of [[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2], [10, 200], [136, -1]] as const) {
    assert.ok(has('c', major, minor, ACC.rwm), `c ${major}:${minor} rwm`);
  }
  assert.equal(rest.length, 12);
});

test('specToPlan sends no device filter on cgroup v1 or without a cgroup directory', () => {
  const v1 = specToPlan(defaultSpec(), ctx({ deviceCgroup: V2_DIR }));
  assert.equal(v1.deviceCgroup, undefined);
  assert.deepEqual(v1.deviceRules, []);
  const none = specToPlan(defaultSpec(), ctx({ cgroupVersion: 2, cgroupBinds: [] }));
  assert.equal(none.deviceCgroup, undefined);
  assert.deepEqual(none.deviceRules, []);
});

test('specToPlan sends no device filter when the rules allow every device (privileged)', () => {
  const s = spec((x) => { x.linux!.resources = { devices: [{ allow: true, access: 'rwm' }] }; });
  const plan = specToPlan(s, ctx({ cgroupVersion: 2, cgroupBinds: [], deviceCgroup: V2_DIR }));
  assert.equal(plan.deviceCgroup, undefined);
  assert.deepEqual(plan.deviceRules, []);
});

test('specToPlan applies device rules with the v1 controller’s semantics: a later deny takes bits from a grant', () => {
  const plan = specToPlan(defaultSpec(), ctx({
    cgroupVersion: 2,
    cgroupBinds: [],
    deviceCgroup: V2_DIR,
    deviceRules: [
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
      { allow: false, type: 'c', major: 1, minor: 3, access: 'w' },
      { allow: true, type: 'b', major: 8, access: 'r' },
    ],
  }));
  assert.deepEqual(plan.deviceRules, [
    { allow: false, type: 'a', major: -1, minor: -1, access: ACC.rwm },
    { allow: true, type: 'b', major: 8, minor: -1, access: ACC.r },
    { allow: true, type: 'c', major: 1, minor: 3, access: ACC.r },
  ]);
});

test('specToPlan keeps an allow-by-default rule set as a default and its deny exceptions', () => {
  const plan = specToPlan(defaultSpec(), ctx({
    cgroupVersion: 2,
    cgroupBinds: [],
    deviceCgroup: V2_DIR,
    deviceRules: [{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'wm' }],
  }));
  assert.deepEqual(plan.deviceRules, [
    { allow: true, type: 'a', major: -1, minor: -1, access: ACC.rwm },
    { allow: false, type: 'c', major: 1, minor: 5, access: ACC.w | ACC.m },
  ]);
});

test('specToPlan refuses a device rule number the cgroup v2 filter cannot compare, naming the field', () => {
  const s = spec((x) => { x.linux!.resources = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 0x80000000, access: 'r' }] }; });
  assert.throws(
    () => specToPlan(s, ctx({ cgroupVersion: 2, cgroupBinds: [], deviceCgroup: V2_DIR })),
    (e) => isBerthError(e) && e.code === 'CONFIG_INVALID' && /linux\.resources\.devices\[1\]\.major/.test(e.message),
  );
});
