import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../../errors/index.js';
import { execUser, parseGroup, parsePasswd, resolveImageUser } from './image-user.js';

const PASSWD = `root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:app user:/home/app:/bin/sh
broken:x:notanumber:5:broken:/:/bin/sh
+nisuser::::::
dup:x:1001:1001::/home/dup-first:/bin/sh
dup:x:1002:1002::/home/dup-second:/bin/sh
nohome:x:1003:1003::
`;

const GROUP = `root:x:0:
wheel:x:10:root,app
app:x:1000:app
audio:x:29:app,other
video:x:44:other
staff:x:50:app
nogid:x:oops:app
`;

const passwd = parsePasswd(PASSWD);
const group = parseGroup(GROUP);

function rejectsWith(fn: () => unknown, code: string, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isBerthError(err), String(err));
    assert.equal(err.code, code, err.message);
    for (const f of fragments) assert.ok(err.message.includes(f), `${err.message} should name ${f}`);
    return true;
  });
}

test('passwd and group parsing skips comments, NIS lines and lines whose ids are not numbers', () => {
  assert.deepEqual(
    passwd.map((u) => u.name),
    ['root', 'daemon', 'app', 'dup', 'dup', 'nohome'],
  );
  assert.deepEqual(passwd[2], { name: 'app', uid: 1000, gid: 1000, home: '/home/app' });
  assert.deepEqual(
    group.map((g) => [g.name, g.gid, g.members]),
    [
      ['root', 0, []],
      ['wheel', 10, ['root', 'app']],
      ['app', 1000, ['app']],
      ['audio', 29, ['app', 'other']],
      ['video', 44, ['other']],
      ['staff', 50, ['app']],
    ],
  );
});

test('a user name gives its uid, primary gid, home and every other group that lists it', () => {
  assert.deepEqual(execUser('app', passwd, group), { uid: 1000, gid: 1000, additionalGids: [10, 29, 50], home: '/home/app', name: 'app' });
});

test('a numeric uid is matched by uid, and one with no passwd entry is allowed with gid 0', () => {
  assert.deepEqual(execUser('1000', passwd, group), { uid: 1000, gid: 1000, additionalGids: [10, 29, 50], home: '/home/app', name: 'app' });
  assert.deepEqual(execUser('4242', passwd, group), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  assert.deepEqual(execUser('4242', undefined, undefined), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
});

test('the empty spec is root, with root entry groups', () => {
  assert.deepEqual(execUser('', passwd, group), { uid: 0, gid: 0, additionalGids: [10], home: '/root', name: 'root' });
  assert.deepEqual(execUser('', undefined, undefined), { uid: 0, gid: 0, additionalGids: [], home: '/' });
});

test('user:group and uid:gid set the primary gid and look up no supplementary groups', () => {
  assert.deepEqual(execUser('app:audio', passwd, group), { uid: 1000, gid: 29, additionalGids: [], home: '/home/app', name: 'app' });
  assert.deepEqual(execUser('1000:44', passwd, group), { uid: 1000, gid: 44, additionalGids: [], home: '/home/app', name: 'app' });
  assert.deepEqual(execUser('5000:6000', passwd, group), { uid: 5000, gid: 6000, additionalGids: [], home: '/' });
  assert.deepEqual(execUser('daemon:wheel', passwd, group).gid, 10);
});

test('the first matching line wins; an entry without home gets /', () => {
  assert.equal(execUser('dup', passwd, group).home, '/home/dup-first');
  assert.equal(execUser('nohome', passwd, group).home, '/');
});

test('groupAdd appends groups by name or number, once each', () => {
  assert.deepEqual(execUser('app', passwd, group, { groupAdd: ['video', '7777', 'audio'] }).additionalGids, [10, 29, 50, 44, 7777]);
});

test('a name not in passwd or group is USER_NOT_FOUND naming the user and the image', () => {
  rejectsWith(() => execUser('nobody', passwd, group, { image: 'reg/app:1' }), 'USER_NOT_FOUND', '`nobody`', '`reg/app:1`', '/etc/passwd');
  rejectsWith(() => execUser('app', undefined, undefined, { image: 'reg/app:1' }), 'USER_NOT_FOUND', '`app`', 'has no /etc/passwd');
  rejectsWith(() => execUser('app:nogroup', passwd, group, { image: 'reg/app:1' }), 'USER_NOT_FOUND', 'group `nogroup`', '`reg/app:1`');
  rejectsWith(() => execUser('app', passwd, group, { groupAdd: ['ghosts'] }), 'USER_NOT_FOUND', '`ghosts`');
});

test('malformed specs and ids out of range are IMAGE_CONFIG_INVALID', () => {
  rejectsWith(() => execUser('a:b:c', passwd, group), 'IMAGE_CONFIG_INVALID', '`a:b:c`');
  rejectsWith(() => execUser('app:', passwd, group), 'IMAGE_CONFIG_INVALID', 'empty group');
  rejectsWith(() => execUser('4294967296', passwd, group), 'IMAGE_CONFIG_INVALID', 'out of range');
  rejectsWith(() => execUser('1:2147483648', passwd, group), 'IMAGE_CONFIG_INVALID', 'out of range');
});

test('resolveImageUser reads the rootfs files, and never through a symlink that leaves the rootfs', async () => {
  const work = await mkdtemp(join(tmpdir(), 'berth-test-image-user-'));
  try {
    const root = join(work, 'rootfs');
    await mkdir(join(root, 'etc'), { recursive: true });
    await writeFile(join(root, 'etc/passwd'), PASSWD);
    await writeFile(join(root, 'etc/group'), GROUP);
    assert.equal(resolveImageUser(root, 'app').uid, 1000);

    // An absolute link is followed inside the rootfs.
    await mkdir(join(root, 'data'));
    await writeFile(join(root, 'data/passwd'), 'other:x:77:77::/o:/bin/sh\n');
    await rm(join(root, 'etc/passwd'));
    await symlink('/data/passwd', join(root, 'etc/passwd'));
    assert.deepEqual(resolveImageUser(root, 'other'), { uid: 77, gid: 77, additionalGids: [29, 44], home: '/o', name: 'other' });

    // A host file that a relative link would reach: refused, never read.
    const secret = join(work, 'host-passwd');
    await writeFile(secret, 'hostonly:x:5555:5555::/:/bin/sh\n');
    await rm(join(root, 'etc/passwd'));
    await symlink('../../host-passwd', join(root, 'etc/passwd'));
    assert.equal(await readFile(join(root, 'etc/passwd'), 'utf8'), 'hostonly:x:5555:5555::/:/bin/sh\n', 'the host would follow it');
    rejectsWith(() => resolveImageUser(root, 'hostonly', { image: 'evil' }), 'ROOTFS_UNSAFE', '/etc/passwd', 'climbs out of the rootfs');

    // An absolute link to the host's own /etc/passwd resolves to itself inside the rootfs: a loop.
    await rm(join(root, 'etc/passwd'));
    await symlink('/etc/passwd', join(root, 'etc/passwd'));
    rejectsWith(() => resolveImageUser(root, 'root'), 'ROOTFS_UNSAFE', '/etc/passwd', 'symbolic links');

    // A parent directory that is a link out of the rootfs.
    await rm(join(root, 'etc'), { recursive: true });
    await mkdir(join(work, 'hostetc'));
    await writeFile(join(work, 'hostetc/passwd'), 'hostonly:x:5555:5555::/:/bin/sh\n');
    await symlink('../hostetc', join(root, 'etc'));
    rejectsWith(() => resolveImageUser(root, 'hostonly'), 'ROOTFS_UNSAFE', 'climbs out');

    // No /etc at all: numeric users work, names do not.
    await rm(join(root, 'etc'));
    assert.deepEqual(resolveImageUser(root, '123:456'), { uid: 123, gid: 456, additionalGids: [], home: '/' });
    rejectsWith(() => resolveImageUser(root, 'app', { image: 'scratch-app' }), 'USER_NOT_FOUND', '`app`', '`scratch-app`');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
