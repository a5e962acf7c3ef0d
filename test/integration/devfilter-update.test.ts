/**
 * `update` of the device rules on cgroup v2: berth-init's devices mode
 * replaces the device filter (an eBPF program) of a running container.
 *
 * As in devfilter.test.ts, the container is started by driving berth-init
 * directly, in a fresh directory of whatever cgroup2 mount the host has (on
 * this hybrid host /sys/fs/cgroup/unified, which has no controllers but
 * takes device programs). The container runs the probe on each line it
 * reads from its stdin, so one container sees the filter before and after.
 *
 * What cannot run here: updateContainer (`berth-runtime update`) picks the
 * cgroup v2 manager only on a pure v2 host. These tests drive everything it
 * runs on v2 below the manager choice: resourcesToApply (the merged, completed
 * rule list), planDeviceRules, deviceFilterPlan and replaceDeviceFilter.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';

import { isBerthError } from '../../src/errors/index.js';
import type { Spec } from '../../src/oci/runtime-spec.js';
import { resourcesToApply } from '../../src/runtime/container/update.js';
import { replaceDeviceFilter } from '../../src/runtime/executor/replace-device-filter.js';
import { initPath, spawnInit } from '../../src/runtime/executor/spawn-init.js';
import { SYNC } from '../../src/runtime/plan/attrs.js';
import { deviceFilterPlan, planDeviceRules } from '../../src/runtime/plan/device-filter-plan.js';
import type { Plan } from '../../src/runtime/plan/plan.js';
import { specToPlan } from '../../src/runtime/spec/to-plan.js';
import { ACC, any, assertOpened, assertRefused, devfilterSkip as skip, rule, withCgroup, withFilteredContainer } from '../helpers/devfilter-harness.js';
import { withLeakCheck } from '../helpers/leaks.js';
import { TEST_TMP_PREFIX, testTmpRoot } from '../helpers/paths.js';
import type { ProbeResult } from '../helpers/probe.js';
import { which } from '../helpers/requires.js';

withLeakCheck();

/** The programs attached to a cgroup, as `berth-init --device-filters` lists them. */
function filters(dir: string): Array<{ id: number; name: string }> {
  return JSON.parse(execFileSync(initPath(), ['--device-filters', dir], { encoding: 'utf8' })) as Array<{ id: number; name: string }>;
}

function berthFilterIds(dir: string): number[] {
  return filters(dir).filter((f) => f.name === 'berth_devices').map((f) => f.id);
}

interface Running {
  id: string;
  spec: Spec;
  cgroupDir: string;
  /** Run `/probe syscall CALL` in the container and return what it printed. */
  probe(call: string): Promise<ProbeResult>;
}

/**
 * Run a busybox container in a fresh cgroup2 directory with the device
 * filter specToPlan makes for the default spec (`edit` may change the plan),
 * through create and start, and hand it to `body`. The container runs the
 * probe on each line of its stdin and ends, with status 0, when it closes.
 */
async function withContainer(edit: (plan: Plan) => void, body: (c: Running) => Promise<void>): Promise<void> {
  const script = 'while read call; do /probe syscall $call; done';
  await withFilteredContainer({ name: 'devupd', script, stdio: 'pipes', edit }, async (c) => {
    const { child } = c.init;
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const probe = async (call: string): Promise<ProbeResult> => {
      child.stdin!.write(`${call}\n`);
      for (;;) {
        const next = await lines.next();
        if (next.done) throw new Error(`the container ended before answering \`${call}\`: ${await c.stderr()}`);
        if (next.value.startsWith('{')) return JSON.parse(next.value) as ProbeResult;
      }
    };
    await body({ id: c.id, spec: c.spec, cgroupDir: c.cgroupDir, probe });
    child.stdin!.end();
    assert.equal(await c.init.exited, 0, await c.stderr());
  });
}

test('update lets a running container open a device its filter refused, with exactly one berth filter in place after', { skip }, async () => {
  await withContainer(() => {}, async (c) => {
    assertOpened(await c.probe('mknod /dev/kmsg-copy 1 11'), 'mknod c 1:11 (c *:* m)');
    assertRefused(await c.probe('open /dev/kmsg-copy wronly'), 'open c 1:11 under the default rules');
    const before = berthFilterIds(c.cgroupDir);
    assert.equal(before.length, 1, 'create attached one filter');

    // What updateContainer sends on v2 for `update --resources` with this list.
    const patch = { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'w' }] };
    const rules = planDeviceRules(resourcesToApply(c.spec, patch).devices ?? [], (i, n) => `devices[${i}].${n}`);
    await replaceDeviceFilter(deviceFilterPlan({ containerId: c.id, cgroupDir: c.cgroupDir, rules }));

    assertOpened(await c.probe('open /dev/kmsg-copy wronly'), 'open c 1:11 for writing after the update granted w');
    assertRefused(await c.probe('open /dev/kmsg-copy rdonly'), 'open c 1:11 for reading, not granted');
    assertOpened(await c.probe('open /dev/null rdwr'), 'the default devices stay allowed');
    const after = berthFilterIds(c.cgroupDir);
    assert.equal(after.length, 1, `exactly one berth filter after the update, got ${JSON.stringify(filters(c.cgroupDir))}`);
    assert.notEqual(after[0], before[0], 'the filter is a new program');
  });
});

test('update refuses a running container a device its filter allowed', { skip }, async () => {
  await withContainer(() => {}, async (c) => {
    assertOpened(await c.probe('open /dev/null rdwr'), '/dev/null under the default rules');
    await replaceDeviceFilter(deviceFilterPlan({
      containerId: c.id,
      cgroupDir: c.cgroupDir,
      rules: [rule(false, 'a', any, any, ACC.rwm), rule(true, 'c', any, any, ACC.m), rule(true, 'c', 1, 5, ACC.rwm)],
    }));
    assertRefused(await c.probe('open /dev/null rdwr'), '/dev/null after the update dropped it');
    assertOpened(await c.probe('open /dev/zero rdwr'), '/dev/zero, still granted');
    assert.equal(berthFilterIds(c.cgroupDir).length, 1);
  });
});

test('update with no rules (allow all) removes the filter, and a later update on a cgroup without one attaches one', { skip }, async () => {
  await withContainer(() => {}, async (c) => {
    assertOpened(await c.probe('mknod /dev/kmsg-copy 1 11'), 'mknod c 1:11');
    assertRefused(await c.probe('open /dev/kmsg-copy wronly'), 'c 1:11 under the default rules');
    // A privileged container's rules: planDeviceRules gives none.
    const rules = planDeviceRules(resourcesToApply(c.spec, { devices: [{ allow: true, access: 'rwm' }] }).devices ?? [], (i, n) => `devices[${i}].${n}`);
    assert.deepEqual(rules, []);
    await replaceDeviceFilter(deviceFilterPlan({ containerId: c.id, cgroupDir: c.cgroupDir, rules }));
    assert.deepEqual(berthFilterIds(c.cgroupDir), []);
    assertOpened(await c.probe('open /dev/kmsg-copy wronly'), 'c 1:11 with no filter');

    await replaceDeviceFilter(deviceFilterPlan({
      containerId: c.id,
      cgroupDir: c.cgroupDir,
      rules: [rule(false, 'a', any, any, ACC.rwm), rule(true, 'c', 1, 3, ACC.rwm)],
    }));
    assert.equal(berthFilterIds(c.cgroupDir).length, 1);
    assertRefused(await c.probe('open /dev/kmsg-copy wronly'), 'c 1:11 under the new filter');
    assertOpened(await c.probe('open /dev/null rdwr'), '/dev/null under the new filter');
  });
});

test('update replaces several berth filters on one cgroup by one (attach the new, then detach the old)', { skip }, async () => {
  await withContainer(() => {}, async (c) => {
    assertOpened(await c.probe('mknod /dev/kmsg-copy 1 11'), 'mknod c 1:11');
    // A second filter: a create whose stage 0 attaches its filter and then
    // fails joining a namespace that does not exist.
    const failing = specToPlan(c.spec, {
      id: `${c.id}-extra`, bundle: '/', rootfs: '/', parentWaits: true, cgroupVersion: 2, deviceCgroup: c.cgroupDir,
    });
    failing.nsJoin = [{ type: 0x40000000n, path: join(testTmpRoot(), `${TEST_TMP_PREFIX}no-such-netns`) }];
    const init = spawnInit(failing, { stdio: ['ignore', 'ignore', 'ignore'] });
    try {
      await assert.rejects(init.sync.expect(SYNC.CHILD_PID, 'it created the container process'), /failed at ns-join/);
    } finally {
      init.sync.close();
      await init.exited;
    }
    assert.equal(berthFilterIds(c.cgroupDir).length, 2, 'two berth filters before the update');
    assertRefused(await c.probe('open /dev/kmsg-copy wronly'), 'c 1:11 under both');

    await replaceDeviceFilter(deviceFilterPlan({
      containerId: c.id,
      cgroupDir: c.cgroupDir,
      rules: [rule(false, 'a', any, any, ACC.rwm), rule(true, 'c', 1, 11, ACC.w), rule(true, 'c', 1, 3, ACC.rwm)],
    }));
    assert.equal(berthFilterIds(c.cgroupDir).length, 1, 'one berth filter after the update');
    assertOpened(await c.probe('open /dev/kmsg-copy wronly'), 'c 1:11 granted by the only filter left');
  });
});

test('without CAP_SYS_ADMIN (rootless) update fails with PERMISSION_DENIED naming the privilege, and the old filter stays', { skip: skip ?? (which('setpriv') ? undefined : 'needs setpriv') }, async () => {
  await withContainer(() => {}, async (c) => {
    assertOpened(await c.probe('mknod /dev/kmsg-copy 1 11'), 'mknod c 1:11');
    const before = berthFilterIds(c.cgroupDir);
    const tmp = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}devupd-nocaps-`));
    // berth-init as uid 0 with no capabilities at all: execve gives root only
    // the capabilities of the bounding set, which setpriv empties.
    const wrapper = join(tmp, 'berth-init-nocaps');
    await writeFile(wrapper, `#!/bin/sh\nexec ${which('setpriv')} --bounding-set=-all --inh-caps=-all ${initPath()} "$@"\n`);
    await chmod(wrapper, 0o755);
    const saved = process.env['BERTH_INIT'];
    process.env['BERTH_INIT'] = wrapper;
    try {
      await assert.rejects(
        replaceDeviceFilter(deviceFilterPlan({ containerId: c.id, cgroupDir: c.cgroupDir, rules: [rule(true, 'a', any, any, ACC.rwm)] })),
        (e) => isBerthError(e, 'PERMISSION_DENIED') && e.errno === 1 && e.message.includes(`container \`${c.id}\``)
          && /CAP_SYS_ADMIN/.test(e.message) && /rootless/.test(e.message),
      );
    } finally {
      if (saved === undefined) delete process.env['BERTH_INIT'];
      else process.env['BERTH_INIT'] = saved;
      await rm(tmp, { recursive: true, force: true });
    }
    assert.deepEqual(berthFilterIds(c.cgroupDir), before, 'the old filter is untouched');
    assertRefused(await c.probe('open /dev/kmsg-copy wronly'), 'c 1:11 still refused');
  });
});

test('berth-init refuses a devices-mode plan that carries anything but the cgroup and rules, before touching the filter', { skip }, async () => {
  await withCgroup('devupd', async (dir) => {
    const plan = deviceFilterPlan({ containerId: 'bad', cgroupDir: dir, rules: [rule(false, 'a', any, any, ACC.rwm)] });
    await assert.rejects(
      replaceDeviceFilter({ ...plan, args: ['/bin/true'] }),
      (e) => isBerthError(e, 'EXECUTOR_FAILED') && /failed at plan: invalid plan: ARG is not for devices mode/.test(e.message),
    );
    await assert.rejects(
      replaceDeviceFilter({ ...plan, deviceCgroup: undefined, deviceRules: [] }),
      (e) => isBerthError(e, 'EXECUTOR_FAILED') && /invalid plan: devices mode needs a DEVICE_CGROUP/.test(e.message),
    );
    await assert.rejects(
      replaceDeviceFilter({ ...plan, deviceRules: [rule(true, 'c', 1, 3, 0)] }),
      (e) => isBerthError(e, 'EXECUTOR_FAILED') && /device rule 0 has access 0x0/.test(e.message),
    );
    assert.deepEqual(filters(dir), [], 'nothing was attached');
  });
});

test('update refuses a device cgroup that is not a cgroup v2 directory, naming it', { skip }, async () => {
  const tmp = await mkdtemp(join(testTmpRoot(), `${TEST_TMP_PREFIX}devupd-notcg-`));
  try {
    await assert.rejects(
      replaceDeviceFilter(deviceFilterPlan({ containerId: 'x', cgroupDir: tmp, rules: [rule(false, 'a', any, any, ACC.rwm)] })),
      (e) => isBerthError(e, 'EXECUTOR_FAILED') && e.message.includes(`${tmp} is not a cgroup v2 directory`) && /ENOTDIR/.test(e.message),
    );
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
