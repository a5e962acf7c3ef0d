import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CAPABILITY_NAMES, capabilityMask, capabilityNames, findCapability, findCapabilityName } from './capabilities.js';

test('the capability table runs from CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40) without gaps', () => {
  assert.equal(CAPABILITY_NAMES.length, 41);
  assert.equal(findCapability('CAP_CHOWN'), 0);
  assert.equal(findCapability('CAP_SYS_ADMIN'), 21);
  assert.equal(findCapability('CAP_AUDIT_WRITE'), 29);
  assert.equal(findCapability('CAP_PERFMON'), 38);
  assert.equal(findCapability('CAP_BPF'), 39);
  assert.equal(findCapability('CAP_CHECKPOINT_RESTORE'), 40);
  CAPABILITY_NAMES.forEach((name, i) => assert.equal(findCapability(name), i));
  assert.equal(findCapabilityName(5), 'CAP_KILL');
  assert.equal(findCapability('CAP_NOPE'), undefined);
  assert.equal(findCapability('toString'), undefined);
});

test('capabilityMask sets one bit per capability and round-trips through capabilityNames', () => {
  const mask = capabilityMask(['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']);
  assert.equal(mask, (1n << 29n) | (1n << 5n) | (1n << 10n));
  assert.deepEqual(capabilityNames(mask), ['CAP_KILL', 'CAP_NET_BIND_SERVICE', 'CAP_AUDIT_WRITE']);
  assert.equal(capabilityMask(undefined), 0n);
  assert.equal(capabilityMask(CAPABILITY_NAMES), (1n << 41n) - 1n);
});

test('capabilityMask drops capabilities above the kernel last cap', () => {
  assert.equal(capabilityMask(['CAP_BPF', 'CAP_CHOWN'], 37), 1n);
});

test('capabilityMask throws on an unknown name', () => {
  assert.throws(() => capabilityMask(['CAP_FLY']), TypeError);
});
