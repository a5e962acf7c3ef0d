import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BerthError, ErrorCode } from '../../errors/index.js';
import { NSFS_MAGIC, PROC_SUPER_MAGIC } from '../../oci/linux-constants.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { defaultSpec } from './default-spec.js';
import { fakeSpecHost, typicalHostFiles, type FakeFile } from './fake-spec-host.js';
import { findSpecProblems, normalizeSysctlKey, validateProcess, validateSpec, type ValidateOptions } from './validate-spec.js';

function host(extra: Record<string, FakeFile | undefined> = {}) {
  const files = { ...typicalHostFiles(), ...extra };
  for (const [k, v] of Object.entries(files)) if (v === undefined) delete files[k];
  return fakeSpecHost(files as Record<string, FakeFile>);
}

/** A default spec changed by `edit`. */
function spec(edit: (s: Spec & Record<string, unknown>) => void = () => {}): Spec {
  const s = defaultSpec() as Spec & Record<string, unknown>;
  edit(s);
  return s;
}

function problems(s: unknown, options: ValidateOptions = {}): BerthError[] {
  return findSpecProblems(s, { host: host(), ...options });
}

/** Exactly one problem, with this code and field, whose message starts with the field. */
function expectProblem(s: unknown, code: ErrorCode, field: string, options: ValidateOptions = {}, pattern?: RegExp): void {
  const found = problems(s, options);
  assert.equal(found.length, 1, `expected one problem at ${field}, got: ${found.map((p) => p.message).join(' | ') || 'none'}`);
  const p = found[0]!;
  assert.equal(p.code, code, p.message);
  assert.equal(p.field, field, p.message);
  assert.ok(p.message.startsWith(`${field}: `), p.message);
  assert.equal(p.message, p.message.charAt(0).toLowerCase() + p.message.slice(1));
  if (pattern) assert.match(p.message, pattern);
}

test('the default spec is valid and validateSpec returns it', () => {
  const s = defaultSpec();
  assert.equal(validateSpec(s, { host: host() }), s);
});

test('validateSpec throws the first problem', () => {
  assert.throws(
    () => validateSpec(spec((s) => { s.process!.cwd = 'rel'; }), { host: host() }),
    (err: unknown) => (err as BerthError).field === 'process.cwd',
  );
});

test('types are checked everywhere with the JSON path of the value', () => {
  expectProblem({ ociVersion: 1 }, 'CONFIG_INVALID', 'ociVersion');
  expectProblem(spec((s) => { s.process!.args = 'sh' as never; }), 'CONFIG_INVALID', 'process.args', {}, /must be an array, not a string/);
  expectProblem(spec((s) => { s.process!.args = ['sh', 3 as never]; }), 'CONFIG_INVALID', 'process.args[1]');
  expectProblem(spec((s) => { s.process!.user.uid = -1; }), 'CONFIG_INVALID', 'process.user.uid', {}, /out of range for uint32/);
  expectProblem(spec((s) => { s.process!.user.gid = 1.5; }), 'CONFIG_INVALID', 'process.user.gid');
  expectProblem(spec((s) => { s.process!.terminal = 'yes' as never; }), 'CONFIG_INVALID', 'process.terminal');
  expectProblem(spec((s) => { s.process!.oomScoreAdj = 1001; }), 'CONFIG_INVALID', 'process.oomScoreAdj');
  expectProblem(spec((s) => { s.mounts![2]!.options = ['nosuid', null as never]; }), 'CONFIG_INVALID', 'mounts[2].options[1]');
  expectProblem(spec((s) => { s.linux!.namespaces![2] = { path: '/x' } as never; }), 'CONFIG_INVALID', 'linux.namespaces[2].type', {}, /is required/);
  expectProblem(spec((s) => { s.linux!.resources!.memory = { limit: '1g' as never }; }), 'CONFIG_INVALID', 'linux.resources.memory.limit');
  expectProblem(spec((s) => { s.linux!.sysctl = { 'net.ipv4.ip_forward': 1 as never }; }), 'CONFIG_INVALID', 'linux.sysctl["net.ipv4.ip_forward"]');
  expectProblem(spec((s) => { s.annotations = { a: ['b'] as never }; }), 'CONFIG_INVALID', 'annotations["a"]');
  expectProblem(spec((s) => { s.hooks = { prestart: [{ path: '/bin/true', timeout: 'x' as never }] }; }), 'CONFIG_INVALID', 'hooks.prestart[0].timeout');
  expectProblem(spec((s) => { s.process!.env = ['A=\0b']; }), 'CONFIG_INVALID', 'process.env[0]', {}, /NUL/);
  expectProblem('nope', 'CONFIG_INVALID', 'config.json');
});

test('unknown properties are allowed and null optional values count as absent', () => {
  assert.deepEqual(problems(spec((s) => { s.somethingNew = { x: 1 }; (s.process as unknown as Record<string, unknown>).futureField = true; })), []);
  const s = spec((s) => { (s as Record<string, unknown>).hooks = null; s.linux!.seccomp = null as never; });
  assert.deepEqual(problems(s), []);
  assert.ok(!Object.hasOwn(s, 'hooks'));
});

test('ociVersion must be 1.0 to 1.3', () => {
  for (const ok of ['1.0.0', '1.0.2-dev', '1.1.0', '1.2.1', '1.3.0', '1.3.7+build']) {
    assert.deepEqual(problems(spec((s) => { s.ociVersion = ok; })), [], ok);
  }
  expectProblem(spec((s) => { s.ociVersion = '0.6.0'; }), 'CONFIG_UNSUPPORTED', 'ociVersion');
  expectProblem(spec((s) => { s.ociVersion = '2.0.0'; }), 'CONFIG_UNSUPPORTED', 'ociVersion');
  expectProblem(spec((s) => { s.ociVersion = '1.4.0'; }), 'CONFIG_UNSUPPORTED', 'ociVersion');
  expectProblem(spec((s) => { s.ociVersion = 'one'; }), 'CONFIG_INVALID', 'ociVersion');
  expectProblem(spec((s) => { delete (s as Record<string, unknown>).ociVersion; }), 'CONFIG_INVALID', 'ociVersion', {}, /is required/);
});

test('root is required and the rootfs must exist when the bundle is known', () => {
  expectProblem(spec((s) => { delete s.root; }), 'CONFIG_INVALID', 'root');
  expectProblem(spec((s) => { s.root!.path = ''; }), 'CONFIG_INVALID', 'root.path');
  expectProblem(spec(), 'BUNDLE_INVALID', 'root.path', { bundle: '/b' }, /\/b\/rootfs` does not exist/);
  assert.deepEqual(findSpecProblems(spec(), { bundle: '/b', host: host({ '/b/rootfs': { kind: 'directory' } }) }), []);
  assert.equal(findSpecProblems(spec(), { bundle: '/b', host: host({ '/b/rootfs': { kind: 'file' } }) })[0]!.code, 'BUNDLE_INVALID');
});

test('process: required for create, args non-empty, cwd absolute, env NAME=value', () => {
  expectProblem(spec((s) => { delete s.process; }), 'CONFIG_INVALID', 'process');
  assert.deepEqual(problems(spec((s) => { delete s.process; }), { requireProcess: false }), []);
  expectProblem(spec((s) => { s.process!.args = []; }), 'CONFIG_INVALID', 'process.args');
  expectProblem(spec((s) => { delete s.process!.args; }), 'CONFIG_INVALID', 'process.args');
  expectProblem(spec((s) => { s.process!.cwd = 'tmp'; }), 'CONFIG_INVALID', 'process.cwd');
  expectProblem(spec((s) => { s.process!.env = ['A=1', 'B']; }), 'CONFIG_INVALID', 'process.env[1]');
  expectProblem(spec((s) => { s.process!.env = ['=x']; }), 'CONFIG_INVALID', 'process.env[0]');
  expectProblem(spec((s) => { s.process!.consoleSize = { height: 70000, width: 80 }; }), 'CONFIG_INVALID', 'process.consoleSize.height');
});

test('capability names must be known', () => {
  expectProblem(
    spec((s) => { s.process!.capabilities!.permitted = ['CAP_KILL', 'CAP_FLY']; }),
    'CONFIG_INVALID',
    'process.capabilities.permitted[1]',
    {},
    /unknown capability `CAP_FLY`/,
  );
});

test('rlimits: known types, soft <= hard, no duplicates', () => {
  expectProblem(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }]; }), 'CONFIG_INVALID', 'process.rlimits[0].type');
  expectProblem(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 2, hard: 1 }]; }), 'CONFIG_INVALID', 'process.rlimits[0]', {}, /soft limit 2 is above hard limit 1/);
  expectProblem(
    spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 0, hard: 0 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }]; }),
    'CONFIG_INVALID',
    'process.rlimits[1].type',
  );
  expectProblem(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1 } as never]; }), 'CONFIG_INVALID', 'process.rlimits[0].hard');
  assert.deepEqual(problems(spec((s) => { s.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 2 ** 64, hard: 2 ** 64 }]; })), []);
});

test('apparmor, selinux, scheduler, ioPriority and exec CPU affinity are refused as unsupported', () => {
  expectProblem(spec((s) => { s.process!.apparmorProfile = 'docker-default'; }), 'CONFIG_UNSUPPORTED', 'process.apparmorProfile', {}, /AppArmor is not enabled on this system/);
  const aa = host({ '/sys/module/apparmor/parameters/enabled': { kind: 'file', content: 'Y\n' } });
  const withAa = findSpecProblems(spec((s) => { s.process!.apparmorProfile = 'p'; }), { host: aa });
  assert.equal(withAa[0]!.code, 'CONFIG_UNSUPPORTED');
  assert.match(withAa[0]!.message, /cannot apply AppArmor/);
  expectProblem(spec((s) => { s.process!.selinuxLabel = 'system_u:system_r:container_t:s0'; }), 'CONFIG_UNSUPPORTED', 'process.selinuxLabel');
  expectProblem(spec((s) => { s.process!.scheduler = { policy: 'SCHED_FIFO', priority: 1 }; }), 'CONFIG_UNSUPPORTED', 'process.scheduler');
  expectProblem(spec((s) => { s.process!.ioPriority = { class: 'IOPRIO_CLASS_IDLE', priority: 0 }; }), 'CONFIG_UNSUPPORTED', 'process.ioPriority');
  expectProblem(spec((s) => { s.process!.execCPUAffinity = { initial: '0' }; }), 'CONFIG_UNSUPPORTED', 'process.execCPUAffinity');
});

test('namespaces: known types, no duplicates, a mount namespace', () => {
  expectProblem(spec((s) => { s.linux!.namespaces!.push({ type: 'pidfd' as never }); }), 'CONFIG_INVALID', 'linux.namespaces[5].type', {}, /unknown namespace type `pidfd`/);
  expectProblem(spec((s) => { s.linux!.namespaces!.push({ type: 'pid' }); }), 'CONFIG_INVALID', 'linux.namespaces[5].type', {}, /given twice/);
  expectProblem(spec((s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount'); }), 'CONFIG_UNSUPPORTED', 'linux.namespaces');
});

test('namespace paths must exist and be nsfs files', () => {
  const s = (path: string): Spec => spec((s) => { s.linux!.namespaces![2] = { type: 'ipc', path }; });
  expectProblem(s('/tmp/x'), 'CONFIG_INVALID', 'linux.namespaces[2].path', {}, /`\/tmp\/x` does not exist/);
  expectProblem(s('relative/ns'), 'CONFIG_INVALID', 'linux.namespaces[2].path');
  const files = { '/tmp/x': { kind: 'file' as const } };
  assert.equal(
    findSpecProblems(s('/tmp/x'), { host: host(files) })[0]!.message,
    'linux.namespaces[2].path: `/tmp/x` is not a namespace file',
  );
  assert.deepEqual(findSpecProblems(s('/run/netns/x'), { host: host({ '/run/netns/x': { kind: 'file', fsType: NSFS_MAGIC } }) }), []);
  assert.deepEqual(findSpecProblems(s('/proc/self/ns/ipc'), { host: host() }), []);
});

test('namespaces the kernel lacks are unsupported', () => {
  const noTime = host({ '/proc/self/timens_offsets': undefined });
  const found = findSpecProblems(spec((s) => { s.linux!.namespaces!.push({ type: 'time' }); }), { host: noTime });
  assert.equal(found.length, 1);
  assert.equal(found[0]!.code, 'CONFIG_UNSUPPORTED');
  assert.equal(found[0]!.field, 'linux.namespaces[5].type');
});

test('user namespaces: mappings needed when created, refused without one', () => {
  const userns = (s: Spec): void => { s.linux!.namespaces!.push({ type: 'user' }); };
  const maps = [{ containerID: 0, hostID: 100000, size: 65536 }];
  expectProblem(spec((s) => { userns(s); s.linux!.gidMappings = maps; }), 'CONFIG_INVALID', 'linux.uidMappings');
  expectProblem(spec((s) => { userns(s); s.linux!.uidMappings = maps; }), 'CONFIG_INVALID', 'linux.gidMappings');
  expectProblem(spec((s) => { s.linux!.uidMappings = maps; }), 'CONFIG_INVALID', 'linux.uidMappings', {}, /no user namespace/);
  assert.deepEqual(problems(spec((s) => { userns(s); s.linux!.uidMappings = maps; s.linux!.gidMappings = maps; })), []);
  expectProblem(
    spec((s) => { userns(s); s.linux!.uidMappings = [{ containerID: 0, hostID: 0, size: 0 }]; s.linux!.gidMappings = maps; }),
    'CONFIG_INVALID',
    'linux.uidMappings[0].size',
  );
  expectProblem(
    spec((s) => { userns(s); s.linux!.uidMappings = [{ containerID: 4294967295, hostID: 0, size: 2 }]; s.linux!.gidMappings = maps; }),
    'CONFIG_INVALID',
    'linux.uidMappings[0]',
  );
});

test('a joined user namespace with mappings must have those mappings (checked through /proc)', () => {
  const files = {
    '/proc/42/ns/user': { kind: 'file' as const, fsType: NSFS_MAGIC },
    '/proc/42/uid_map': { kind: 'file' as const, content: '         0     100000      65536\n' },
    '/proc/42/gid_map': { kind: 'file' as const, content: '         0     100000      65536\n' },
  };
  const s = (hostID: number): Spec =>
    spec((s) => {
      s.linux!.namespaces!.push({ type: 'user', path: '/proc/42/ns/user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID, size: 65536 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    });
  assert.deepEqual(findSpecProblems(s(100000), { host: host(files) }), []);
  const found = findSpecProblems(s(200000), { host: host(files) });
  assert.equal(found.length, 1);
  assert.equal(found[0]!.field, 'linux.uidMappings');
});

test('rootless: a user namespace is required and uid=/gid= mount options must be mapped', () => {
  expectProblem(spec(), 'CONFIG_INVALID', 'linux.namespaces', { rootless: true }, /user namespace/);
  const rootless = defaultSpec({ rootless: true, hostUid: 1000, hostGid: 1000 });
  rootless.mounts![2]!.options!.push('gid=5');
  expectProblem(rootless, 'CONFIG_INVALID', 'mounts[2].options[5]', { rootless: true }, /gid 5 is not mapped/);
});

test('hostname and domainname need a UTS namespace', () => {
  const noUts = (s: Spec): void => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts'); };
  expectProblem(spec(noUts), 'CONFIG_INVALID', 'hostname', {}, /UTS namespace/);
  expectProblem(spec((s) => { noUts(s); delete s.hostname; s.domainname = 'example.org'; }), 'CONFIG_INVALID', 'domainname');
  expectProblem(spec((s) => { s.hostname = 'x'.repeat(65); }), 'CONFIG_INVALID', 'hostname');
});

test('sysctls follow runc: net.* needs a private network namespace, IPC ones an IPC namespace', () => {
  const withSysctl = (key: string, edit: (s: Spec) => void = () => {}): Spec =>
    spec((s) => { s.linux!.sysctl = { [key]: '1' }; edit(s); });
  assert.deepEqual(problems(withSysctl('net.ipv4.ip_forward')), []);
  assert.deepEqual(problems(withSysctl('kernel.shmmax')), []);
  assert.deepEqual(problems(withSysctl('fs.mqueue.msg_max')), []);
  assert.deepEqual(problems(withSysctl('kernel.domainname')), []);
  assert.deepEqual(problems(withSysctl('net/ipv4/conf/eth0.100/rp_filter')), []);
  const noNet = (s: Spec): void => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network'); };
  expectProblem(withSysctl('net.ipv4.ip_forward', noNet), 'CONFIG_INVALID', 'linux.sysctl["net.ipv4.ip_forward"]', {}, /host's network namespace/);
  const hostNet = (s: Spec): void => { s.linux!.namespaces![1] = { type: 'network', path: '/proc/self/ns/net' }; };
  expectProblem(withSysctl('net.core.somaxconn', hostNet), 'CONFIG_INVALID', 'linux.sysctl["net.core.somaxconn"]');
  const noIpc = (s: Spec): void => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'ipc'); };
  expectProblem(withSysctl('kernel.msgmax', noIpc), 'CONFIG_INVALID', 'linux.sysctl["kernel.msgmax"]', {}, /IPC namespace/);
  expectProblem(withSysctl('kernel.hostname'), 'CONFIG_INVALID', 'linux.sysctl["kernel.hostname"]');
  expectProblem(withSysctl('vm.overcommit_memory'), 'CONFIG_INVALID', 'linux.sysctl["vm.overcommit_memory"]', {}, /not in a separate kernel namespace/);
  expectProblem(withSysctl('net..x'), 'CONFIG_INVALID', 'linux.sysctl["net..x"]');
  expectProblem(withSysctl('net/../../x'), 'CONFIG_INVALID', 'linux.sysctl["net/../../x"]');
});

test('normalizeSysctlKey swaps separators for slash-separated keys', () => {
  assert.equal(normalizeSysctlKey('net.ipv4.ip_forward'), 'net.ipv4.ip_forward');
  assert.equal(normalizeSysctlKey('net/ipv4/conf/eno2.100/rp_filter'), 'net.ipv4.conf.eno2/100.rp_filter');
});

test('mounts: destinations, options, types and /proc protection', () => {
  const add = (m: Record<string, unknown>): Spec => spec((s) => { s.mounts!.push(m as never); });
  expectProblem(add({ destination: '/x', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] }), 'CONFIG_UNSUPPORTED', 'mounts[7].options[0]');
  expectProblem(add({ destination: '/x', type: 'tmpfs', options: ['rro'] }), 'CONFIG_UNSUPPORTED', 'mounts[7].options[0]');
  expectProblem(add({ destination: '/x', source: 'tmpfs' }), 'CONFIG_INVALID', 'mounts[7].type');
  expectProblem(add({ destination: '', type: 'tmpfs' }), 'CONFIG_INVALID', 'mounts[7].destination');
  expectProblem(add({ destination: '/', type: 'tmpfs' }), 'CONFIG_INVALID', 'mounts[7].destination');
  expectProblem(add({ destination: '/x', type: 'none', options: ['rbind'] }), 'CONFIG_INVALID', 'mounts[7].source');
  expectProblem(add({ destination: '/proc/sys', type: 'tmpfs' }), 'CONFIG_INVALID', 'mounts[7].destination', {}, /inside \/proc/);
  expectProblem(add({ destination: '/proc/self/../sys', type: 'tmpfs' }), 'CONFIG_INVALID', 'mounts[7].destination');
  assert.deepEqual(problems(add({ destination: '/proc/meminfo', type: 'bind', source: '/var/lib/lxcfs/proc/meminfo', options: ['bind'] })), []);
  expectProblem(add({ destination: '/proc', type: 'bind', source: '/tmp', options: ['rbind'] }), 'CONFIG_INVALID', 'mounts[7]', {}, /not of type proc/);
  const procHost = host({ '/proc': { kind: 'directory', fsType: PROC_SUPER_MAGIC } });
  assert.deepEqual(findSpecProblems(add({ destination: '/proc', type: 'bind', source: '/proc', options: ['rbind'] }), { host: procHost }), []);
  expectProblem(add({ destination: '/x', type: 'none', source: '/a', options: ['bind'], uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }), 'CONFIG_UNSUPPORTED', 'mounts[7].uidMappings');
  expectProblem(spec((s) => { s.mounts![1]!.options!.push('ro'); }), 'CONFIG_UNSUPPORTED', 'mounts[1].options');
  assert.deepEqual(problems(add({ destination: 'relative/dir', type: 'tmpfs', source: 'tmpfs' })), []);
});

test('bind sources must exist when the bundle is known', () => {
  const s = spec((s) => { s.mounts!.push({ destination: '/data', type: 'bind', source: 'data', options: ['rbind'] }); });
  const files = { '/b/rootfs': { kind: 'directory' as const } };
  const found = findSpecProblems(s, { bundle: '/b', host: host(files) });
  assert.equal(found.length, 1);
  assert.equal(found[0]!.field, 'mounts[7].source');
  assert.match(found[0]!.message, /`\/b\/data` does not exist/);
  assert.deepEqual(findSpecProblems(s, { bundle: '/b', host: host({ ...files, '/b/data': { kind: 'directory' } }) }), []);
});

test('devices: type, numbers, absolute unique paths', () => {
  const dev = (d: Record<string, unknown>, more: Record<string, unknown>[] = []): Spec =>
    spec((s) => { s.linux!.devices = [d as never, ...(more as never[])]; });
  assert.deepEqual(problems(dev({ path: '/dev/fuse', type: 'c', major: 10, minor: 229 })), []);
  assert.deepEqual(problems(dev({ path: '/dev/fifo', type: 'p' })), []);
  expectProblem(dev({ path: '/dev/x', type: 'q', major: 1, minor: 1 }), 'CONFIG_INVALID', 'linux.devices[0].type');
  expectProblem(dev({ path: '/dev/x', type: 'b', minor: 1 }), 'CONFIG_INVALID', 'linux.devices[0].major');
  expectProblem(dev({ path: 'dev/x', type: 'c', major: 1, minor: 1 }), 'CONFIG_INVALID', 'linux.devices[0].path');
  expectProblem(dev({ path: '/dev/x', type: 'c', major: 1, minor: -1 }), 'CONFIG_INVALID', 'linux.devices[0].minor');
  expectProblem(dev({ path: '/dev/x', type: 'p' }, [{ path: '/dev/x', type: 'p' }]), 'CONFIG_INVALID', 'linux.devices[1].path');
});

test('seccomp problems carry the path of the field', () => {
  const sc = (seccomp: Record<string, unknown>): Spec => spec((s) => { s.linux!.seccomp = seccomp as never; });
  expectProblem(sc({ syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL' }] }), 'CONFIG_INVALID', 'linux.seccomp.defaultAction');
  expectProblem(sc({ defaultAction: 'SCMP_ACT_NOPE' }), 'CONFIG_INVALID', 'linux.seccomp.defaultAction');
  expectProblem(sc({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_KILL' }] }), 'CONFIG_INVALID', 'linux.seccomp.syscalls[0].names');
  expectProblem(sc({ defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX'] }), 'CONFIG_INVALID', 'linux.seccomp.architectures[1]');
  expectProblem(sc({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOTIFY' }] }), 'CONFIG_INVALID', 'linux.seccomp.listenerPath');
  expectProblem(sc({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/run/l.sock' }), 'CONFIG_INVALID', 'linux.seccomp.defaultAction');
  expectProblem(
    sc({ defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/l.sock', syscalls: [{ names: ['sendmsg'], action: 'SCMP_ACT_NOTIFY' }] }),
    'CONFIG_INVALID',
    'linux.seccomp.syscalls[0].action',
  );
  expectProblem(
    sc({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['x'], action: 'SCMP_ACT_KILL', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ', valueTwo: -1 }] }] }),
    'CONFIG_INVALID',
    'linux.seccomp.syscalls[0].args[0].valueTwo',
  );
  assert.deepEqual(problems(sc({})), []);
});

test('hooks need absolute paths and positive timeouts', () => {
  expectProblem(spec((s) => { s.hooks = { createRuntime: [{ path: 'hook' }] }; }), 'CONFIG_INVALID', 'hooks.createRuntime[0].path');
  expectProblem(spec((s) => { s.hooks = { poststop: [{ path: '/h', timeout: 0 }] }; }), 'CONFIG_INVALID', 'hooks.poststop[0].timeout');
  expectProblem(spec((s) => { s.hooks = { prestart: [{ args: [] } as never] }; }), 'CONFIG_INVALID', 'hooks.prestart[0].path');
});

test('masked and read-only paths must be absolute; intelRdt and the mount label follow the host', () => {
  expectProblem(spec((s) => { s.linux!.maskedPaths!.push('proc/x'); }), 'CONFIG_INVALID', 'linux.maskedPaths[10]');
  expectProblem(spec((s) => { s.linux!.readonlyPaths!.push('x'); }), 'CONFIG_INVALID', 'linux.readonlyPaths[5]');
  expectProblem(spec((s) => { s.linux!.intelRdt = { closID: 'x' }; }), 'CONFIG_UNSUPPORTED', 'linux.intelRdt', {}, /resctrl is not mounted/);
  assert.deepEqual(problems(spec((s) => { s.linux!.mountLabel = 'system_u:object_r:container_file_t:s0'; })), []);
  const selinux = host({ '/sys/fs/selinux': { kind: 'directory', fsType: 0xf97cff8c } });
  assert.equal(findSpecProblems(spec((s) => { s.linux!.mountLabel = 'x'; }), { host: selinux })[0]!.field, 'linux.mountLabel');
});

test('personality domain LINUX or LINUX32, no flags', () => {
  assert.deepEqual(problems(spec((s) => { s.linux!.personality = { domain: 'LINUX32' }; })), []);
  expectProblem(spec((s) => { s.linux!.personality = { domain: 'BSD' }; }), 'CONFIG_INVALID', 'linux.personality.domain');
  expectProblem(spec((s) => { s.linux!.personality = { domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] }; }), 'CONFIG_UNSUPPORTED', 'linux.personality.flags');
});

test('rootfsPropagation takes the spec values and runc’s r-forms', () => {
  for (const p of ['private', 'shared', 'slave', 'unbindable', 'rslave', 'rprivate']) {
    assert.deepEqual(problems(spec((s) => { s.linux!.rootfsPropagation = p; })), [], p);
  }
  expectProblem(spec((s) => { s.linux!.rootfsPropagation = 'public'; }), 'CONFIG_INVALID', 'linux.rootfsPropagation');
});

test('resources: device rules, swappiness, hugepage sizes, unified only on cgroup v2', () => {
  expectProblem(spec((s) => { s.linux!.resources!.devices!.push({ allow: true, type: 'x', access: 'rwm' }); }), 'CONFIG_INVALID', 'linux.resources.devices[1].type');
  expectProblem(spec((s) => { s.linux!.resources!.devices!.push({ allow: true, access: 'rwx' }); }), 'CONFIG_INVALID', 'linux.resources.devices[1].access');
  expectProblem(spec((s) => { s.linux!.resources!.memory = { swappiness: 101 }; }), 'CONFIG_INVALID', 'linux.resources.memory.swappiness');
  expectProblem(spec((s) => { s.linux!.resources!.hugepageLimits = [{ pageSize: '2M', limit: 1 }]; }), 'CONFIG_INVALID', 'linux.resources.hugepageLimits[0].pageSize');
  expectProblem(spec((s) => { s.linux!.resources!.pids = {} as never; }), 'CONFIG_INVALID', 'linux.resources.pids.limit');
  const unified = spec((s) => { s.linux!.resources!.unified = { 'memory.high': '1G' }; });
  expectProblem(unified, 'CONFIG_UNSUPPORTED', 'linux.resources.unified', { cgroupVersion: 1 });
  assert.deepEqual(problems(unified, { cgroupVersion: 2 }), []);
});

test('cgroupsPath may not climb out or name the root cgroup', () => {
  assert.deepEqual(problems(spec((s) => { s.linux!.cgroupsPath = '/berth/web'; })), []);
  assert.deepEqual(problems(spec((s) => { s.linux!.cgroupsPath = 'system.slice:docker:abc'; })), []);
  expectProblem(spec((s) => { s.linux!.cgroupsPath = '/berth/../../x'; }), 'CONFIG_INVALID', 'linux.cgroupsPath');
  expectProblem(spec((s) => { s.linux!.cgroupsPath = '/'; }), 'CONFIG_INVALID', 'linux.cgroupsPath');
});

test('runtime-spec 1.2 and 1.3 additions berth cannot carry out are unsupported, not ignored', () => {
  expectProblem(spec((s) => { s.linux!.timeOffsets = { monotonic: { secs: 10 } }; }), 'CONFIG_INVALID', 'linux.timeOffsets', {}, /no time namespace/);
  expectProblem(
    spec((s) => { s.linux!.namespaces!.push({ type: 'time' }); s.linux!.timeOffsets = { monotonic: { secs: 10 } }; }),
    'CONFIG_UNSUPPORTED',
    'linux.timeOffsets',
  );
  assert.deepEqual(problems(spec((s) => { s.linux!.namespaces!.push({ type: 'time' }); })), []);
  expectProblem(spec((s) => { s.linux!.memoryPolicy = { mode: 'MPOL_BIND', nodes: '0' }; }), 'CONFIG_UNSUPPORTED', 'linux.memoryPolicy');
  expectProblem(spec((s) => { s.linux!.netDevices = { eth1: { name: 'eth0' } }; }), 'CONFIG_UNSUPPORTED', 'linux.netDevices');
});

test('findSpecProblems reports every problem, not only the first', () => {
  const found = problems(spec((s) => { s.process!.cwd = 'x'; s.process!.args = []; s.linux!.maskedPaths = ['y']; }));
  assert.deepEqual(found.map((p) => p.field), ['process.args', 'process.cwd', 'linux.maskedPaths[0]']);
});

test('validateProcess checks an exec process and prefixes the field', () => {
  const p = defaultSpec().process!;
  assert.equal(validateProcess(p, 'process', { host: host() }), p);
  assert.throws(
    () => validateProcess({ ...p, cwd: 'x' }, 'process', { host: host() }),
    (err: unknown) => (err as BerthError).field === 'process.cwd',
  );
  assert.throws(
    () => validateProcess({ ...p, user: { uid: 'root', gid: 0 } }, 'process', { host: host() }),
    (err: unknown) => (err as BerthError).field === 'process.user.uid',
  );
  assert.throws(() => validateProcess(null, 'process', { host: host() }), (err: unknown) => (err as BerthError).code === 'CONFIG_INVALID');
});
