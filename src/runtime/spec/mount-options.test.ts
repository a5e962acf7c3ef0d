import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBerthError } from '../../errors/index.js';
import { MS } from '../../oci/linux-constants.js';
import { knownMountOptions, parseMountOptions } from './mount-options.js';

test('mount flag constants have the kernel values', () => {
  assert.equal(MS.RDONLY, 1n);
  assert.equal(MS.NOSUID, 2n);
  assert.equal(MS.NODEV, 4n);
  assert.equal(MS.NOEXEC, 8n);
  assert.equal(MS.SYNCHRONOUS, 16n);
  assert.equal(MS.REMOUNT, 32n);
  assert.equal(MS.MANDLOCK, 64n);
  assert.equal(MS.DIRSYNC, 128n);
  assert.equal(MS.NOATIME, 1024n);
  assert.equal(MS.NODIRATIME, 2048n);
  assert.equal(MS.BIND, 4096n);
  assert.equal(MS.MOVE, 8192n);
  assert.equal(MS.REC, 16384n);
  assert.equal(MS.SILENT, 32768n);
  assert.equal(MS.UNBINDABLE, 1n << 17n);
  assert.equal(MS.PRIVATE, 1n << 18n);
  assert.equal(MS.SLAVE, 1n << 19n);
  assert.equal(MS.SHARED, 1n << 20n);
  assert.equal(MS.RELATIME, 1n << 21n);
  assert.equal(MS.STRICTATIME, 1n << 24n);
});

test('parseMountOptions turns flag options into MS_* flags and the rest into data', () => {
  const p = parseMountOptions(['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']);
  assert.equal(p.flags, MS.NOSUID | MS.NOEXEC | MS.NODEV);
  assert.equal(p.clearFlags, 0n);
  assert.equal(p.data, 'mode=1777,size=65536k');
  assert.deepEqual(p.propagation, []);
  assert.equal(p.bind, false);
  assert.equal(p.remountFlags, 0n);
});

test('parseMountOptions lets a later option undo an earlier one and records cleared flags', () => {
  const p = parseMountOptions(['ro', 'rw', 'nosuid', 'suid', 'noexec', 'exec', 'nodev', 'dev', 'sync', 'async', 'mand', 'nomand']);
  assert.equal(p.flags, 0n);
  assert.equal(p.clearFlags, MS.RDONLY | MS.NOSUID | MS.NOEXEC | MS.NODEV | MS.SYNCHRONOUS | MS.MANDLOCK);
  const q = parseMountOptions(['rw', 'ro']);
  assert.equal(q.flags, MS.RDONLY);
  assert.equal(q.clearFlags, 0n);
});

test('parseMountOptions knows the atime family, dirsync, remount and defaults', () => {
  assert.equal(parseMountOptions(['noatime']).flags, MS.NOATIME);
  assert.equal(parseMountOptions(['noatime', 'atime']).clearFlags, MS.NOATIME);
  assert.equal(parseMountOptions(['nodiratime']).flags, MS.NODIRATIME);
  assert.equal(parseMountOptions(['diratime']).clearFlags, MS.NODIRATIME);
  assert.equal(parseMountOptions(['relatime']).flags, MS.RELATIME);
  assert.equal(parseMountOptions(['norelatime']).clearFlags, MS.RELATIME);
  assert.equal(parseMountOptions(['strictatime']).flags, MS.STRICTATIME);
  assert.equal(parseMountOptions(['nostrictatime']).clearFlags, MS.STRICTATIME);
  assert.equal(parseMountOptions(['dirsync']).flags, MS.DIRSYNC);
  assert.equal(parseMountOptions(['remount']).flags, MS.REMOUNT);
  const d = parseMountOptions(['defaults']);
  assert.equal(d.flags, 0n);
  assert.equal(d.data, '');
});

test('parseMountOptions marks bind and rbind and computes the remount flags', () => {
  const b = parseMountOptions(['bind', 'ro', 'nosuid']);
  assert.equal(b.bind, true);
  assert.equal(b.recursive, false);
  assert.equal(b.flags, MS.BIND | MS.RDONLY | MS.NOSUID);
  assert.equal(b.remountFlags, MS.RDONLY | MS.NOSUID);
  const r = parseMountOptions(['rbind', 'rprivate']);
  assert.equal(r.bind, true);
  assert.equal(r.recursive, true);
  assert.equal(r.flags, MS.BIND | MS.REC);
  assert.equal(r.remountFlags, 0n);
  assert.deepEqual(r.propagation, [MS.PRIVATE | MS.REC]);
});

test('parseMountOptions keeps propagation options in order', () => {
  const p = parseMountOptions(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave', 'unbindable', 'runbindable']);
  assert.deepEqual(p.propagation, [
    MS.PRIVATE,
    MS.PRIVATE | MS.REC,
    MS.SHARED,
    MS.SHARED | MS.REC,
    MS.SLAVE,
    MS.SLAVE | MS.REC,
    MS.UNBINDABLE,
    MS.UNBINDABLE | MS.REC,
  ]);
  assert.equal(p.flags, 0n);
});

test('parseMountOptions rejects tmpcopyup, idmap and recursive attributes as unsupported, naming the option', () => {
  for (const [option, word] of [['tmpcopyup', 'tmpcopyup'], ['idmap', 'id-mapped'], ['ridmap', 'id-mapped'], ['rro', 'recursive'], ['rnosuid', 'recursive']]) {
    assert.throws(
      () => parseMountOptions(['nosuid', option!], 'mounts[3].options'),
      (err: unknown) =>
        isBerthError(err, 'CONFIG_UNSUPPORTED') && err.field === 'mounts[3].options[1]' && err.message.startsWith('mounts[3].options[1]: ') && err.message.includes(word!),
      option,
    );
  }
});

test('parseMountOptions refuses a flag hidden behind a comma but keeps commas in data', () => {
  assert.throws(
    () => parseMountOptions(['ro,nosuid'], 'mounts[0].options'),
    (err: unknown) => isBerthError(err, 'CONFIG_INVALID') && err.field === 'mounts[0].options[0]',
  );
  assert.equal(parseMountOptions(['context="system_u:object_r:svirt_sandbox_file_t:s0:c1,c2"']).data, 'context="system_u:object_r:svirt_sandbox_file_t:s0:c1,c2"');
});

test('knownMountOptions lists what berth honours, sorted, without the rejected ones', () => {
  const known = knownMountOptions();
  assert.deepEqual(known, [...known].sort());
  for (const o of ['ro', 'rw', 'bind', 'rbind', 'rprivate', 'nosymfollow', 'defaults']) assert.ok(known.includes(o), o);
  for (const o of ['tmpcopyup', 'idmap', 'rro']) assert.ok(!known.includes(o), o);
});
