/**
 * config.json features checked from inside the container by the probe:
 * ids, capabilities, hostname, pid 1, mounts and their flags, masked and
 * read-only paths, seccomp, rlimits, sysctl, cgroup limits, hooks, user
 * namespaces.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { makeBundle, type BundleSpec } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { envMap, parseProbe, type ProbeReport, type ProbeResult } from '../helpers/probe.js';
import { requires } from '../helpers/requires.js';
import { describeResult, runtimeCli } from '../helpers/run.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';

withLeakCheck();

const skip = requires('root', 'busybox', 'probe', 'berth-runtime', 'cgroup-v1');
let seq = 0;
const newId = (name: string) => `ft-${name}-${process.pid}-${seq++}`;

/** Run the probe with these args in a fresh container built by `config`; returns its stdout. */
async function probeIn(config: (s: BundleSpec) => void, args: string[] = []): Promise<string> {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => { s.process.args = ['/probe', ...args]; config(s); } });
  const r = await rt.run(['run', '--bundle', b.dir, newId('probe')]);
  assert.equal(r.code, 0, describeResult(r));
  return r.stdout;
}

const CAP = { CHOWN: 0, KILL: 5, SETGID: 6, SETUID: 7, NET_BIND_SERVICE: 10, NET_RAW: 13, SYS_ADMIN: 21, AUDIT_WRITE: 29 };
const mask = (...bits: number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n).toString(16).padStart(16, '0');

test('process user, groups, umask, cwd, env, hostname and domainname reach the container', { skip }, async () => {
  const report = parseProbe<ProbeReport>(await probeIn((s) => {
    s.process.user = { uid: 1000, gid: 1000, umask: 0o027, additionalGids: [100, 5] };
    s.process.cwd = '/tmp';
    s.process.env = ['PATH=/bin', 'GREETING=hello world'];
    s.hostname = 'feat-host';
    s.domainname = 'feat.example';
  }));
  assert.deepEqual(report.uid, { real: 1000, effective: 1000, saved: 1000, fs: 1000 });
  assert.deepEqual(report.gid, { real: 1000, effective: 1000, saved: 1000, fs: 1000 });
  assert.deepEqual([...report.groups].sort((a, b) => a - b), [5, 100]);
  assert.equal(report.umask, '0027');
  assert.equal(report.cwd, '/tmp');
  assert.equal(envMap(report).get('GREETING'), 'hello world');
  assert.equal(report.hostname, 'feat-host');
  assert.equal(report.domainname, 'feat.example');
  assert.equal(report.pid, 1);
});

test('the five capability sets are exactly the configured ones', { skip }, async () => {
  const report = parseProbe<ProbeReport>(await probeIn((s) => {
    s.process.capabilities = {
      bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'],
      effective: ['CAP_CHOWN', 'CAP_KILL'],
      permitted: ['CAP_CHOWN', 'CAP_KILL', 'CAP_NET_RAW'],
      inheritable: ['CAP_KILL', 'CAP_NET_RAW'],
      ambient: ['CAP_KILL'],
    };
  }));
  assert.equal(report.caps.bounding, mask(CAP.CHOWN, CAP.KILL, CAP.NET_BIND_SERVICE, CAP.NET_RAW));
  // execve as root recomputes the sets: effective = permitted.
  assert.equal(report.caps.permitted, mask(CAP.CHOWN, CAP.KILL, CAP.NET_RAW));
  assert.equal(report.caps.inheritable, mask(CAP.KILL, CAP.NET_RAW));
  assert.equal(report.caps.ambient, mask(CAP.KILL));
});

test('no_new_privs, oom_score_adj, rlimits and personality are applied', { skip }, async () => {
  const report = parseProbe<ProbeReport>(await probeIn((s) => {
    s.process.noNewPrivileges = true;
    s.process.oomScoreAdj = 300;
    s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 }];
    s.linux.personality = { domain: 'LINUX32' };
  }));
  assert.equal(report.noNewPrivs, 1);
  assert.equal(report.oomScoreAdj, 300);
  assert.deepEqual(report.rlimits['RLIMIT_NOFILE'], [512, 1024]);
  assert.deepEqual(report.rlimits['RLIMIT_CORE'], [0, 0]);
  assert.equal(report.personality & 0xff, 8);
});

test('every configured namespace is new, and the container is pid 1 in its own', { skip }, async () => {
  const report = parseProbe<ProbeReport>(await probeIn(() => {}));
  assert.equal(report.pid, 1);
  for (const ns of ['pid', 'mnt', 'uts', 'ipc', 'net']) {
    assert.notEqual(report.namespaces[ns], readlinkSync(`/proc/self/ns/${ns}`), `${ns} namespace is new`);
  }
});

test('mounts have their types, flags and propagation; binds can be read-only', { skip }, async () => {
  const hostDir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}bind-`));
  try {
    await writeFile(join(hostDir, 'file'), 'from host');
    const out = await probeIn((s) => {
      s.mounts!.push({ destination: '/data', type: 'bind', source: hostDir, options: ['rbind', 'ro', 'nosuid'] });
      s.mounts!.push({ destination: '/scratch', type: 'tmpfs', source: 'tmpfs', options: ['noexec', 'size=1m', 'mode=1777'] });
      s.process.args = ['sh', '-c', '/probe; /probe write /data/x; /probe read /data/file; /probe write /scratch/y'];
    });
    const lines = out.trim().split('\n');
    const report = JSON.parse(lines[0]!) as ProbeReport;
    const byPoint = new Map(report.mounts.map((m) => [m.mountPoint, m]));
    assert.equal(byPoint.get('/proc')?.fstype, 'proc');
    assert.equal(byPoint.get('/dev')?.fstype, 'tmpfs');
    assert.match(byPoint.get('/dev')!.options, /nosuid/);
    assert.equal(byPoint.get('/dev/pts')?.fstype, 'devpts');
    assert.equal(byPoint.get('/dev/mqueue')?.fstype, 'mqueue');
    assert.equal(byPoint.get('/sys')?.fstype, 'sysfs');
    assert.match(byPoint.get('/sys')!.options, /\bro\b/);
    const data = byPoint.get('/data')!;
    assert.match(data.options, /\bro\b/);
    assert.match(data.options, /nosuid/);
    assert.equal(data.propagation, 'private');
    assert.match(byPoint.get('/scratch')!.options, /noexec/);
    assert.match(byPoint.get('/scratch')!.superOptions, /size=1024k/);
    assert.equal((JSON.parse(lines[1]!) as ProbeResult).error, 'EROFS');
    assert.equal((JSON.parse(lines[2]!) as ProbeResult).data, 'from host');
    assert.equal((JSON.parse(lines[3]!) as ProbeResult).error, null);
  } finally {
    await rm(hostDir, { recursive: true, force: true });
  }
});

test('masked paths read as /dev/null or an empty tmpfs; read-only paths refuse writes', { skip }, async () => {
  const out = await probeIn((s) => {
    // /proc/keys and /proc/acpi are in the default masked list and exist on every kernel here.
    s.linux!.maskedPaths!.push('/etc/passwd');
    s.process.args = ['sh', '-c', '/probe stat /proc/keys; /probe read /etc/passwd; ls /proc/acpi | wc -l; /probe write /proc/sys/kernel/hostname x; /probe'];
  });
  const lines = out.trim().split('\n');
  const keys = JSON.parse(lines[0]!) as ProbeResult;
  assert.deepEqual([keys.type, keys.rdevMajor, keys.rdevMinor], ['char', 1, 3]);
  assert.equal((JSON.parse(lines[1]!) as ProbeResult).data, '');
  assert.equal(lines[2]!.trim(), '0');
  assert.equal((JSON.parse(lines[3]!) as ProbeResult).error, 'EROFS');
  const report = JSON.parse(lines[4]!) as ProbeReport;
  for (const ro of ['/proc/sys', '/proc/bus', '/proc/fs', '/proc/irq']) {
    const m = report.mounts.find((x) => x.mountPoint === ro);
    assert.ok(m, `${ro} is a mount`);
    assert.match(m.options, /\bro\b/, `${ro} is read-only`);
  }
});

test('seccomp: a denied syscall returns its errnoRet, argument filters match, the rest runs', { skip }, async () => {
  const out = await probeIn((s) => {
    s.linux.seccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 },
        // personality(0xffffffff) is a query; deny only personality(8).
        { names: ['personality'], action: 'SCMP_ACT_ERRNO', errnoRet: 13, args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
      ],
    };
    s.process.args = ['sh', '-c', '/probe syscall mkdir /tmp/x; /probe syscall personality 8; /probe syscall personality 0; /probe'];
  });
  const lines = out.trim().split('\n');
  assert.equal((JSON.parse(lines[0]!) as ProbeResult).errno, 42);
  assert.equal((JSON.parse(lines[1]!) as ProbeResult).errno, 13);
  assert.equal((JSON.parse(lines[2]!) as ProbeResult).errno, 0);
  assert.equal((JSON.parse(lines[3]!) as ProbeReport).seccomp, 2);
});

test('sysctls are written inside the container\'s namespaces only', { skip }, async () => {
  const hostValue = readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
  const want = hostValue === '1' ? '0' : '1';
  const out = await probeIn((s) => {
    s.linux.sysctl = { 'net.ipv4.ip_forward': want, 'kernel.msgmax': '4096' };
    s.process.args = ['sh', '-c', 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax'];
  });
  assert.deepEqual(out.trim().split('\n'), [want, '4096']);
  assert.equal(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(), hostValue);
});

test('cgroup limits from linux.resources are in the container\'s cgroup files', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => {
    s.process.args = ['/probe', 'sleep', '60'];
    s.linux.resources = {
      ...s.linux.resources,
      memory: { limit: 64 * 1024 * 1024, reservation: 32 * 1024 * 1024 },
      cpu: { shares: 512, quota: 50000, period: 100000 },
      pids: { limit: 42 },
    };
  } });
  const id = newId('cg');
  await rt.ok(['run', '-d', '--bundle', b.dir, id]);
  const { pid } = JSON.parse((await rt.ok(['state', id])).stdout) as { pid: number };
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const dir = (ctrl: string) => {
    const l = lines.find((x) => x.split(':')[1]!.split(',').includes(ctrl))!;
    return join('/sys/fs/cgroup', ctrl, l.split(':')[2]!);
  };
  const read = (ctrl: string, file: string) => readFileSync(join(dir(ctrl), file), 'utf8').trim();
  assert.equal(read('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  assert.equal(read('memory', 'memory.soft_limit_in_bytes'), String(32 * 1024 * 1024));
  assert.equal(read('cpu', 'cpu.shares'), '512');
  assert.equal(read('cpu', 'cpu.cfs_quota_us'), '50000');
  assert.equal(read('pids', 'pids.max'), '42');
  assert.match(read('devices', 'devices.list'), /c 1:3 rwm/);
  await rt.ok(['delete', '--force', id]);
});

test('hooks run in order with the state on stdin; poststop runs at delete', { skip }, async () => {
  const dir = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}hooks-`));
  try {
    const log = join(dir, 'hooks.log');
    const script = join(dir, 'hook.sh');
    await writeFile(script, `#!/bin/sh\nprintf '%s ' "$1" >> ${log}\ncat >> ${log}\necho >> ${log}\n`);
    await chmod(script, 0o755);
    const hook = (kind: string) => [{ path: script, args: ['hook.sh', kind], env: ['X=1'], timeout: 10 }];
    await using rt = await runtimeCli();
    await using b = await makeBundle({ config: (s) => {
      s.process.args = ['/probe', 'sleep', '60'];
      // startContainer runs inside the container: its path is the container's, and it
      // writes through a bind mount of the test's directory.
      s.mounts!.push({ destination: '/hooklog', type: 'bind', source: dir, options: ['rbind'] });
      s.hooks = {
        prestart: hook('prestart'),
        createRuntime: hook('createRuntime'),
        createContainer: hook('createContainer'),
        startContainer: [{ path: '/bin/sh', args: ['sh', '-c', 'printf "startContainer %s %s\\n" "$(hostname)" "$(cat)" >> /hooklog/start.log'], timeout: 10 }],
        poststart: hook('poststart'),
        poststop: hook('poststop'),
      };
      s.hostname = 'hooked';
    } });
    const id = newId('hooks');
    await rt.ok(['create', '--bundle', b.dir, id]);
    await rt.ok(['start', id]);
    await rt.ok(['delete', '--force', id]);
    const entries = (await readFile(log, 'utf8')).trim().split('\n').map((l) => {
      const sp = l.indexOf(' ');
      return { kind: l.slice(0, sp), state: JSON.parse(l.slice(sp + 1)) as { id: string; status: string; pid?: number; bundle: string } };
    });
    assert.deepEqual(entries.map((e) => e.kind), ['prestart', 'createRuntime', 'createContainer', 'poststart', 'poststop']);
    assert.deepEqual(entries.map((e) => e.state.status), ['creating', 'creating', 'creating', 'running', 'stopped']);
    for (const e of entries) {
      assert.equal(e.state.id, id);
      assert.equal(e.state.bundle, b.dir);
    }
    assert.ok((entries[0]!.state.pid ?? 0) > 0);
    const start = (await readFile(join(dir, 'start.log'), 'utf8')).trim();
    const [word, host, ...json] = start.split(' ');
    assert.equal(word, 'startContainer');
    assert.equal(host, 'hooked', 'startContainer ran in the container\'s uts namespace');
    const startState = JSON.parse(json.join(' ')) as { id: string; status: string; pid: number };
    assert.equal(startState.id, id);
    assert.equal(startState.status, 'created');
    assert.equal(startState.pid, entries[0]!.state.pid);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a failing createRuntime hook fails create and leaves nothing behind', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => {
    s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'echo hook says no >&2; exit 3'] }] };
  } });
  const id = newId('hookfail');
  const r = await rt.run(['create', '--bundle', b.dir, id]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /createRuntime hook #0 \(\/bin\/sh\) exited with status 3: hook says no/);
  await assert.rejects(readFile(join(rt.root, id, 'state.json')));
});

test('a user namespace maps the container\'s root to the configured host ids', { skip: skip ?? requires('userns') }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => {
    s.process.args = ['/probe', 'sleep', '60'];
    s.linux.namespaces!.push({ type: 'user' });
    s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    s.linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    // sysfs needs a new network namespace in a user namespace; the default spec has one.
  } });
  const id = newId('userns');
  await mkdir(b.dir, { recursive: true });
  await chmod(b.dir, 0o755);
  await rt.ok(['run', '-d', '--bundle', b.dir, id]);
  const { pid } = JSON.parse((await rt.ok(['state', id])).stdout) as { pid: number };
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  assert.match(status, /Uid:\s+100000\s+100000/);
  const inside = await rt.ok(['exec', id, '/probe']);
  const report = parseProbe<ProbeReport>(inside.stdout);
  assert.equal(report.uid.effective, 0);
  assert.notEqual(report.namespaces['user'], readlinkSync('/proc/self/ns/user'));
  await rt.ok(['delete', '--force', id]);
});

test('--no-pivot and a read-only root still give the container its own root', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => {
    s.root.readonly = true;
    s.process.args = ['sh', '-c', '/probe write /probe-was-here; /probe write /tmp/ok; /probe'];
    s.mounts!.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
  } });
  const r = await rt.run(['run', '--no-pivot', '--no-new-keyring', '--bundle', b.dir, newId('nopivot')]);
  assert.equal(r.code, 0, describeResult(r));
  const lines = r.stdout.trim().split('\n');
  assert.equal((JSON.parse(lines[0]!) as ProbeResult).error, 'EROFS');
  assert.equal((JSON.parse(lines[1]!) as ProbeResult).error, null);
  const report = JSON.parse(lines[2]!) as ProbeReport;
  const root = report.mounts.find((m) => m.mountPoint === '/');
  assert.ok(root, 'the container sees a root mount');
  assert.match(root.options, /\bro\b/);
});

test('an OOM kill shows up in `events` as an oom event and in the memory stats', { skip }, async () => {
  await using rt = await runtimeCli();
  await using b = await makeBundle({ config: (s) => {
    // The probe becomes init (sh execs its last command), so the OOM kill also stops the container
    // and `events` returns by itself.
    s.process.args = ['sh', '-c', 'sleep 1; exec /probe spin-mem 200'];
    s.linux.resources = { ...s.linux.resources, memory: { limit: 32 * 1024 * 1024, swap: 32 * 1024 * 1024 } };
  } });
  const id = newId('oom');
  await rt.ok(['run', '-d', '--bundle', b.dir, id]);
  const events = await rt.run(['events', '--interval', '100ms', id], { timeoutMs: 30_000 });
  assert.equal(events.timedOut, false, 'events returned once the container stopped');
  const oom = events.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; id: string })
    .find((e) => e.type === 'oom');
  assert.ok(oom, `an oom event was printed:\n${describeResult(events)}`);
  assert.equal(oom.id, id);
  await rt.ok(['delete', '--force', id]);
});
