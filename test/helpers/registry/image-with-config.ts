/**
 * Builds an image as an OCI image layout directory (what skopeo can push)
 * from layers given as lists of entries and an image config of the test's
 * choosing (Entrypoint, Cmd, Env, User, WorkingDir ...), for tests that
 * need more than busybox-image.ts offers:
 *
 *   const image = await buildImageLayout(dir, {
 *     layers: [busyboxLayer(['sh', 'id']), [{ name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' }]],
 *     config: { User: 'root', Cmd: ['/bin/sh'] },
 *   });
 *   pushLayout(image, `${HOST}/NAME:1`);
 */
import { readFile } from 'node:fs/promises';

import type { ImageConfig } from '../../../src/image/manifest/types.js';
import { tarOf, writeImageLayout, type BuiltImage, type LayerEntry } from './image-builder.js';

export { tarOf, type LayerEntry } from './image-builder.js';

export interface ImageLayoutOptions {
  layers: LayerEntry[][];
  config: NonNullable<ImageConfig['config']>;
}

/** /bin/busybox from the host's busybox-static and one /bin symlink per applet named. */
export async function busyboxLayer(applets: readonly string[]): Promise<LayerEntry[]> {
  const busybox = await readFile('/bin/busybox');
  return [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: busybox, mode: 0o755 },
    ...applets.map((a): LayerEntry => ({ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' })),
    { name: 'proc/', type: 'directory' },
    { name: 'sys/', type: 'directory' },
    { name: 'dev/', type: 'directory' },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
  ];
}

/** Writes the layout (gzip layers, OCI config and manifest, index.json tagged `1`). */
export async function buildImageLayout(dir: string, options: ImageLayoutOptions): Promise<BuiltImage> {
  return writeImageLayout(dir, await Promise.all(options.layers.map((l) => tarOf(l))), options.config);
}
