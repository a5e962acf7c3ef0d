import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSpec } from './default-spec.js';
import { fakeSpecHost } from './fake-spec-host.js';
import { findSpecProblems } from './validate-spec.js';

function runcPath(): string | undefined {
  for (const p of ['/usr/sbin/runc', '/usr/bin/runc', '/usr/local/sbin/runc', '/usr/local/bin/runc']) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function runcSpec(runc: string, args: string[]): Record<string, unknown> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-runc-spec-'));
  try {
    execFileSync(runc, ['spec', ...args], { cwd: dir, stdio: 'ignore' });
    return JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compare as JSON text after parsing, so key order counts too. */
function sameJson(ours: unknown, theirs: Record<string, unknown>): void {
  const a = { ...(JSON.parse(JSON.stringify(ours)) as Record<string, unknown>), ociVersion: 'x' };
  const b = { ...theirs, ociVersion: 'x' };
  assert.equal(JSON.stringify(a, null, 1), JSON.stringify(b, null, 1));
}

const runc = runcPath();
const skip = runc === undefined ? 'runc is not installed' : false;

test('defaultSpec matches `runc spec` apart from ociVersion', { skip }, () => {
  sameJson(defaultSpec(), runcSpec(runc!, []));
});

test('defaultSpec({ rootless: true }) matches `runc spec --rootless` apart from ociVersion', { skip }, () => {
  sameJson(defaultSpec({ rootless: true }), runcSpec(runc!, ['--rootless']));
});

test('defaultSpec says 1.0.2, the newest version whose fields it uses, so other runtimes accept it', () => {
  assert.equal(defaultSpec().ociVersion, '1.0.2');
});

test('the rootless spec maps root to the given host ids and has no network namespace', () => {
  const s = defaultSpec({ rootless: true, hostUid: 1000, hostGid: 100 });
  assert.deepEqual(s.linux!.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
  assert.deepEqual(s.linux!.gidMappings, [{ containerID: 0, hostID: 100, size: 1 }]);
  assert.deepEqual(s.linux!.namespaces!.map((n) => n.type), ['pid', 'ipc', 'uts', 'mount', 'user']);
  assert.equal(s.linux!.resources, undefined);
});

test('the default specs pass validation', () => {
  assert.deepEqual(findSpecProblems(defaultSpec(), { host: fakeSpecHost() }), []);
  assert.deepEqual(findSpecProblems(defaultSpec({ rootless: true, hostUid: 1000, hostGid: 1000 }), { host: fakeSpecHost(), rootless: true }), []);
});

test('defaultSpec returns a fresh object each time', () => {
  const a = defaultSpec();
  a.process!.args!.push('x');
  assert.deepEqual(defaultSpec().process!.args, ['sh']);
});
