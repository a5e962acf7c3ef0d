import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Spec } from '../../oci/runtime-spec.js';
import { mergeResources, resourcesToApply } from './update.js';

test('update replaces linux.resources.devices and completes the list as create does (linux.devices, then the defaults)', () => {
  const spec = {
    ociVersion: '1.2.0',
    linux: {
      devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }],
      resources: { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 4, minor: 1, access: 'rw' }], pids: { limit: 5 } },
    },
  } as unknown as Spec;
  const apply = resourcesToApply(spec, { devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 11, access: 'w' }] });
  const devices = apply.devices ?? [];
  assert.deepEqual(devices.slice(0, 3), [
    { allow: false, access: 'rwm' },
    { allow: true, type: 'c', major: 1, minor: 11, access: 'w' },
    { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
  ]);
  assert.ok(devices.some((d) => d.major === 1 && d.minor === 3 && d.allow), 'the defaults keep /dev/null');
  assert.ok(!devices.some((d) => d.major === 4), 'the old list is replaced, not merged');
  // Without devices in the patch nothing about devices changes.
  assert.equal(resourcesToApply(spec, { pids: { limit: 9 } }).devices, undefined);
});

test('mergeResources merges resource groups one level deep and replaces lists', () => {
  const merged = mergeResources({ memory: { limit: 1, swap: 2 }, devices: [{ allow: false }] }, { memory: { limit: 3 }, devices: [{ allow: true }] });
  assert.deepEqual(merged, { memory: { limit: 3, swap: 2 }, devices: [{ allow: true }] });
});
