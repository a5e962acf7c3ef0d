import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBerthError } from '../../errors/index.js';
import { LocalContentStore } from './local-content-store.js';

function descriptorOf(data: Uint8Array): { digest: string; size: number } {
  return { digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.byteLength };
}

async function* chunks(data: Uint8Array, size = 1000): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.byteLength; i += size) yield data.subarray(i, i + size);
}

async function withStore(fn: (store: LocalContentStore, root: string) => Promise<void>): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'berth-content-'));
  try {
    await fn(new LocalContentStore(root, { lockTimeoutMs: 2000 }), root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function ingestCount(root: string): Promise<number> {
  return (await readdir(join(root, 'ingest')).catch(() => [])).length;
}

test('a written blob is committed under blobs/sha256 and can be read, listed, counted and deleted', async () => {
  await withStore(async (store, root) => {
    const data = randomBytes(10_000);
    const desc = descriptorOf(data);
    const w = await store.openWriter('layer-1', desc);
    for await (const c of chunks(data)) await w.write(c);
    const info = await w.commit();
    assert.equal(info.sizeBytes, data.byteLength);
    const path = join(root, 'blobs', 'sha256', desc.digest.slice(7));
    assert.equal((await stat(path)).mode & 0o777, 0o444);
    assert.equal(await ingestCount(root), 0);
    assert.deepEqual(await store.readBlob(desc.digest), data);

    const r = await store.readerAt(desc.digest);
    const buf = new Uint8Array(100);
    assert.equal(await r.readAt(buf, 5000), 100);
    assert.deepEqual(Buffer.from(buf), data.subarray(5000, 5100));
    await r.close();
    await r.close();

    const streamed: Buffer[] = [];
    for await (const c of await store.createReadStream(desc.digest, { start: 9000 })) streamed.push(c as Buffer);
    assert.deepEqual(Buffer.concat(streamed), data.subarray(9000));

    const listed = [];
    for await (const i of store.list()) listed.push(i.digest);
    assert.deepEqual(listed, [desc.digest]);
    assert.deepEqual(await store.usage(), { sizeBytes: 10_000, count: 1 });

    await store.delete(desc.digest);
    assert.equal(await store.findInfo(desc.digest), undefined);
    await assert.rejects(store.info(desc.digest), (err: unknown) => isBerthError(err, 'CONTENT_NOT_FOUND') && err.message.includes(desc.digest));
    await assert.rejects(store.delete(desc.digest), (err: unknown) => isBerthError(err, 'CONTENT_NOT_FOUND'));
  });
});

test('a blob that lies about its digest is rejected naming the digest and nothing is committed', async () => {
  await withStore(async (store, root) => {
    const data = randomBytes(4096);
    const desc = { digest: `sha256:${'ab'.repeat(32)}`, size: data.byteLength };
    await assert.rejects(
      store.ensure(desc, () => chunks(data)),
      (err: unknown) => isBerthError(err, 'CONTENT_DIGEST_MISMATCH') && err.message.includes(desc.digest),
    );
    assert.equal(await store.findInfo(desc.digest), undefined);
    assert.equal(await ingestCount(root), 0);
    assert.deepEqual(await store.usage(), { sizeBytes: 0, count: 0 });
  });
});

test('a blob longer or shorter than its size is rejected and nothing is committed', async () => {
  await withStore(async (store, root) => {
    const data = randomBytes(4096);
    const good = descriptorOf(data);
    await assert.rejects(
      store.ensure({ ...good, size: 4000 }, () => chunks(data)),
      (err: unknown) => isBerthError(err, 'CONTENT_SIZE_MISMATCH') && err.message.includes(good.digest) && /more than the expected 4000/.test(err.message),
    );
    const w = await store.openWriter('short', good);
    await w.write(data.subarray(0, 100));
    await assert.rejects(w.commit(), (err: unknown) => isBerthError(err, 'CONTENT_SIZE_MISMATCH') && /got 100 bytes, expected 4096/.test(err.message));
    assert.equal(await store.findInfo(good.digest), undefined);
    assert.equal(await ingestCount(root), 0);
  });
});

test('malformed digests are refused before anything is written', async () => {
  await withStore(async (store) => {
    await assert.rejects(store.openWriter('x', { digest: 'md5:abc', size: 1 }), (err: unknown) => isBerthError(err, 'DIGEST_INVALID') && err.message.includes('md5:abc'));
    await assert.rejects(store.info('sha256:../../etc/passwd'), (err: unknown) => isBerthError(err, 'DIGEST_INVALID'));
  });
});

test('a write interrupted by a crash resumes from the bytes already on disk', async () => {
  await withStore(async (store, root) => {
    const data = randomBytes(64 * 1024);
    const desc = descriptorOf(data);
    const half = 30_000;
    // A child process writes part of the blob and dies without closing the
    // writer, leaving its data and a lock whose holder is gone.
    const moduleUrl = new URL('./local-content-store.js', import.meta.url).href;
    const script = `
      const { LocalContentStore } = await import(${JSON.stringify(moduleUrl)});
      const store = new LocalContentStore(${JSON.stringify(root)});
      const w = await store.openWriter('pull-layer', ${JSON.stringify(desc)});
      await w.write(Buffer.from(process.argv[1], 'base64'));
      process.kill(process.pid, 'SIGKILL');
    `;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script, data.subarray(0, half).toString('base64')]);
    assert.equal(child.signal, 'SIGKILL', child.stderr.toString());
    assert.deepEqual((await store.listIngests()).map((s) => [s.ref, s.offset]), [['pull-layer', half]]);

    const offsets: number[] = [];
    const info = await store.ensure(desc, (offset) => {
      offsets.push(offset);
      return chunks(data.subarray(offset));
    }, { ref: 'pull-layer' });
    assert.deepEqual(offsets, [half]);
    assert.equal(info.sizeBytes, data.byteLength);
    assert.deepEqual(await store.readBlob(desc.digest), data);
    assert.deepEqual(await store.listIngests(), []);
  });
});

test('a source that fails midway keeps its bytes for the next attempt', async () => {
  await withStore(async (store) => {
    const data = randomBytes(20_000);
    const desc = descriptorOf(data);
    async function* truncated(): AsyncIterable<Uint8Array> {
      yield data.subarray(0, 5000);
      throw new Error('connection reset');
    }
    await assert.rejects(store.ensure(desc, () => truncated()), /connection reset/);
    assert.equal(await store.findInfo(desc.digest), undefined);
    const offsets: number[] = [];
    await store.ensure(desc, (offset) => {
      offsets.push(offset);
      return chunks(data.subarray(offset));
    });
    assert.deepEqual(offsets, [5000]);
  });
});

test('concurrent ensures of one digest share one write', async () => {
  await withStore(async (store) => {
    const data = randomBytes(50_000);
    const desc = descriptorOf(data);
    let opened = 0;
    const source = (offset: number) => {
      opened += 1;
      return chunks(data.subarray(offset), 512);
    };
    const infos = await Promise.all([store.ensure(desc, source), store.ensure(desc, source), store.ensure(desc, source)]);
    assert.equal(opened, 1);
    for (const i of infos) assert.equal(i.sizeBytes, data.byteLength);
    // Already present: the source is not called again.
    await store.ensure(desc, source);
    assert.equal(opened, 1);
  });
});

test('a resumed ingest for a different blob under the same ref starts over', async () => {
  await withStore(async (store) => {
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    const w1 = await store.openWriter('ref', descriptorOf(a));
    await w1.write(a.subarray(0, 500));
    await w1.close();
    const w2 = await store.openWriter('ref', descriptorOf(b));
    assert.equal(w2.offset, 0);
    await w2.write(b);
    await w2.commit();
    assert.deepEqual(await store.readBlob(descriptorOf(b).digest), b);
  });
});


test('a writer waiting for an ingest that its holder aborts, commits, or that abortIngest removes, gets a new ingest instead of ENOENT', async () => {
  await withStore(async (store, root) => {
    const data = randomBytes(3000);
    const desc = descriptorOf(data);
    const waitFor = async (end: (w: Awaited<ReturnType<typeof store.openWriter>>) => Promise<unknown>): Promise<void> => {
      const holder = await store.openWriter('shared-ref', desc);
      await holder.write(data.subarray(0, 1000));
      const waiting = store.openWriter('shared-ref', desc);
      await end(holder);
      const w = await waiting;
      assert.equal(w.offset, 0, 'a new ingest, from the start');
      await w.write(data.subarray(0, 10));
      await w.abort();
    };
    await waitFor((holder) => holder.abort());
    await waitFor(async (holder) => {
      await holder.close();
      await store.abortIngest('shared-ref');
    });
    await waitFor(async (holder) => {
      await holder.write(data.subarray(1000));
      await holder.commit();
    });
    assert.ok(await store.findInfo(desc.digest));
    assert.deepEqual(await readdir(join(root, 'ingest')), [], 'no ingest and nothing being deleted is left');
  });
});

test('abortIngest refuses an ingest a live writer holds, and is a no-op for an unknown ref', async () => {
  await withStore(async (store) => {
    const desc = descriptorOf(Buffer.from('x'));
    const w = await store.openWriter('held', desc);
    await assert.rejects(store.abortIngest('held'), (err: unknown) => isBerthError(err, 'CONTAINER_LOCKED') && /ingest `held`/.test(err.message));
    assert.deepEqual((await store.listIngests()).map((i) => i.ref), ['held']);
    await w.abort();
    await store.abortIngest('never-there');
    assert.deepEqual(await store.listIngests(), []);
  });
});

test('deleteSync removes a blob before it returns, and says false for one that is not there', async () => {
  await withStore(async (store) => {
    const data = Buffer.from('delete me');
    const desc = descriptorOf(data);
    await store.ensure(desc, () => chunks(data));
    assert.equal(store.deleteSync(desc.digest), true);
    assert.equal(await store.findInfo(desc.digest), undefined);
    assert.equal(store.deleteSync(desc.digest), false);
    assert.throws(() => store.deleteSync('sha256:nope'), { code: 'DIGEST_INVALID' });
  });
});
