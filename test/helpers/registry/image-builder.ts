/**
 * The one place tests build images: layer tars from lists of entries, the
 * OCI config and manifest over them (in memory, for a test registry that
 * takes blobs), an OCI image layout directory (`oci-layout`, `index.json`
 * tagged `1`, `blobs/sha256/...`) and its push by skopeo.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

import type { ImageConfig } from '../../../src/image/manifest/types.js';

export interface BuiltImage {
  dir: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigests: string[];
  diffIds: string[];
}

export interface LayerEntry {
  /** Path inside the image, without a leading `/`; directories end in `/` or say `type: 'directory'`. */
  name: string;
  /** By default a directory if the name ends in `/`, a symlink if there is a linkname, else a file. */
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'fifo';
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
  /** Seconds since the epoch; tarOf's `mtime` by default. */
  mtime?: number;
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** A tar of `entries`, in order; entries without an mtime get `options.mtime` (seconds, 0 by default). */
export async function tarOf(entries: readonly LayerEntry[], options: { mtime?: number } = {}): Promise<Buffer> {
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
      mtime: new Date((e.mtime ?? options.mtime ?? 0) * 1000),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.devmajor !== undefined ? { devmajor: e.devmajor, devminor: e.devminor ?? 0 } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    };
    if (type === 'file') pack.entry(headers, typeof e.data === 'string' ? Buffer.from(e.data) : (e.data ?? Buffer.alloc(0)));
    else pack.entry(headers);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface ImageBlobs {
  /** Per layer: the tar, its gzip and the gzip's digest. */
  layers: Array<{ tar: Buffer; gz: Buffer; digest: string }>;
  diffIds: string[];
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

/**
 * The blobs of an OCI image over layer `tars` (gzip, level 1): a config with
 * `config` as its container config (none when not given) and a manifest.
 */
export function imageBlobs(tars: readonly Buffer[], config?: NonNullable<ImageConfig['config']>): ImageBlobs {
  const layers = tars.map((t) => {
    const gz = gzipSync(t, { level: 1 });
    return { tar: t, gz, digest: sha256(gz) };
  });
  const diffIds = tars.map((t) => sha256(t));
  const configBlob = Buffer.from(
    JSON.stringify({
      created: '1970-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      ...(config === undefined ? {} : { config }),
      rootfs: { type: 'layers', diff_ids: diffIds },
    }),
  );
  const configDigest = sha256(configBlob);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: configBlob.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.gz.length })),
    }),
  );
  return { layers, diffIds, config: configBlob, configDigest, manifest, manifestDigest: sha256(manifest) };
}

/** Writes the image of imageBlobs(tars, config) as an OCI image layout in `dir`, tagged `1`. */
export async function writeImageLayout(dir: string, tars: readonly Buffer[], config?: NonNullable<ImageConfig['config']>): Promise<BuiltImage> {
  const blobs = imageBlobs(tars, config);
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true });
  const put = (b: Buffer): Promise<void> => writeFile(join(dir, 'blobs/sha256', sha256(b).slice('sha256:'.length)), b);
  for (const l of blobs.layers) await put(l.gz);
  await put(blobs.config);
  await put(blobs.manifest);
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: blobs.manifestDigest, size: blobs.manifest.length, annotations: { 'org.opencontainers.image.ref.name': '1' } }],
    }),
  );
  return {
    dir,
    manifestDigest: blobs.manifestDigest,
    manifestSize: blobs.manifest.length,
    configDigest: blobs.configDigest,
    layerDigests: blobs.layers.map((l) => l.digest),
    diffIds: blobs.diffIds,
  };
}

/** skopeo, with no signature policy; returns its stdout. */
export function skopeo(...args: string[]): string {
  return execFileSync('skopeo', ['--insecure-policy', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Pushes the layout's image (tag `1`) to `ref` (`HOST/NAME:TAG`) over plain HTTP. */
export function pushLayout(image: BuiltImage, ref: string): void {
  skopeo('copy', '-q', '--dest-tls-verify=false', `oci:${image.dir}:1`, `docker://${ref}`);
}
