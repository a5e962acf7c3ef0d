import assert from 'node:assert/strict';
import { test } from 'node:test';

import { isBerthError } from '../../errors/index.js';
import { MAX_MOUNT_DATA_BYTES, mountCommand } from './mount-rootfs.js';

test('bind and short overlay descriptions become plain mount command lines', () => {
  assert.deepEqual(mountCommand({ type: 'bind', source: '/s/fs', options: ['rbind', 'ro'] }, '/b/rootfs'), { args: ['-o', 'rbind,ro', '--', '/s/fs', '/b/rootfs'] });
  assert.deepEqual(mountCommand({ type: 'bind', source: '/s/fs', options: ['rw'] }, '/b/rootfs'), { args: ['-o', 'bind,rw', '--', '/s/fs', '/b/rootfs'] });
  const overlay = { type: 'overlay', source: 'overlay', options: ['lowerdir=/s/2/fs:/s/1/fs', 'upperdir=/s/3/fs', 'workdir=/s/3/work'] };
  assert.deepEqual(mountCommand(overlay, '/b/rootfs'), { args: ['-t', 'overlay', '-o', overlay.options.join(','), '--', 'overlay', '/b/rootfs'] });
});

test('overlay options over a page get lower directories relative to their common parent, mounted from there', () => {
  const root = `/var/lib/berth/${'x'.repeat(40)}/snapshots`;
  const lowers = Array.from({ length: 120 }, (_, i) => `${root}/${i.toString(16).padStart(16, '0')}/fs`);
  const options = [`lowerdir=${lowers.join(':')}`, `upperdir=${root}/u/fs`, `workdir=${root}/u/work`];
  assert.ok(options.join(',').length > MAX_MOUNT_DATA_BYTES);
  const c = mountCommand({ type: 'overlay', source: 'overlay', options }, '/b/rootfs');
  assert.equal(c.cwd, root);
  const data = c.args[c.args.indexOf('-o') + 1]!;
  assert.ok(data.length <= MAX_MOUNT_DATA_BYTES, `${data.length} bytes`);
  assert.ok(data.startsWith(`lowerdir=0000000000000000/fs:0000000000000001/fs:`), data.slice(0, 80));
  assert.ok(data.includes(`upperdir=${root}/u/fs`), 'upper and work dirs stay absolute');
});

test('overlay options too long even when compacted fail with NOT_IMPLEMENTED naming the layer count', () => {
  const lowers = Array.from({ length: 300 }, (_, i) => `/a${i}/${'y'.repeat(20)}/fs`);
  assert.throws(
    () => mountCommand({ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`] }, '/b/rootfs'),
    (err: unknown) => isBerthError(err, 'NOT_IMPLEMENTED') && err.message.includes('300 layers') && err.message.includes('/b/rootfs'),
  );
});
