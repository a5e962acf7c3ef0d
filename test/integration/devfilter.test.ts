/**
 * The cgroup v2 device filter that berth-init attaches (plan DEVICE_CGROUP
 * and DEVICE_RULE), checked from inside a container by the probe.
 *
 * These tests drive berth-init directly with a plan (test/helpers/
 * devfilter-harness.ts), playing berth-runtime's part of the sync
 * sequence, so that they run on a cgroup v1 host too: any cgroup2
 * directory takes a BPF_PROG_TYPE_CGROUP_DEVICE program, even one with no
 * controllers enabled (here the hybrid host's
 * /sys/fs/cgroup/unified). The test writes the container's pid into that
 * directory's cgroup.procs before CONTINUE, as `create` does.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import type { Plan } from '../../src/runtime/plan/plan.js';
import { ACC, any, assertOpened, assertRefused, devfilterSkip as skip, probes, rule, withFilteredContainer } from '../helpers/devfilter-harness.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { testTmpRoot } from '../helpers/paths.js';
import type { ProbeResult } from '../helpers/probe.js';

withLeakCheck();

interface Run {
  code: number;
  /** One probe result per `/probe syscall` line of the script, in order. */
  results: ProbeResult[];
  stderr: string;
}

/**
 * Run `script` (sh) in a busybox container whose plan comes from specToPlan
 * with the cgroup v2 context, with `edit` applied, until it exits. `edit`
 * sees the container's fresh cgroup2 directory as `cgroupDir`.
 */
async function runFiltered(script: string, edit: (plan: Plan, cgroupDir: string) => void): Promise<Run> {
  return withFilteredContainer({ name: 'devfilter', script, stdio: 'files', edit }, async (c) => {
    const code = await c.init.exited;
    const stdout = await readFile(c.stdoutPath, 'utf8');
    const results = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as ProbeResult);
    return { code, results, stderr: await c.stderr() };
  });
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
