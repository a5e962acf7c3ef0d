import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isBerthError } from '../../errors/index.js';
import { SpecialFiles } from './special-files.js';

const isRoot = process.getuid?.() === 0;

async function withRoot(fn: (root: string, outside: string) => Promise<void>): Promise<void> {
  const sandbox = await mkdtemp(join(tmpdir(), 'berth-special-'));
  const root = join(sandbox, 'root');
  const outside = join(sandbox, 'outside');
  await mkdir(join(root, 'a'), { recursive: true });
  await mkdir(outside);
  try {
    await fn(root, outside);
    assert.deepEqual(await readdir(outside), [], 'nothing was made outside the root');
  } finally {
    await rm(sandbox, { recursive: true, force: true });
  }
}

test('the helper makes nodes and sets xattrs, and close ends it', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  await withRoot(async (root) => {
    const sf = new SpecialFiles(root);
    await sf.makeNode(join(root, 'a'), 'wh', 'c', 0, 0, 0, 'a/.wh.wh');
    await sf.makeNode(root, 'fifo', 'p', 0o640, 0, 0, 'fifo');
    await sf.setXattr(join(root, 'a'), '.', 'trusted.overlay.opaque', Buffer.from('y'), 'a/.wh..wh..opq');
    const wh = await lstat(join(root, 'a/wh'));
    assert.ok(wh.isCharacterDevice() && wh.rdev === 0);
    const fifo = await lstat(join(root, 'fifo'));
    assert.ok(fifo.isFIFO());
    assert.equal(fifo.mode & 0o7777, 0o640, 'the mode is exact, not masked by a umask');
    await assert.rejects(sf.makeNode(join(root, 'a'), 'wh', 'c', 0, 0, 0, 'a/.wh.wh'), (err: unknown) => {
      assert.ok(isBerthError(err), String(err));
      assert.match(err.message, /`a\/\.wh\.wh`.*EEXIST/);
      return true;
    });
    await sf.close();
    await sf.close();
  });
});

test('the helper follows no symlink on the way, and refuses .. and paths outside the root', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  await withRoot(async (root, outside) => {
    // As if the tree changed after the caller resolved the parent.
    await symlink(outside, join(root, 'link'));
    const sf = new SpecialFiles(root);
    try {
      await assert.rejects(sf.makeNode(join(root, 'link'), 'x', 'c', 0, 0, 0, 'link/.wh.x'), (err: unknown) => isBerthError(err, 'LAYER_UNSAFE'));
      // lsetxattr acts on the link itself (or fails): never on the directory it points to.
      await sf.setXattr(root, 'link', 'trusted.x', Buffer.from('1'), 'link').catch(() => {});
      assert.doesNotMatch(execFileSync('getfattr', ['-d', '-m', '-', outside], { encoding: 'utf8' }), /trusted\.x/);
      await assert.rejects(sf.makeNode(`${root}/a/..`, 'x', 'c', 0, 0, 0, 'a/../x'), (err: unknown) => isBerthError(err));
      await assert.rejects(sf.makeNode(outside, 'x', 'c', 0, 0, 0, 'x'), (err: unknown) => isBerthError(err, 'LAYER_UNSAFE'));
      await assert.rejects(sf.makeNode(root, '../x', 'c', 0, 0, 0, 'x'), (err: unknown) => isBerthError(err));
      // Still answering after the refusals.
      await sf.makeNode(root, 'ok', 'c', 0, 0, 0, 'ok');
    } finally {
      await sf.close();
    }
  });
});

test('a missing helper binary fails naming it, and nothing is left running', async () => {
  await withRoot(async (root) => {
    const saved = process.env['BERTH_UNPACK_HELPER'];
    process.env['BERTH_UNPACK_HELPER'] = join(root, 'no-such-helper');
    const sf = new SpecialFiles(root);
    try {
      await assert.rejects(sf.makeNode(root, 'x', 'c', 0, 0, 0, 'x'), (err: unknown) => {
        assert.ok(isBerthError(err, 'LAYER_UNSUPPORTED'), String(err));
        assert.match(err.message, /no-such-helper/);
        return true;
      });
    } finally {
      await sf.close();
      if (saved === undefined) delete process.env['BERTH_UNPACK_HELPER'];
      else process.env['BERTH_UNPACK_HELPER'] = saved;
    }
  });
});
