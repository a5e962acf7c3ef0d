/**
 * Builds a small image from busybox-static as an OCI image layout
 * directory that skopeo can push: one layer with /bin/busybox and a /bin/sh
 * symlink, an optional second layer, an OCI config and manifest.
 */
import { readFile } from 'node:fs/promises';

import { tarOf, writeImageLayout, type BuiltImage } from './image-builder.js';

export type { BuiltImage } from './image-builder.js';

export async function buildBusyboxLayout(dir: string, options: { extraLayerBytes?: Buffer } = {}): Promise<BuiltImage> {
  const busybox = await readFile('/bin/busybox');
  const tars = [
    await tarOf([
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', data: busybox, mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/motd', data: Buffer.from('berth test image\n') },
    ]),
  ];
  if (options.extraLayerBytes) tars.push(await tarOf([{ name: 'data/', type: 'directory' }, { name: 'data/blob', data: options.extraLayerBytes }]));
  return writeImageLayout(dir, tars, { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] });
}
