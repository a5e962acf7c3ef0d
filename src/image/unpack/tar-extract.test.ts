import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tar from 'tar-stream';

import { isBerthError } from '../../errors/index.js';
import { createTarExtract, paxXattrs, type TarHeader } from './tar-extract.js';

const record = (key: string, value: Buffer): Buffer => {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  // LEN counts its own digits too.
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len += 1;
  return Buffer.concat([Buffer.from(String(len)), body]);
};

test('paxXattrs keeps values as bytes and skips other records', () => {
  const bin = Buffer.from([0x01, 0x00, 0x00, 0x02, 0xff, 0xc0, 0x0a, 0x3d]);
  const m = paxXattrs(Buffer.concat([record('path', Buffer.from('a/b')), record('SCHILY.xattr.security.capability', bin), record('SCHILY.xattr.user.x', Buffer.from('é'))]));
  assert.deepEqual([...m.keys()], ['security.capability', 'user.x']);
  assert.deepEqual(m.get('security.capability'), bin);
  assert.equal(m.get('user.x')!.toString('utf8'), 'é');
});

test('paxXattrs refuses malformed records', () => {
  for (const bad of ['5 a=b\n', 'x a=b\n', '20 a=b\n', '7 ab\n', '6 a=bc', '12 SCHILY.xattr.=v\n'.replace('12', '22')]) {
    assert.throws(() => paxXattrs(Buffer.from(bad)), (err: unknown) => isBerthError(err, 'LAYER_INVALID'), bad);
  }
});

test('the extractor hands each entry its own raw xattrs and no other entry', async () => {
  const pack = tar.pack();
  pack.entry({ name: 'plain' }, 'p');
  pack.entry({ name: 'with', pax: { 'SCHILY.xattr.user.a': '1', 'SCHILY.xattr.user.b': '2' } }, 'w');
  pack.entry({ name: 'after' }, 'a');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  const ex = createTarExtract();
  const seen: [string, Record<string, string> | undefined][] = [];
  const done = (async () => {
    for await (const e of ex) {
      const h = e.header as TarHeader;
      seen.push([h.name, h.xattrs && Object.fromEntries([...h.xattrs].map(([k, v]) => [k, v.toString()]))]);
      e.resume();
    }
  })();
  ex.end(Buffer.concat(chunks));
  await done;
  assert.deepEqual(seen, [
    ['plain', undefined],
    ['with', { 'user.a': '1', 'user.b': '2' }],
    ['after', undefined],
  ]);
});
