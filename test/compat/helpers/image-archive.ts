/**
 * A busybox image for the compatibility tests, made here from the host's
 * busybox-static (there is no registry to pull from):
 *
 *   const image = await buildBusyboxImage(dir, { name: 'docker.io/library/berth-busybox:latest' });
 *   // ctr images import image.archive / podman load -i image.archive
 *
 * The archive is one tar that is both an OCI image layout (oci-layout,
 * index.json, blobs/sha256/...) and a Docker `save` archive (manifest.json
 * naming the same blobs by path), as Docker 25 writes them, so that
 * containerd's importer (which reads index.json) and podman's loader (which
 * takes docker-archive and oci-archive alike) both accept it. The one layer
 * is an uncompressed tar of the rootfs that test/helpers/bundle.ts makes.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { makeRootfs } from '../../helpers/bundle.js';

const MEDIA_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const MEDIA_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MEDIA_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MEDIA_OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export interface BusyboxImage {
  /** The image archive (OCI layout and Docker archive in one tar). */
  archive: string;
  /** The plain rootfs tarball (the layer), for `podman import`. */
  rootfsTar: string;
  /** The full reference the archive names, e.g. docker.io/library/berth-busybox:latest. */
  name: string;
  /** sha256:... of the manifest. */
  manifestDigest: string;
  /** sha256:... of the config (the image id). */
  configDigest: string;
}

export interface BuildImageOptions {
  /** Full reference with registry and tag; default docker.io/library/berth-busybox:latest. */
  name?: string;
}

interface Blob {
  digest: string;
  size: number;
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function run(bin: string, args: string[]): void {
  const r = spawnSync(bin, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

async function putBlob(layout: string, data: Buffer): Promise<Blob> {
  const digest = sha256(data);
  await writeFile(join(layout, 'blobs/sha256', digest.slice('sha256:'.length)), data);
  return { digest, size: data.length };
}

/** `docker.io/library/berth-busybox:latest` -> `berth-busybox:latest`, the form `docker save` writes in RepoTags. */
function dockerRepoTag(name: string): string {
  return name.replace(/^docker\.io\/(library\/)?/, '');
}

/**
 * Builds the busybox rootfs in `dir/rootfs`, its layer tar, and the image
 * archive `dir/busybox-image.tar`. Everything stays under `dir`.
 */
export async function buildBusyboxImage(dir: string, opts: BuildImageOptions = {}): Promise<BusyboxImage> {
  const name = opts.name ?? 'docker.io/library/berth-busybox:latest';
  const rootfs = join(dir, 'rootfs');
  const layout = join(dir, 'layout');
  await mkdir(rootfs, { recursive: true });
  await makeRootfs(rootfs);
  await mkdir(join(layout, 'blobs/sha256'), { recursive: true });

  // Owned by root in the image whoever builds it; sorted so the digest is stable for the same files.
  const rootfsTar = join(dir, 'rootfs.tar');
  run('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', rootfs, '-cf', rootfsTar, '.']);
  const layerData = await readFile(rootfsTar);
  const layer = await putBlob(layout, layerData);

  const config = {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    created: '2024-01-01T00:00:00Z',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      Cmd: ['sh'],
      WorkingDir: '/',
    },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'berth test: busybox-static rootfs' }],
  };
  const configBlob = await putBlob(layout, Buffer.from(JSON.stringify(config)));

  const manifest = {
    schemaVersion: 2,
    mediaType: MEDIA_OCI_MANIFEST,
    config: { mediaType: MEDIA_OCI_CONFIG, ...configBlob },
    layers: [{ mediaType: MEDIA_OCI_LAYER, ...layer }],
  };
  const manifestBlob = await putBlob(layout, Buffer.from(JSON.stringify(manifest)));

  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_OCI_INDEX,
    manifests: [
      {
        mediaType: MEDIA_OCI_MANIFEST,
        ...manifestBlob,
        annotations: {
          // containerd's importer names the image from this one...
          'io.containerd.image.name': name,
          // ...and the OCI layout tools from this one.
          'org.opencontainers.image.ref.name': tag,
        },
      },
    ],
  };
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(layout, 'index.json'), JSON.stringify(index));
  const hex = (d: string): string => d.slice('sha256:'.length);
  const dockerManifest = [
    {
      Config: `blobs/sha256/${hex(configBlob.digest)}`,
      RepoTags: [dockerRepoTag(name)],
      Layers: [`blobs/sha256/${hex(layer.digest)}`],
    },
  ];
  await writeFile(join(layout, 'manifest.json'), JSON.stringify(dockerManifest));

  const archive = join(dir, 'busybox-image.tar');
  const tmp = `${archive}.tmp`;
  run('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', layout, '-cf', tmp, 'oci-layout', 'index.json', 'manifest.json', 'blobs']);
  await rename(tmp, archive);
  await rm(layout, { recursive: true, force: true });
  return { archive, rootfsTar, name, manifestDigest: manifestBlob.digest, configDigest: configBlob.digest };
}
