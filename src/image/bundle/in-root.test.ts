import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { isBerthError } from '../../errors/index.js';
import { cleanContainerPath, mkdirAllInRoot, readFileInRoot } from './in-root.js';

async function withRoot(fn: (work: string, root: string) => Promise<void>): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'berth-test-in-root-'));
  try {
    const root = join(work, 'rootfs');
    await mkdir(root);
    await fn(work, root);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function unsafe(fn: () => unknown, fragment: string): void {
  assert.throws(fn, (err: unknown) => isBerthError(err, 'ROOTFS_UNSAFE') && err.message.includes(fragment));
}

test('container paths are cleaned lexically at the root', () => {
  assert.deepEqual(cleanContainerPath('/a/./b/../c/'), ['a', 'c']);
  assert.deepEqual(cleanContainerPath('/../../x'), ['x']);
  assert.deepEqual(cleanContainerPath('/'), []);
});

test('readFileInRoot reads regular files, follows links inside the root, and returns undefined for missing ones', async () => {
  await withRoot(async (_work, root) => {
    await mkdir(join(root, 'real/dir'), { recursive: true });
    await writeFile(join(root, 'real/dir/f'), 'hello');
    await symlink('/real', join(root, 'abs'));
    await symlink('real/dir', join(root, 'rel'));
    await symlink('../dir/f', join(root, 'real/dir/self'));
    assert.equal(readFileInRoot(root, '/real/dir/f')?.toString(), 'hello');
    assert.equal(readFileInRoot(root, '/abs/dir/f')?.toString(), 'hello');
    assert.equal(readFileInRoot(root, '/rel/f')?.toString(), 'hello');
    assert.equal(readFileInRoot(root, '/rel/self')?.toString(), 'hello');
    assert.equal(readFileInRoot(root, '/real/dir/missing'), undefined);
    assert.equal(readFileInRoot(root, '/nothing/here/at/all'), undefined);
  });
});

test('readFileInRoot refuses escapes, loops, FIFOs, directories and oversized files', async () => {
  await withRoot(async (work, root) => {
    await writeFile(join(work, 'outside'), 'host secret');
    await symlink('../outside', join(root, 'up'));
    await symlink('/loop', join(root, 'loop'));
    await mkdir(join(root, 'd'));
    execFileSync('mkfifo', [join(root, 'fifo')]);
    await writeFile(join(root, 'big'), Buffer.alloc(100));
    await writeFile(join(root, 'file'), 'x');
    unsafe(() => readFileInRoot(root, '/up', { what: '/etc/passwd' }), 'climbs out');
    unsafe(() => readFileInRoot(root, '/loop'), 'too many levels');
    unsafe(() => readFileInRoot(root, '/fifo'), 'not a regular file');
    unsafe(() => readFileInRoot(root, '/d'), 'not a regular file');
    unsafe(() => readFileInRoot(root, '/big', { maxBytes: 10 }), 'larger than 10 bytes');
    unsafe(() => readFileInRoot(root, '/file/x'), 'not a directory');
  });
});

test('mkdirAllInRoot creates missing directories 0755 through links inside the root, and nothing outside', async () => {
  await withRoot(async (work, root) => {
    await mkdir(join(root, 'srv'));
    await symlink('/srv', join(root, 'app'));
    const old = process.umask(0o077);
    try {
      mkdirAllInRoot(root, '/app/data/deep');
    } finally {
      process.umask(old);
    }
    assert.ok((await stat(join(root, 'srv/data/deep'))).isDirectory());
    assert.equal((await stat(join(root, 'srv/data'))).mode & 0o777, 0o755);
    assert.equal((await stat(join(root, 'srv/data/deep'))).mode & 0o777, 0o755);
    mkdirAllInRoot(root, '/app/data/deep');

    await symlink('../../../escaped', join(root, 'work'));
    const before = await readdir(work);
    assert.throws(
      () => mkdirAllInRoot(root, '/work', { what: 'working directory' }),
      (err: unknown) => isBerthError(err, 'ROOTFS_UNSAFE') && /working directory `\/work`/.test(err.message) && err.message.includes('climbs out'),
    );
    assert.deepEqual(await readdir(work), before, 'nothing was created outside the root');
    assert.ok((await lstat(join(root, 'work'))).isSymbolicLink());

    await writeFile(join(root, 'file'), '');
    unsafe(() => mkdirAllInRoot(root, '/file'), 'not a directory');
    unsafe(() => mkdirAllInRoot(root, '/file/sub'), 'not a directory');
  });
});
