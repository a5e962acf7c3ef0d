import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import { deviceFilterPlan, planDeviceRules } from './device-filter-plan.js';

const field = (i: number, n: string): string => `devices[${i}].${n}`;

test('planDeviceRules gives no rules for a set that allows every device', () => {
  assert.deepEqual(planDeviceRules([{ allow: true, access: 'rwm' }], field), []);
  assert.deepEqual(planDeviceRules([{ allow: false, access: 'rwm' }, { allow: true }], field), []);
});

test('planDeviceRules starts from deny-all and emits one leading a rule, then the exceptions', () => {
  const rules = planDeviceRules([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'rw' }], field);
  assert.deepEqual(rules, [
    { allow: false, type: 'a', major: -1, minor: -1, access: 7 },
    { allow: true, type: 'c', major: 1, minor: 11, access: 6 },
  ]);
  // Without any rule nothing is allowed: runc's deny-all start.
  assert.deepEqual(planDeviceRules([], field), [{ allow: false, type: 'a', major: -1, minor: -1, access: 7 }]);
});

test('planDeviceRules refuses a major over 0x7fffffff, naming the rule', () => {
  assert.throws(
    () => planDeviceRules([{ allow: true, type: 'c', major: 0x80000000, minor: 1, access: 'r' }], field),
    (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'devices[0].major' && /0x7fffffff|2147483647/.test(e.message),
  );
});

test('deviceFilterPlan is a devices-mode plan with nothing but the cgroup and the rules', () => {
  const plan = deviceFilterPlan({ containerId: 'c1', cgroupDir: '/sys/fs/cgroup/c1', rules: [] });
  assert.equal(plan.mode, 'devices');
  assert.equal(plan.deviceCgroup, '/sys/fs/cgroup/c1');
  assert.deepEqual([plan.args, plan.mounts, plan.nsJoin, plan.deviceRules], [[], [], [], []]);
  assert.equal(plan.rootfs, undefined);
});
