import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import { blkioWeightToIoWeight, cpuSharesToWeight, limitToV2, memorySwapToV2 } from './convert.js';

test('cpuSharesToWeight follows runc: 2 → 1, 1024 → 39, 262144 → 10000, 0 stays unset', () => {
  assert.equal(cpuSharesToWeight(0), 0);
  assert.equal(cpuSharesToWeight(2), 1);
  assert.equal(cpuSharesToWeight(1024), 39);
  assert.equal(cpuSharesToWeight(512), 20);
  assert.equal(cpuSharesToWeight(262144), 10000);
});

test('cpuSharesToWeight clamps values outside the v1 range instead of wrapping', () => {
  assert.equal(cpuSharesToWeight(1), 1);
  assert.equal(cpuSharesToWeight(1_000_000), 10000);
});

test('blkioWeightToIoWeight maps [10, 1000] onto [1, 10000]', () => {
  assert.equal(blkioWeightToIoWeight(0), 0);
  assert.equal(blkioWeightToIoWeight(10), 1);
  assert.equal(blkioWeightToIoWeight(500), 4950);
  assert.equal(blkioWeightToIoWeight(1000), 10000);
});

test('memorySwapToV2 turns memory+swap into swap alone', () => {
  assert.equal(memorySwapToV2(300, 100), 200);
  assert.equal(memorySwapToV2(100, 100), 0);
  assert.equal(memorySwapToV2(0, 100), 0);
  assert.equal(memorySwapToV2(-1, 100), -1);
  assert.equal(memorySwapToV2(0, -1), -1, 'unlimited memory with swap unset is unlimited swap');
  assert.equal(memorySwapToV2(500, -1), 500);
});

test('memorySwapToV2 rejects swap without a memory limit and swap below memory', () => {
  assert.throws(() => memorySwapToV2(100, 0), (e) => isBerthError(e, 'CONFIG_INVALID') && e.field === 'linux.resources.memory.swap');
  assert.throws(() => memorySwapToV2(50, 100), (e) => isBerthError(e, 'CONFIG_INVALID') && /at least/.test(e.message));
});

test('limitToV2 writes -1 as max and leaves 0 unset', () => {
  assert.equal(limitToV2(-1), 'max');
  assert.equal(limitToV2(0), undefined);
  assert.equal(limitToV2(undefined), undefined);
  assert.equal(limitToV2(4096), '4096');
});
