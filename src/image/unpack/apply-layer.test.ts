import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { isBerthError } from '../../errors/index.js';
import { applyLayer } from './apply-layer.js';

interface Entry {
  header: Partial<tar.Header> & { name: string };
  content?: string;
}

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ ...e.header, mtime: e.header.mtime ?? new Date(1_600_000_000_000) } as tar.Header, e.content ?? "");
  pack.finalize();
  const out: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) out.push(c);
  return Buffer.concat(out);
}

async function* from(buf: Uint8Array, size = 700): AsyncIterable<Uint8Array> {
  for (let i = 0; i < buf.byteLength; i += size) yield buf.subarray(i, i + size);
}

const isRoot = process.getuid?.() === 0;

/** A sandbox holding `target` (the unpack dir) and `outside` (must never change). */
async function withSandbox(fn: (target: string, outside: string) => Promise<void>): Promise<void> {
  const sandbox = await mkdtemp(join(tmpdir(), 'berth-unpack-'));
  const target = join(sandbox, 'target');
  const outside = join(sandbox, 'outside');
  await mkdir(target);
  await mkdir(outside);
  await writeFile(join(outside, 'secret'), 'secret');
  try {
    await fn(target, outside);
    assert.deepEqual((await readdir(sandbox)).sort(), ['outside', 'target'], 'nothing was created beside the target');
    assert.deepEqual(await readdir(outside), ['secret'], 'nothing was written outside');
    assert.equal(await readFile(join(outside, 'secret'), 'utf8'), 'secret');
    const st = await stat(join(outside, 'secret'));
    assert.equal(st.nlink, 1, 'nothing was hardlinked to the outside file');
    assert.equal(st.mode & 0o777, 0o644);
  } finally {
    await rm(sandbox, { recursive: true, force: true });
  }
}

function rejectsUnsafe(entryName: string) {
  return (err: unknown) => {
    assert.ok(isBerthError(err, 'LAYER_UNSAFE'), `want LAYER_UNSAFE, got ${String(err)}`);
    assert.ok(err.message.includes(entryName), `error names the entry: ${err.message}`);
    return true;
  };
}

test('applyLayer unpacks files, dirs, links, fifos and devices with modes, owners and times', { skip: !isRoot && 'needs root' }, async () => {
  await withSandbox(async (target) => {
    const tarball = await makeTar([
      { header: { name: 'bin/', type: 'directory', mode: 0o755, mtime: new Date(1_500_000_000_000) } },
      { header: { name: 'bin/busybox', mode: 0o4755, uid: 1000, gid: 1001 }, content: 'ELF' },
      { header: { name: 'bin/sh', type: 'symlink', linkname: '/bin/busybox', uid: 7, gid: 8 } },
      { header: { name: 'bin/ls', type: 'link', linkname: 'bin/busybox' } },
      { header: { name: 'run/fifo', type: 'fifo', mode: 0o640 } },
      { header: { name: 'dev/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: './etc/../etc/hostname', mode: 0o644 }, content: 'berth\n' },
    ]);
    const result = await applyLayer(from(tarball), target);
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tarball).digest('hex')}`);
    assert.equal(result.sizeBytes, tarball.byteLength);
    assert.equal(result.compression, 'none');

    const bb = await stat(join(target, 'bin/busybox'));
    assert.equal(bb.mode & 0o7777, 0o4755, 'setuid survives chown');
    assert.equal(bb.uid, 1000);
    assert.equal(bb.gid, 1001);
    assert.equal(bb.nlink, 2);
    assert.equal(bb.mtimeMs, 1_600_000_000_000);
    assert.equal(await readlink(join(target, 'bin/sh')), '/bin/busybox', 'absolute symlink targets are kept');
    const sh = await lstat(join(target, 'bin/sh'));
    assert.equal(sh.uid, 7);
    assert.equal(sh.mtimeMs, 1_600_000_000_000);
    assert.equal((await stat(join(target, 'bin/ls'))).ino, bb.ino);
    assert.ok((await lstat(join(target, 'run/fifo'))).isFIFO());
    const dev = await lstat(join(target, 'dev/null'));
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.equal((await stat(join(target, 'bin'))).mtimeMs, 1_500_000_000_000, 'directory times are set after their children');
    assert.equal(await readFile(join(target, 'etc/hostname'), 'utf8'), 'berth\n');
  });
});

test('a gzip layer has the same diffID as its tar', async () => {
  await withSandbox(async (target) => {
    const tarball = await makeTar([{ header: { name: 'a.txt' }, content: 'x'.repeat(100_000) }]);
    const result = await applyLayer(from(gzipSync(tarball), 333), target, { ownership: false });
    assert.equal(result.compression, 'gzip');
    assert.equal(result.diffId, `sha256:${createHash('sha256').update(tarball).digest('hex')}`);
    await assert.rejects(applyLayer(from(gzipSync(tarball)), target, { expectedDiffId: `sha256:${'0'.repeat(64)}` }), (err: unknown) =>
      isBerthError(err, 'CONTENT_DIGEST_MISMATCH'),
    );
  });
});

test('whiteouts become overlayfs whiteouts and opaque directories', { skip: !isRoot && 'needs root (mknod, trusted xattrs)' }, async () => {
  await withSandbox(async (target) => {
    const tarball = await makeTar([
      { header: { name: 'etc/', type: 'directory', mode: 0o755 } },
      { header: { name: 'etc/.wh.motd', mode: 0o644 } },
      { header: { name: 'var/cache/', type: 'directory', mode: 0o755 } },
      { header: { name: 'var/cache/.wh..wh..opq', mode: 0o644 } },
      { header: { name: '.wh..wh.plnk/', type: 'directory' } },
    ]);
    await applyLayer(from(tarball), target);
    const wh = await lstat(join(target, 'etc/motd'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    const opaque = execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(target, 'var/cache')], { encoding: 'utf8' });
    assert.equal(opaque, 'y');
    assert.deepEqual((await readdir(target)).sort(), ['etc', 'var']);
  });
});

test('whiteouts delete paths when unpacking into a full tree', async () => {
  await withSandbox(async (target) => {
    await mkdir(join(target, 'etc/keep'), { recursive: true });
    await writeFile(join(target, 'etc/motd'), 'old');
    await writeFile(join(target, 'etc/keep/file'), 'old');
    const tarball = await makeTar([
      { header: { name: 'etc/.wh.motd' } },
      { header: { name: 'etc/keep/.wh..wh..opq' } },
      { header: { name: 'etc/keep/new' }, content: 'new' },
      { header: { name: 'etc/later/sub/x' }, content: 'x' },
      { header: { name: 'etc/later/.wh..wh..opq' } },
    ]);
    await applyLayer(from(tarball), target, { whiteouts: 'delete', ownership: false });
    assert.deepEqual((await readdir(join(target, 'etc'))).sort(), ['keep', 'later']);
    assert.deepEqual(await readdir(join(target, 'etc/later/sub')), ['x'], 'an opaque marker after the entries of its own layer keeps them');
    assert.deepEqual(await readdir(join(target, 'etc/keep')), ['new']);
  });
});

test('entries that climb out with .. are refused naming the entry', async () => {
  for (const name of ['../evil', 'a/../../evil', '../outside/secret']) {
    await withSandbox(async (target) => {
      const tarball = await makeTar([{ header: { name }, content: 'pwned' }]);
      await assert.rejects(applyLayer(from(tarball), target, { ownership: false }), rejectsUnsafe(name));
    });
  }
});

test('absolute entry names land inside the target', async () => {
  await withSandbox(async (target, outside) => {
    const tarball = await makeTar([{ header: { name: `${outside}/secret` }, content: 'pwned' }]);
    await applyLayer(from(tarball), target, { ownership: false });
    assert.equal(await readFile(join(target, outside, 'secret'), 'utf8'), 'pwned');
  });
});

test('a symlinked parent is resolved inside the target, absolute or relative', async () => {
  await withSandbox(async (target, outside) => {
    const tarball = await makeTar([
      { header: { name: 'abs', type: 'symlink', linkname: outside } },
      { header: { name: 'abs/secret' }, content: 'pwned' },
      { header: { name: 'rel', type: 'symlink', linkname: '../../../../../../outside' } },
      { header: { name: 'rel/evil' }, content: 'pwned' },
      { header: { name: 'loop', type: 'symlink', linkname: 'loop' } },
    ]);
    await applyLayer(from(tarball), target, { ownership: false });
    assert.equal(await readFile(join(target, outside, 'secret'), 'utf8'), 'pwned');
    assert.equal(await readFile(join(target, 'outside/evil'), 'utf8'), 'pwned');
    const loop = await makeTar([{ header: { name: 'loop/x' }, content: '' }]);
    await assert.rejects(applyLayer(from(loop), target, { ownership: false }), (err: unknown) => isBerthError(err, 'LAYER_INVALID') && err.message.includes('loop/x'));
  });
});

test('an entry replacing a symlink replaces the link and never writes, chmods or times through it', async () => {
  await withSandbox(async (target, outside) => {
    const tarball = await makeTar([
      { header: { name: 'f', type: 'symlink', linkname: join(outside, 'secret') } },
      { header: { name: 'f', mode: 0o777 }, content: 'pwned' },
      { header: { name: 'd', type: 'symlink', linkname: outside } },
      { header: { name: 'd', type: 'directory', mode: 0o777 } },
      { header: { name: 's', type: 'symlink', linkname: join(outside, 'secret') } },
      { header: { name: 's', type: 'symlink', linkname: join(outside, 'secret'), mtime: new Date(0) } },
    ]);
    await applyLayer(from(tarball), target, { ownership: process.getuid?.() === 0 });
    assert.equal(await readFile(join(target, 'f'), 'utf8'), 'pwned');
    assert.ok((await lstat(join(target, 'd'))).isDirectory());
  });
});

test('hardlinks to outside the target are refused or resolved inside it', async () => {
  await withSandbox(async (target, outside) => {
    const up = await makeTar([{ header: { name: 'h', type: 'link', linkname: '../outside/secret' } }]);
    await assert.rejects(applyLayer(from(up), target, { ownership: false }), rejectsUnsafe('../outside/secret'));
    const viaSymlink = await makeTar([
      { header: { name: 's', type: 'symlink', linkname: outside } },
      { header: { name: 'h', type: 'link', linkname: 's/secret' } },
    ]);
    await assert.rejects(applyLayer(from(viaSymlink), target, { ownership: false }), (err: unknown) => isBerthError(err, 'LAYER_INVALID') && err.message.includes('`h`'));
    const absolute = await makeTar([{ header: { name: 'h2', type: 'link', linkname: join(outside, 'secret') } }]);
    await assert.rejects(applyLayer(from(absolute), target, { ownership: false }), (err: unknown) => isBerthError(err, 'LAYER_INVALID'));
  });
});

test('whiteouts naming . or .. are refused', async () => {
  for (const name of ['.wh...', 'a/.wh..', '.wh.']) {
    await withSandbox(async (target) => {
      const tarball = await makeTar([{ header: { name } }]);
      await assert.rejects(applyLayer(from(tarball), target, { ownership: false }), rejectsUnsafe(name));
    });
  }
});

test('a whiteout through a symlinked parent removes inside the target only', async () => {
  await withSandbox(async (target, outside) => {
    const tarball = await makeTar([
      { header: { name: 'o', type: 'symlink', linkname: outside } },
      { header: { name: 'o/.wh.secret' } },
    ]);
    await applyLayer(from(tarball), target, { whiteouts: 'delete', ownership: false });
  });
});

test('device nodes can be refused, and oversized or garbage layers fail cleanly', async () => {
  await withSandbox(async (target) => {
    const dev = await makeTar([{ header: { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 } }]);
    await assert.rejects(applyLayer(from(dev), target, { devices: 'reject', ownership: false }), rejectsUnsafe('dev/sda'));
    const big = await makeTar([{ header: { name: 'big' }, content: 'z'.repeat(1 << 20) }]);
    await assert.rejects(applyLayer(from(gzipSync(big)), target, { maxBytes: 100_000, ownership: false }), (err: unknown) =>
      isBerthError(err, 'LAYER_INVALID') && /larger than 100000/.test(err.message),
    );
    await assert.rejects(applyLayer(from(Buffer.from('this is not a tar archive'.repeat(40))), target, { ownership: false }), (err: unknown) =>
      isBerthError(err, 'LAYER_INVALID'),
    );
    const truncated = gzipSync(big).subarray(0, 500);
    await assert.rejects(applyLayer(from(truncated), target, { ownership: false }), (err: unknown) => isBerthError(err, 'LAYER_INVALID'));
  });
});

/** cap_setuid, cap_setgid and cap_setfcap, effective (VFS_CAP_REVISION_2): bytes that are not UTF-8. */
const CAPABILITY = Buffer.from('01000002' + 'c0000080' + '00000000' + '00000000' + '00000000', 'hex');

/** A tar with one file whose PAX header carries `attr` = `value` as raw bytes. */
async function tarWithRawXattr(name: string, attr: string, value: Buffer): Promise<Buffer> {
  // tar-stream writes PAX values as UTF-8 text: write a placeholder of the
  // same length, then put the raw bytes in its place (PAX data is not
  // covered by the header checksum).
  const placeholder = 'P'.repeat(value.length);
  const tarball = await makeTar([{ header: { name, pax: { [`SCHILY.xattr.${attr}`]: placeholder } }, content: 'bin' }]);
  const at = tarball.indexOf(`${attr}=${placeholder}\n`);
  assert.ok(at > 0);
  value.copy(tarball, at + attr.length + 1);
  return tarball;
}

function getfattrHex(path: string, attr: string): string {
  const out = execFileSync('getfattr', ['-h', '-e', 'hex', '-n', attr, path], { encoding: 'utf8' });
  const m = /=0x([0-9a-f]+)/.exec(out);
  assert.ok(m, `getfattr shows ${attr}: ${out}`);
  return m[1]!;
}

test('a binary security.capability xattr is written byte for byte', { skip: !isRoot && 'needs root (security xattrs)' }, async () => {
  await withSandbox(async (target) => {
    assert.notDeepEqual(Buffer.from(CAPABILITY.toString('utf8'), 'utf8'), CAPABILITY, 'the value does not survive a UTF-8 decode');
    const tarball = await tarWithRawXattr('bin/ping', 'security.capability', CAPABILITY);
    await applyLayer(from(tarball), target);
    assert.equal(getfattrHex(join(target, 'bin/ping'), 'security.capability'), CAPABILITY.toString('hex'));
    assert.equal(await readFile(join(target, 'bin/ping'), 'utf8'), 'bin');
  });
});

test('a capability set by setcap and archived by GNU tar survives the unpack', { skip: !isRoot && 'needs root (setcap)' }, async (t) => {
  const work = await mkdtemp(join(tmpdir(), 'berth-setcap-'));
  try {
    await mkdir(join(work, 'src/bin'), { recursive: true });
    await writeFile(join(work, 'src/bin/tool'), 'tool', { mode: 0o755 });
    try {
      execFileSync('setcap', ['cap_setuid,cap_setgid,cap_setfcap+ep', join(work, 'src/bin/tool')], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`setcap is not usable here: ${String(err)}`);
      return;
    }
    const want = getfattrHex(join(work, 'src/bin/tool'), 'security.capability');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '-C', join(work, 'src'), '-cf', join(work, 'layer.tar'), 'bin']);
    await mkdir(join(work, 'target'));
    await applyLayer(from(await readFile(join(work, 'layer.tar')), 4096), join(work, 'target'));
    assert.equal(getfattrHex(join(work, 'target/bin/tool'), 'security.capability'), want);
    assert.equal((await stat(join(work, 'target/bin/tool'))).mode & 0o7777, 0o755);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('a thousand whiteouts and a thousand xattrs are all unpacked', { skip: !isRoot && 'needs root (mknod, trusted xattrs)' }, async () => {
  await withSandbox(async (target) => {
    const entries: Entry[] = [{ header: { name: 'd/', type: 'directory', mode: 0o755 } }];
    for (let i = 0; i < 1000; i++) entries.push({ header: { name: `d/.wh.gone${i}` } });
    for (let i = 0; i < 1000; i++) entries.push({ header: { name: `d/f${i}`, pax: { 'SCHILY.xattr.user.n': String(i) } }, content: 'x' });
    const result = await applyLayer(from(await makeTar(entries), 64 << 10), target);
    assert.equal(result.entries, 2001);
    const names = await readdir(join(target, 'd'));
    assert.equal(names.length, 2000);
    for (const i of [0, 500, 999]) {
      const wh = await lstat(join(target, `d/gone${i}`));
      assert.ok(wh.isCharacterDevice() && wh.rdev === 0, `d/gone${i} is a whiteout`);
      assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.n', join(target, `d/f${i}`)], { encoding: 'utf8' }), String(i));
    }
  });
});

test('a device node whose parent is swapped for a symlink is not created through it', { skip: !isRoot && 'needs root (mknod)' }, async () => {
  await withSandbox(async (target, outside) => {
    // `d` is a symlink to outside when the device comes: resolved inside
    // the target, `d/null` lands in `/outside` of the target, not the host's.
    const tarball = await makeTar([
      { header: { name: 'd', type: 'symlink', linkname: outside } },
      { header: { name: 'd/null', type: 'character-device', mode: 0o666, devmajor: 1, devminor: 3 } },
      { header: { name: 'd/.wh.secret' } },
    ]);
    await applyLayer(from(tarball), target);
    assert.ok((await lstat(join(target, outside, 'null'))).isCharacterDevice());
    assert.ok((await lstat(join(target, outside, 'secret'))).isCharacterDevice());
  });
});
