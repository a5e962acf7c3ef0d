import { test } from 'node:test';
import assert from 'node:assert/strict';

import { kernelAtLeast, kernelVersion } from './kernel-version.js';

test('kernelVersion reads major and minor of a distribution release string', () => {
  assert.deepEqual(kernelVersion('6.1.0-13-amd64'), [6, 1]);
  assert.deepEqual(kernelVersion('5.15.0-91-generic'), [5, 15]);
  assert.equal(kernelVersion('linux'), undefined);
});

test('kernelAtLeast compares numerically, minor within major', () => {
  assert.equal(kernelAtLeast('5.7', '5.10.0'), true);
  assert.equal(kernelAtLeast('5.7', '5.6.19'), false);
  assert.equal(kernelAtLeast('5.7', '6.0'), true);
  assert.equal(kernelAtLeast('5.7', '4.19.0'), false);
  assert.equal(kernelAtLeast('5.7', '5.7'), true);
  assert.equal(kernelAtLeast('5.7', 'weird'), undefined);
});
