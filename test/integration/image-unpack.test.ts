/**
 * Layer unpacking against tarballs berth did not write: GNU tar builds two
 * layers from busybox-static (long names, hardlinks, symlinks, a fifo,
 * xattrs, whiteouts); berth applies them, and the result must run busybox
 * in a chroot and hold exactly the expected tree.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { copyFile, lstat, mkdir, mkdtemp, readdir, readlink, rm, stat, symlink, link, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { applyLayer } from '../../src/image/unpack/index.js';
import { requires } from '../helpers/requires.js';

const LONG = 'a-directory-name-that-is-long-enough/to-need-gnu-or-pax-long-names-in-the-tar-header/because-it-exceeds-100-bytes';

function gnuTar(dir: string, out: string, format: 'gnu' | 'posix'): void {
  execFileSync('tar', [`--format=${format}`, '--numeric-owner', '--xattrs', '--xattrs-include=*', '-C', dir, '-cf', out, '.']);
}

test('layers written by GNU tar unpack into a tree that runs busybox', { skip: requires('root', 'busybox') }, async () => {
  const work = await mkdtemp(join(tmpdir(), 'berth-image-unpack-'));
  try {
    const l1 = join(work, 'l1');
    await mkdir(join(l1, 'bin'), { recursive: true });
    await mkdir(join(l1, 'etc'));
    await mkdir(join(l1, 'var/cache/app'), { recursive: true });
    await copyFile('/bin/busybox', join(l1, 'bin/busybox'));
    await symlink('busybox', join(l1, 'bin/sh'));
    await link(join(l1, 'bin/busybox'), join(l1, 'bin/ls'));
    await writeFile(join(l1, 'etc/motd'), 'hello\n');
    await writeFile(join(l1, 'var/cache/app/old'), 'old\n');
    await mkdir(join(l1, LONG), { recursive: true });
    await writeFile(join(l1, LONG, 'file'), 'long\n');
    execFileSync('mkfifo', [join(l1, 'fifo')]);
    execFileSync('setfattr', ['-n', 'user.berth', '-v', 'test', join(l1, 'etc/motd')]);
    gnuTar(l1, join(work, 'l1.tar'), 'posix');

    const l2 = join(work, 'l2');
    await mkdir(join(l2, 'etc'), { recursive: true });
    await mkdir(join(l2, 'var/cache/app'), { recursive: true });
    await writeFile(join(l2, 'etc/.wh.motd'), '');
    await writeFile(join(l2, 'var/cache/app/.wh..wh..opq'), '');
    await writeFile(join(l2, 'var/cache/app/new'), 'new\n');
    gnuTar(l2, join(work, 'l2.tar'), 'gnu');
    execFileSync('gzip', ['-k', join(work, 'l2.tar')]);

    // A full tree, whiteouts applied by deleting.
    const root = join(work, 'rootfs');
    await mkdir(root);
    const r1 = await applyLayer(createReadStream(join(work, 'l1.tar')), root, { whiteouts: 'delete' });
    assert.equal(r1.diffId, `sha256:${createHash('sha256').update(readFileSync(join(work, 'l1.tar'))).digest('hex')}`);
    const r2 = await applyLayer(createReadStream(join(work, 'l2.tar.gz')), root, { whiteouts: 'delete' });
    assert.equal(r2.compression, 'gzip');
    assert.equal(r2.diffId, `sha256:${createHash('sha256').update(readFileSync(join(work, 'l2.tar'))).digest('hex')}`);

    assert.equal(execFileSync('chroot', [root, '/bin/sh', '-c', 'echo hi from $(busybox ls /bin | busybox wc -l) files'], { encoding: 'utf8' }), 'hi from 3 files\n');
    assert.deepEqual((await readdir(join(root, 'etc'))), []);
    assert.deepEqual(await readdir(join(root, 'var/cache/app')), ['new']);
    assert.equal(await readlink(join(root, 'bin/sh')), 'busybox');
    assert.equal((await stat(join(root, 'bin/ls'))).ino, (await stat(join(root, 'bin/busybox'))).ino);
    assert.ok((await lstat(join(root, 'fifo'))).isFIFO());
    assert.equal(readFileSync(join(root, LONG, 'file'), 'utf8'), 'long\n');

    // The same layers as overlay upper directories: layer 1 keeps the user xattr, layer 2 gets overlay whiteouts.
    const up1 = join(work, 'up1');
    const up2 = join(work, 'up2');
    await mkdir(up1);
    await mkdir(up2);
    await applyLayer(createReadStream(join(work, 'l1.tar')), up1);
    await applyLayer(createReadStream(join(work, 'l2.tar.gz')), up2);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.berth', join(up1, 'etc/motd')], { encoding: 'utf8' }), 'test');
    const wh = await lstat(join(up2, 'etc/motd'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(up2, 'var/cache/app')], { encoding: 'utf8' }), 'y');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
