/**
 * The cgroup v2 device filter that berth-init attaches (plan DEVICE_CGROUP
 * and DEVICE_RULE), checked from inside a container by the probe.
 *
 * These tests drive berth-init directly with a plan, playing berth-runtime's
 * part of the sync sequence themselves, so that they run on a cgroup v1 host
 * too: any cgroup2 directory takes a BPF_PROG_TYPE_CGROUP_DEVICE program,
 * even one with no controllers enabled (here the hybrid host's
 * /sys/fs/cgroup/unified). The test writes the container's pid into that
 * directory's cgroup.procs before CONTINUE, as `create` does.
 */
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import { SYNC } from '../../src/runtime/plan/attrs.js';
import type { Plan, PlanDeviceRule } from '../../src/runtime/plan/plan.js';
import { spawnInit, type SpawnedInit } from '../../src/runtime/executor/spawn-init.js';
import { specToPlan } from '../../src/runtime/spec/to-plan.js';
import { makeBundle, type BundleSpec } from '../helpers/bundle.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import type { ProbeResult } from '../helpers/probe.js';
import { requires } from '../helpers/requires.js';

withLeakCheck();

/** The mount point of a cgroup2 filesystem (/sys/fs/cgroup, or .../unified on a hybrid host). */
function cgroup2Mount(): string | undefined {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (right?.split(' ')[0] === 'cgroup2') return left!.split(' ')[4];
  }
  return undefined;
}

const cgroup2 = cgroup2Mount();
const skip = requires('root', 'busybox', 'probe') ?? (cgroup2 === undefined ? 'needs a cgroup2 mount' : undefined);

const ACC = { m: 1, r: 2, w: 4, rwm: 7 } as const;
const any = -1;
const rule = (allow: boolean, type: 'a' | 'b' | 'c', major: number, minor: number, access: number): PlanDeviceRule =>
  ({ allow, type, major, minor, access });

let seq = 0;

interface Run {
  code: number;
  /** One probe result per `/probe syscall` line of the script, in order. */
  results: ProbeResult[];
  stderr: string;
}

/**
 * Run `script` (sh) in a busybox container whose plan comes from specToPlan
 * with the cgroup v2 context, with `edit` applied, through the whole sync
 * sequence of `create` and `start`. The container runs in a fresh cgroup2
 * directory that `edit` sees as `cgroupDir`; everything is removed after.
 */
async function runFiltered(script: string, edit: (plan: Plan, cgroupDir: string) => void): Promise<Run> {
  const id = `devfilter-${process.pid}-${seq++}`;
  const cgroupDir = join(cgroup2!, `${TEST_TMP_PREFIX}${id}`);
  const tmp = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}devfilter-`));
  await using bundle = await makeBundle({
    config: (s: BundleSpec) => {
      s.process.args = ['/bin/sh', '-c', script];
      // mknod(2) needs the capability before the device filter has its say.
      const caps = ['CAP_MKNOD', 'CAP_KILL'];
      s.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
      // The container's own cgroup mount is not what is tested here.
      s.mounts = (s.mounts ?? []).filter((m) => m.type !== 'cgroup' && m.type !== 'cgroup2');
    },
  });
  const spec = await bundle.readConfig();
  let init: SpawnedInit | undefined;
  let childPid = 0;
  await mkdir(cgroupDir);
  try {
    const plan = specToPlan(spec, {
      id,
      bundle: bundle.dir,
      rootfs: bundle.rootfs,
      execFifo: join(tmp, 'exec.fifo'),
      parentWaits: true,
      cgroupVersion: 2,
      deviceCgroup: cgroupDir,
    });
    edit(plan, cgroupDir);
    const out = openSync(join(tmp, 'stdout'), 'w');
    const err = openSync(join(tmp, 'stderr'), 'w');
    try {
      init = spawnInit(plan, { stdio: ['ignore', out, err] });
    } finally {
      closeSync(out);
      closeSync(err);
    }
    const { sync } = init;
    childPid = (await sync.expect(SYNC.CHILD_PID, 'it created the container process')).value;
    await writeFile(join(cgroupDir, 'cgroup.procs'), String(childPid));
    sync.send(SYNC.CONTINUE);
    await sync.expect(SYNC.HOOKS, 'it set up the mounts');
    sync.send(SYNC.CONTINUE);
    await sync.expect(SYNC.READY, 'it finished setting up the container');
    sync.close();
    // `start`: the read side of the fifo releases the container.
    const fifo = await open(join(tmp, 'exec.fifo'), 'r');
    await fifo.read(Buffer.alloc(1), 0, 1);
    await fifo.close();
    const code = await init.exited;
    const stdout = await readFile(join(tmp, 'stdout'), 'utf8');
    const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ProbeResult);
    return { code, results, stderr: await readFile(join(tmp, 'stderr'), 'utf8') };
  } finally {
    if (init !== undefined) {
      init.sync.close();
      if (init.child.exitCode === null && init.child.signalCode === null) init.child.kill('SIGKILL');
      await init.exited;
    }
    if (childPid > 0) {
      try {
        process.kill(childPid, 'SIGKILL');
      } catch {
        // ESRCH: gone already.
      }
    }
    await removeCgroup(cgroupDir);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** rmdir a cgroup, retrying while its last process is still exiting (EBUSY). */
async function removeCgroup(dir: string): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Lines of `/probe syscall ...`, one per check. */
const probes = (...calls: string[]): string => calls.map((c) => `/probe syscall ${c}`).join('; ');

function assertOpened(r: ProbeResult | undefined, what: string): void {
  assert.ok(r !== undefined, `no result for ${what}`);
  assert.ok(r.ret >= 0, `${what}: expected success, got ${r.error} (${r.errno})`);
}

function assertRefused(r: ProbeResult | undefined, what: string): void {
  assert.ok(r !== undefined, `no result for ${what}`);
  assert.equal(r.error, 'EPERM', `${what}: expected EPERM, got ret ${r.ret} ${r.error ?? ''}`);
}

test('the device filter of the default spec lets the standard devices open and refuses others with EPERM', { skip }, async () => {
  const run = await runFiltered(
    probes(
      'open /dev/null rdwr',
      'open /dev/zero rdwr',
      'open /dev/full wronly',
      'open /dev/urandom rdonly',
      // c *:* m: any char device node may be made, but not opened.
      'mknod /dev/kmsg-copy 1 11',
      'open /dev/kmsg-copy wronly',
      'open /dev/kmsg-copy rdonly',
    ),
    (plan, dir) => {
      // What specToPlan made of the spec's rules plus runc's defaults.
      assert.equal(plan.deviceCgroup, dir);
      assert.deepEqual(plan.deviceRules[0], rule(false, 'a', any, any, ACC.rwm));
    },
  );
  assert.equal(run.code, 0, run.stderr);
  const [nul, zero, full, urandom, mknodKmsg, kmsgW, kmsgR] = run.results;
  assertOpened(nul, 'open /dev/null rdwr');
  assertOpened(zero, 'open /dev/zero rdwr');
  assertOpened(full, 'open /dev/full wronly');
  assertOpened(urandom, 'open /dev/urandom rdonly');
  assertOpened(mknodKmsg, 'mknod c 1:11');
  // The next test opens the same node for writing under an allow-all
  // filter: here the EPERM is the filter's.
  assertRefused(kmsgW, 'open c 1:11 for writing');
  assertRefused(kmsgR, 'open c 1:11 for reading');
});

test('the device filter lets the last matching rule decide; a grant needs every bit, a denial any bit', { skip }, async () => {
  const run = await runFiltered(
    probes(
      'open /dev/zero rdonly',
      'open /dev/zero rdwr',
      'open /dev/full rdonly',
      'open /dev/full rdwr',
      'open /dev/full wronly',
      'open /dev/null rdwr',
      'open /dev/urandom rdonly',
    ),
    (plan) => {
      plan.deviceRules = [
        rule(false, 'a', any, any, ACC.rwm),
        rule(true, 'c', any, any, ACC.m), // berth-init makes the /dev nodes
        rule(true, 'c', 1, 3, ACC.rwm),
        rule(true, 'c', 1, 5, ACC.r),
        rule(true, 'c', 1, 7, ACC.rwm),
        rule(false, 'c', 1, 7, ACC.w),
      ];
    },
  );
  assert.equal(run.code, 0, run.stderr);
  const [zeroR, zeroRW, fullR, fullRW, fullW, nullRW, urandom] = run.results;
  assertOpened(zeroR, 'zero, read granted');
  assertRefused(zeroRW, 'zero, write not granted');
  assertOpened(fullR, 'full, later denial of w does not touch r');
  assertRefused(fullRW, 'full, later denial of w refuses rw');
  assertRefused(fullW, 'full, later denial of w');
  assertOpened(nullRW, 'null, granted rwm');
  assertRefused(urandom, 'urandom, no rule: denied by default');
});

test('a rule set ending in allow-all lets devices open that earlier rules denied', { skip }, async () => {
  const calls = ['open /dev/zero rdwr', 'open /dev/urandom rdonly', 'mknod /dev/zero-copy 1 5', 'open /dev/zero-copy rdonly', 'mknod /dev/kmsg-copy 1 11', 'open /dev/kmsg-copy wronly'];
  const run = await runFiltered(probes(...calls), (plan) => {
    plan.deviceRules = [
      rule(false, 'a', any, any, ACC.rwm),
      rule(false, 'c', 1, 5, ACC.rwm),
      rule(false, 'c', 1, 9, ACC.r),
      rule(true, 'a', any, any, ACC.rwm),
    ];
  });
  assert.equal(run.code, 0, run.stderr);
  for (const [i, what] of calls.entries()) assertOpened(run.results[i], what);
});

test('berth-init refuses a device cgroup that is not a cgroup v2 directory, at stage device-filter, before any clone', { skip }, async () => {
  await assert.rejects(
    runFiltered('true', (plan) => {
      plan.deviceCgroup = testTmpRoot();
    }),
    (e) => isBerthError(e) && /failed at device-filter: .* is not a cgroup v2 directory.*ENOTDIR/.test(e.message),
  );
});

test('berth-init refuses a device rule of an unknown type as an invalid plan', { skip }, async () => {
  await assert.rejects(
    runFiltered('true', (plan) => {
      plan.deviceRules.push({ allow: true, type: 'x' as 'a', major: any, minor: any, access: ACC.rwm });
    }),
    (e) => isBerthError(e) && /failed at plan: invalid plan: device rule \d+ has type 120/.test(e.message),
  );
});
