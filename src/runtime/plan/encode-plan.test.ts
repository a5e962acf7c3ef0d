import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { encodePlan } from './encode-plan.js';
import { PLAN_MAGIC, PLAN_VERSION } from './attrs.js';
import { PLAN_MODE, type Plan } from './plan.js';
import { deviceFilterPlan } from './device-filter-plan.js';
import { initPath } from '../executor/spawn-init.js';

/** A plan that sets every field, with values that catch byte-order and sign mistakes. */
export function fullPlan(): Plan {
  return {
    mode: 'create',
    containerId: 'golden-1',
    cloneFlags: 0x7c020000n,
    nsJoin: [{ type: 0x40000000n, path: '/var/run/netns/x' }],
    rootfs: '/bundle/rootfs',
    rootfsReadonly: true,
    rootPropagation: 0x84000n,
    noPivot: false,
    mounts: [
      { source: 'proc', target: '/proc', fstype: 'proc', flags: 14n, data: '', propagation: [], remountFlags: 0n, targetIsFile: false, kind: 0 },
      { source: '/etc/hosts', target: '/etc/hosts', fstype: '', flags: 0x5000n, data: 'mode=755', propagation: [0x44000n, 0x100000n], remountFlags: 0x1021n, targetIsFile: true, kind: 1 },
    ],
    devices: [{ path: '/dev/null', type: 0o20000, major: 1, minor: 3, mode: 0o666, uid: 0, gid: 0, bind: false }],
    symlinks: [{ target: '/proc/self/fd', path: '/dev/fd' }],
    maskedPaths: ['/proc/kcore', '/proc/keys'],
    readonlyPaths: ['/proc/sys'],
    sysctl: [{ key: 'net.ipv4.ip_forward', value: '1' }],
    hostname: 'golden',
    domainname: 'example.org',
    rlimits: [{ resource: 7, soft: 1024n, hard: 0xffffffffffffffffn }],
    uid: 1000,
    gid: 4294967294,
    additionalGids: [5, 10],
    setgroupsDeny: false,
    umask: 0o22,
    capabilities: { bounding: 0x1ffffffffffn, effective: 0x800n, inheritable: 0n, permitted: 0x800n, ambient: 0n },
    noNewPrivileges: true,
    oomScoreAdj: -500,
    personality: 8,
    seccomp: {
      defaultAction: 0x00050001,
      architectures: ['x86_64', 'x86'],
      flags: 2,
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 0x7fff0000, args: [{ index: 1, value: 0xfffffffff0000000n, valueTwo: 3n, op: 7 }] },
        { names: ['unlink'], action: 0x7fc00000, args: [] },
      ],
      listenerPath: '/run/seccomp-agent.sock',
    },
    args: ['sh', '-c', 'echo "ü"'],
    env: ['PATH=/bin', 'EMPTY='],
    cwd: '/',
    terminal: true,
    consoleSocket: '/tmp/console.sock',
    consoleHeight: 24,
    consoleWidth: 80,
    execFifo: '/run/berth-runtime/golden-1/exec.fifo',
    preserveFds: 2,
    newKeyring: true,
    keyringName: '_ses.golden-1',
    parentWaits: true,
    consoleProxy: false,
    cgroupTasks: ['/sys/fs/cgroup/memory/berth/golden-1/tasks', '/sys/fs/cgroup/cpu,cpuacct/berth/golden-1/tasks'],
    cgroupInto: '/sys/fs/cgroup/unified/berth/golden-1',
    cgroupNsAfterSync: true,
    startHooks: [{ path: '/bin/hook', args: ['hook', 'start'], env: ['A=1'], timeout: 5 }, { path: '/bin/true', args: [], env: [], timeout: 0 }],
    deviceCgroup: '/sys/fs/cgroup/berth/golden-1',
    deviceRules: [
      { allow: false, type: 'a', major: -1, minor: -1, access: 7 },
      { allow: true, type: 'c', major: 136, minor: -1, access: 6 },
      { allow: true, type: 'b', major: 0x7fffffff, minor: 3, access: 1 },
    ],
  };
}

/** The JSON that `berth-init --decode-plan` prints for a plan: bigints as decimal strings. */
function asDecodedJson(plan: Plan): unknown {
  return JSON.parse(JSON.stringify(plan, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

test('encodePlan writes the header: magic, version, payload length', () => {
  const buf = encodePlan(fullPlan());
  assert.equal(buf.readUInt32LE(0), PLAN_MAGIC);
  assert.equal(buf.readUInt32LE(4), PLAN_VERSION);
  assert.equal(buf.readUInt32LE(8), buf.length - 12);
});

test('encodePlan refuses a string with a NUL byte, naming it', () => {
  const plan = fullPlan();
  plan.args = ['a\0b'];
  assert.throws(() => encodePlan(plan), /contains a NUL byte/);
});

const decoder = initPath();
const skip = existsSync(decoder) ? false : `berth-init is not built at ${decoder}`;

test('berth-init decodes exactly the plan that TypeScript encoded (golden round trip)', { skip }, () => {
  for (const plan of [fullPlan(), { ...fullPlan(), mode: 'exec' as const, seccomp: undefined, hostname: undefined, startHooks: [], deviceCgroup: undefined, deviceRules: [] }]) {
    const out = spawnSync(decoder, ['--decode-plan', '-'], { input: encodePlan(plan), encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const expected = asDecodedJson(plan) as Record<string, unknown>;
    for (const k of Object.keys(expected)) if (expected[k] === undefined) delete expected[k];
    assert.deepEqual(JSON.parse(out.stdout), expected);
  }
});

test('berth-init rejects a truncated or corrupted plan with an error naming the problem', { skip }, () => {
  const good = encodePlan(fullPlan());
  const truncated = spawnSync(decoder, ['--decode-plan', '-'], { input: good.subarray(0, good.length - 5), encoding: 'utf8' });
  assert.notEqual(truncated.status, 0);
  assert.match(truncated.stderr, /trunc|short|length/i);
  const bad = Buffer.from(good);
  bad.writeUInt32LE(0xdeadbeef, 0);
  const badMagic = spawnSync(decoder, ['--decode-plan', '-'], { input: bad, encoding: 'utf8' });
  assert.notEqual(badMagic.status, 0);
  assert.match(badMagic.stderr, /magic/i);
  const unknown = Buffer.from(good);
  unknown.writeUInt16LE(999, 12);
  const badAttr = spawnSync(decoder, ['--decode-plan', '-'], { input: unknown, encoding: 'utf8' });
  assert.notEqual(badAttr.status, 0);
  assert.match(badAttr.stderr, /999|unknown/i);
});

test('berth-init decodes a devices-mode plan (update of the device filter) exactly as encoded', { skip }, () => {
  const rules = [
    { allow: false, type: 'a' as const, major: -1, minor: -1, access: 7 },
    { allow: true, type: 'c' as const, major: 1, minor: 11, access: 6 },
  ];
  for (const plan of [
    deviceFilterPlan({ containerId: 'golden-2', cgroupDir: '/sys/fs/cgroup/berth/golden-2', rules }),
    deviceFilterPlan({ containerId: 'golden-3', cgroupDir: '/sys/fs/cgroup/berth/golden-3', rules: [] }),
  ]) {
    const buf = encodePlan(plan);
    assert.equal(buf.readUInt32LE(12 + 8), PLAN_MODE.devices, 'MODE, the first attribute, is 3');
    const out = spawnSync(decoder, ['--decode-plan', '-'], { input: buf, encoding: 'utf8' });
    assert.equal(out.status, 0, out.stderr);
    const expected = asDecodedJson(plan) as Record<string, unknown>;
    for (const k of Object.keys(expected)) if (expected[k] === undefined) delete expected[k];
    assert.deepEqual(JSON.parse(out.stdout), expected);
  }
});
