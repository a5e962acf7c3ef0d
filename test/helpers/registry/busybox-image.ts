/**
 * Builds a small image from busybox-static as an OCI image layout
 * directory (`oci-layout`, `index.json`, `blobs/sha256/...`) that skopeo
 * can push: one gzip layer with /bin/busybox and a /bin/sh symlink, an
 * optional second layer, an OCI config and manifest.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface BuiltImage {
  dir: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
}

function sha256(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

async function tarOf(entries: Array<{ name: string; type?: 'file' | 'directory' | 'symlink'; data?: Buffer; linkname?: string; mode?: number }>): Promise<Buffer> {
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
    const type = e.type ?? 'file';
    const headers = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(0), uid: 0, gid: 0, ...(e.linkname ? { linkname: e.linkname } : {}) };
    if (type === 'file') pack.entry(headers, e.data ?? Buffer.alloc(0));
    else pack.entry(headers);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function buildBusyboxLayout(dir: string, options: { extraLayerBytes?: Buffer } = {}): Promise<BuiltImage> {
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  const put = async (b: Buffer): Promise<string> => {
    const d = sha256(b);
    await writeFile(join(dir, 'blobs/sha256', d.slice(7)), b);
    return d;
  };
  const layers: Array<{ tar: Buffer; gz: Buffer }> = [];
  const busybox = await readFile('/bin/busybox');
  const t1 = await tarOf([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: busybox, mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'etc/', type: 'directory' },
    { name: 'etc/motd', data: Buffer.from('berth test image\n') },
  ]);
  layers.push({ tar: t1, gz: gzipSync(t1) });
  if (options.extraLayerBytes) {
    const t2 = await tarOf([{ name: 'data/', type: 'directory' }, { name: 'data/blob', data: options.extraLayerBytes }]);
    layers.push({ tar: t2, gz: gzipSync(t2, { level: 1 }) });
  }
  const layerDigests: string[] = [];
  for (const l of layers) layerDigests.push(await put(l.gz));
  const diffIds = layers.map((l) => sha256(l.tar));
  const config = Buffer.from(
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = await put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: layers.map((l, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigests[i], size: l.gz.length })),
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
