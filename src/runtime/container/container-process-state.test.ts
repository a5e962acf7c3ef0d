import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { SYNC_MAX_MSG } from '../plan/attrs.js';
import { containerProcessState, LONGEST_PID, type ContainerProcessStateInput } from './container-process-state.js';

function input(over: Partial<ContainerProcessStateInput> = {}, seccomp: Record<string, unknown> = {}): ContainerProcessStateInput {
  const spec = { ociVersion: '1.2.0', linux: { seccomp: { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/a.sock', ...seccomp } } } as Spec;
  return { id: 'web', bundle: '/b', spec, annotations: {}, pid: 4242, initPid: 4242, status: 'creating', ...over };
}

test('containerProcessState has runc\'s fields in runc\'s order', () => {
  const doc = JSON.parse(containerProcessState(input({ annotations: { a: 'b' } }, { listenerMetadata: 'm' }))) as Record<string, unknown>;
  assert.deepEqual(doc, {
    ociVersion: '1.2.0',
    fds: ['seccompFd'],
    pid: 4242,
    metadata: 'm',
    state: { ociVersion: '1.2.0', id: 'web', status: 'creating', pid: 4242, bundle: '/b', annotations: { a: 'b' } },
  });
  assert.deepEqual(Object.keys(doc), ['ociVersion', 'fds', 'pid', 'metadata', 'state']);
  assert.deepEqual(Object.keys(doc['state'] as object), ['ociVersion', 'id', 'status', 'pid', 'bundle', 'annotations']);
});

test('containerProcessState leaves out empty metadata and annotations (Go omitempty, as runc sends them)', () => {
  const doc = JSON.parse(containerProcessState(input({ status: 'running', pid: 7, initPid: 3 }, { listenerMetadata: '' }))) as Record<string, unknown>;
  assert.deepEqual(doc, {
    ociVersion: '1.2.0',
    fds: ['seccompFd'],
    pid: 7,
    state: { ociVersion: '1.2.0', id: 'web', status: 'running', pid: 3, bundle: '/b' },
  });
});

test('containerProcessState over SYNC_MAX_MSG bytes is CONFIG_UNSUPPORTED naming what to shorten', () => {
  const big = 'x'.repeat(SYNC_MAX_MSG);
  assert.throws(
    () => containerProcessState(input({ pid: LONGEST_PID, initPid: LONGEST_PID }, { listenerMetadata: big })),
    (err: unknown) => isBerthError(err, 'CONFIG_UNSUPPORTED') && err.field === 'linux.seccomp.listenerMetadata' && /over the 4096/.test(err.message),
  );
  const annotations = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`org.example.key-${i}`, 'value']));
  assert.throws(
    () => containerProcessState(input({ annotations })),
    (err: unknown) => isBerthError(err, 'CONFIG_UNSUPPORTED') && err.field === 'annotations',
  );
  // Just under the limit still fits.
  const fits = containerProcessState(input({}, { listenerMetadata: 'y'.repeat(SYNC_MAX_MSG - 200) }));
  assert.ok(Buffer.byteLength(fits) <= SYNC_MAX_MSG);
});
