import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FrameDecoder } from './frame-decoder.js';

function frame(stream: number, text: string): Buffer {
  const data = Buffer.from(text);
  const hdr = Buffer.alloc(8);
  hdr[0] = stream;
  hdr.writeUInt32BE(data.length, 4);
  return Buffer.concat([hdr, data]);
}

test('frames are decoded whatever the chunk boundaries', () => {
  const bytes = Buffer.concat([frame(1, 'hello '), frame(2, 'oops'), frame(1, ''), frame(1, 'world')]);
  for (let step = 1; step <= bytes.length; step++) {
    const d = new FrameDecoder();
    const got: string[] = [];
    for (let i = 0; i < bytes.length; i += step) {
      for (const f of d.push(bytes.subarray(i, i + step))) got.push(`${f.stream}:${f.data.toString()}`);
    }
    assert.deepEqual(got, ['1:hello ', '2:oops', '1:', '1:world'], `chunks of ${step}`);
    assert.equal(d.pendingBytes, 0);
  }
});

test('a header with an unknown stream is an error', () => {
  assert.throws(() => new FrameDecoder().push(frame(3, 'x')), /unknown stream 3/);
});
