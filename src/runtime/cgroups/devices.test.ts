import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import { DEFAULT_DEVICE_RULES, DeviceRuleState, classifyDeviceRules, formatV1DeviceRule, normalizeDeviceRule } from './devices.js';

const rule = (allow: boolean, type: string, major: number, minor: number, access: string) => normalizeDeviceRule({ allow, type, major, minor, access }, 0);

test('normalizeDeviceRule fills in type a, wildcards and rwm', () => {
  assert.deepEqual(normalizeDeviceRule({ allow: false }, 0), { allow: false, type: 'a', major: -1, minor: -1, access: 'rwm' });
  assert.deepEqual(normalizeDeviceRule({ allow: true, type: 'c', major: 1, minor: 3, access: 'mwr' }, 0).access, 'rwm');
});

test('normalizeDeviceRule rejects bad types, access and numbers with the field', () => {
  assert.throws(() => normalizeDeviceRule({ allow: true, type: 'p' }, 2), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.resources.devices[2].type');
  assert.throws(() => normalizeDeviceRule({ allow: true, access: 'rx' }, 0), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.resources.devices[0].access');
  assert.throws(() => normalizeDeviceRule({ allow: true, type: 'c', major: -5 }, 1), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.resources.devices[1].major');
});

test('formatV1DeviceRule writes the kernel format with * for wildcards', () => {
  assert.equal(formatV1DeviceRule(rule(true, 'c', 1, 3, 'rwm')), 'c 1:3 rwm');
  assert.equal(formatV1DeviceRule(rule(true, 'c', 136, -1, 'rw')), 'c 136:* rw');
  assert.equal(formatV1DeviceRule(normalizeDeviceRule({ allow: false }, 0)), 'a *:* rwm');
});

test('DeviceRuleState applies writes as the kernel does (checked against devices.list on Linux 6.18)', () => {
  // echo a > deny; c 1:3 rwm > allow; c *:* m > allow; c 1:3 w > deny  →  devices.list "c 1:3 rm\nc *:* m"
  const s = DeviceRuleState.fromRules([
    normalizeDeviceRule({ allow: false }, 0), rule(true, 'c', 1, 3, 'rwm'), rule(true, 'c', -1, -1, 'm'), rule(false, 'c', 1, 3, 'w'),
  ]);
  const kernel = DeviceRuleState.fromList('c 1:3 rm\nc *:* m\n');
  assert.deepEqual(s.transitionTo(kernel), []);
  assert.deepEqual(kernel.transitionTo(s), []);
});

test('transition between two deny-default states writes only the difference, grants first', () => {
  const from = DeviceRuleState.fromList('c 1:3 rwm\nc 1:5 rwm\n');
  const to = DeviceRuleState.fromRules([normalizeDeviceRule({ allow: false }, 0), rule(true, 'c', 1, 3, 'rwm'), rule(true, 'c', 1, 5, 'r'), rule(true, 'c', 1, 9, 'rwm')]);
  assert.deepEqual(from.transitionTo(to), [
    { file: 'devices.allow', line: 'c 1:9 rwm' },
    { file: 'devices.deny', line: 'c 1:5 wm' },
  ]);
});

test('transition from allow-all to a deny list resets with a deny-all first', () => {
  const from = DeviceRuleState.fromList('a *:* rwm\n');
  const to = DeviceRuleState.fromRules([normalizeDeviceRule({ allow: false }, 0), rule(true, 'c', 1, 3, 'rwm')]);
  assert.deepEqual(from.transitionTo(to), [
    { file: 'devices.deny', line: 'a *:* rwm' },
    { file: 'devices.allow', line: 'c 1:3 rwm' },
  ]);
});

test('transition between allow-default states writes only the denies, never an `a` reset', () => {
  const from = DeviceRuleState.fromList('a *:* rwm\n');
  const to = DeviceRuleState.fromRules([rule(false, 'b', 8, 0, 'rwm')]);
  assert.deepEqual(from.transitionTo(to), [{ file: 'devices.deny', line: 'b 8:0 rwm' }]);
  assert.deepEqual(from.transitionTo(DeviceRuleState.fromRules([normalizeDeviceRule({ allow: true }, 0)])), [], 'allow-all to allow-all writes nothing');
  assert.deepEqual(to.transitionTo(new DeviceRuleState(true)), [{ file: 'devices.allow', line: 'b 8:0 rwm' }]);
});

test('transition from a deny list to allow-all resets with an allow-all', () => {
  const from = DeviceRuleState.fromList('c 1:3 rwm\n');
  assert.deepEqual(from.transitionTo(new DeviceRuleState(true)), [{ file: 'devices.allow', line: 'a *:* rwm' }]);
});

test('classifyDeviceRules tells allow-all, the standard set and custom rules apart', () => {
  assert.equal(classifyDeviceRules([]), 'allow-all');
  assert.equal(classifyDeviceRules([normalizeDeviceRule({ allow: true }, 0)]), 'allow-all');
  assert.equal(classifyDeviceRules([normalizeDeviceRule({ allow: false }, 0), ...DEFAULT_DEVICE_RULES]), 'standard');
  assert.equal(classifyDeviceRules([normalizeDeviceRule({ allow: false }, 0)]), 'standard', 'deny-all grants nothing beyond the standard set');
  assert.equal(classifyDeviceRules([normalizeDeviceRule({ allow: false }, 0), rule(true, 'b', 8, 0, 'rw')]), 'custom');
  assert.equal(classifyDeviceRules([rule(false, 'c', 1, 3, 'rwm')]), 'custom', 'allow-default with a deny is a restriction too');
});
