/**
 * Builds the benchmark image as an OCI layout: the busybox layer and a
 * 200 MiB layer, half random bytes, half text.
 *
 *   node dist/bench/pull/make-image.js DIR
 */
import { randomBytes } from 'node:crypto';

import { buildBusyboxLayout } from '../../test/helpers/registry/busybox-image.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: make-image.js DIR');
  process.exit(2);
}
const half = 100 << 20;
const words = 'the quick brown fox jumps over the lazy dog while berth pulls layers from a registry '.split(' ');
const text = Buffer.alloc(half);
let off = 0;
let line = 0;
while (off < half) {
  const s = `${line++} ${words[line % words.length]} ${words[(line * 7) % words.length]} ${randomBytes(6).toString('hex')} lorem ipsum dolor sit amet\n`;
  off += text.write(s, off);
}
const image = await buildBusyboxLayout(dir, { extraLayerBytes: Buffer.concat([randomBytes(half), text]) });
console.log(image.manifestDigest);
