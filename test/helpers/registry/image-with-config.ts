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
 *   skopeo copy oci:DIR:1 docker://HOST/NAME:1
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

import type { ImageConfig } from '../../../src/image/manifest/types.js';
import type { BuiltImage } from './busybox-image.js';

export interface LayerEntry {
  /** Path inside the image, without a leading `/`; directories end in `/` or say `type: 'directory'`. */
  name: string;
  type?: 'file' | 'directory' | 'symlink';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface ImageLayoutOptions {
  layers: LayerEntry[][];
  config: NonNullable<ImageConfig['config']>;
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export async function tarOf(entries: readonly LayerEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? (e.name.endsWith('/') ? 'directory' : e.linkname !== undefined ? 'symlink' : 'file');
    const headers = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      mtime: new Date(0),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
    };
    if (type === 'file') pack.entry(headers, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)));
    else pack.entry(headers);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
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
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha256(b);
    await writeFile(join(dir, 'blobs/sha256', d.slice(7)), b);
    return d;
  };
  const tars = await Promise.all(options.layers.map((l) => tarOf(l)));
  const gz = tars.map((t) => gzipSync(t, { level: 1 }));
  const layerDigests: string[] = [];
  for (const g of gz) layerDigests.push(await put(g));
  const diffIds = tars.map(sha256);
  const config = Buffer.from(
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: options.config,
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: gz.map((g, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigests[i], size: g.length })),
    }),
  );
  const manifestDigest = await put(manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': '1' } }],
    }),
  );
  return { dir, manifestDigest, manifestSize: manifest.length, configDigest, layerDigests, diffIds };
}
