/**
 * Strict parsing of manifests, indexes and image configs. Every field berth
 * reads is checked for its type before use, and every error names the
 * digest of the document (or the reference it came from), so a registry
 * that serves garbage gets a message a user can act on.
 */
import { BerthError } from '../../errors/index.js';
import { isDigest } from '../digest/digest.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MEDIA_TYPE, isIndexMediaType, isManifestMediaType } from './media-types.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest, ParsedManifest, Platform } from './types.js';

export interface ParseManifestOptions {
  /** How the document is named in errors: its digest, or the reference it was resolved from. */
  name: string;
  /** The media type the server sent (Content-Type) or the descriptor gave, if any. */
  mediaType?: string;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(name: string, why: string): BerthError {
  return new BerthError('MANIFEST_INVALID', `manifest \`${name}\`: ${why}`);
}

function parseJson(bytes: Uint8Array | string, name: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new BerthError('MANIFEST_INVALID', `${what} \`${name}\`: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (!isObject(value)) throw new BerthError('MANIFEST_INVALID', `${what} \`${name}\`: not a JSON object`);
  return value;
}

function stringMap(value: unknown, name: string, path: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw invalid(name, `\`${path}\` must be an object of strings`);
  }
  return value as Record<string, string>;
}

function stringArray(value: unknown, name: string, path: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw invalid(name, `\`${path}\` must be an array of strings`);
  return value as string[];
}

/** Checks a platform object (the `platform` of an index entry). */
export function checkPlatform(value: unknown, name: string, path: string): Platform {
  if (!isObject(value)) throw invalid(name, `\`${path}\` must be an object`);
  if (typeof value.os !== 'string' || typeof value.architecture !== 'string') {
    throw invalid(name, `\`${path}\` needs string \`os\` and \`architecture\``);
  }
  if (value.variant !== undefined && typeof value.variant !== 'string') throw invalid(name, `\`${path}.variant\` must be a string`);
  if (value['os.version'] !== undefined && typeof value['os.version'] !== 'string') throw invalid(name, `\`${path}.os.version\` must be a string`);
  stringArray(value['os.features'], name, `${path}.os.features`);
  stringArray(value.features, name, `${path}.features`);
  return value as unknown as Platform;
}

/** Checks one descriptor: media type, a digest berth can verify, a size that is a safe integer. */
export function checkDescriptor(value: unknown, name: string, path: string): Descriptor {
  if (!isObject(value)) throw invalid(name, `\`${path}\` must be an object`);
  if (typeof value.mediaType !== 'string' || value.mediaType === '') throw invalid(name, `\`${path}.mediaType\` must be a non-empty string`);
  if (typeof value.digest !== 'string' || !isDigest(value.digest)) {
    throw invalid(name, `\`${path}.digest\` is not a supported digest: ${JSON.stringify(value.digest)}`);
  }
  if (typeof value.size !== 'number' || !Number.isSafeInteger(value.size) || value.size < 0) {
    throw invalid(name, `\`${path}.size\` must be a non-negative integer, got ${JSON.stringify(value.size)}`);
  }
  stringArray(value.urls, name, `${path}.urls`);
  stringMap(value.annotations, name, `${path}.annotations`);
  if (value.data !== undefined && typeof value.data !== 'string') throw invalid(name, `\`${path}.data\` must be base64 text`);
  if (value.platform !== undefined) checkPlatform(value.platform, name, `${path}.platform`);
  return value as unknown as Descriptor;
}

/**
 * Parses a manifest or index. The kind comes from the document's
 * `mediaType`, else from the server's media type; when both are present they
 * must agree (the OCI spec's rule against confusing a manifest with an
 * index). Docker schema 1 and unknown media types fail with
 * `MANIFEST_UNSUPPORTED`; anything malformed with `MANIFEST_INVALID`.
 */
export function parseManifest(bytes: Uint8Array | string, options: ParseManifestOptions): ParsedManifest {
  const { name } = options;
  const doc = parseJson(bytes, name, 'manifest');
  if (doc.schemaVersion === 1) {
    throw new BerthError('MANIFEST_UNSUPPORTED', `manifest \`${name}\`: Docker schema 1 manifests are not supported; push the image again with a current client`);
  }
  if (doc.schemaVersion !== 2) throw invalid(name, `\`schemaVersion\` must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  if (doc.mediaType !== undefined && typeof doc.mediaType !== 'string') throw invalid(name, '`mediaType` must be a string');
  const declared = doc.mediaType as string | undefined;
  const served = options.mediaType?.split(';')[0]?.trim() || undefined;
  const known = (t: string | undefined): boolean => isManifestMediaType(t) || isIndexMediaType(t);

  let mediaType: string;
  if (declared !== undefined) {
    if (!known(declared)) {
      throw new BerthError('MANIFEST_UNSUPPORTED', `manifest \`${name}\`: unsupported media type \`${declared}\``);
    }
    if (served !== undefined && known(served) && served !== declared) {
      throw invalid(name, `served as \`${served}\` but declares \`${declared}\``);
    }
    mediaType = declared;
  } else if (served !== undefined && known(served)) {
    mediaType = served;
  } else if (served !== undefined && served !== 'application/json' && served !== 'application/octet-stream') {
    throw new BerthError('MANIFEST_UNSUPPORTED', `manifest \`${name}\`: unsupported media type \`${served}\``);
  } else {
    // No media type anywhere: OCI allows this; tell by shape.
    mediaType = Array.isArray(doc.manifests) ? MEDIA_TYPE.ociIndex : MEDIA_TYPE.ociManifest;
  }

  if (doc.artifactType !== undefined && typeof doc.artifactType !== 'string') throw invalid(name, '`artifactType` must be a string');
  stringMap(doc.annotations, name, 'annotations');
  if (doc.subject !== undefined) checkDescriptor(doc.subject, name, 'subject');

  if (INDEX_MEDIA_TYPES.includes(mediaType)) {
    if (doc.config !== undefined || doc.layers !== undefined) throw invalid(name, 'an index must not have `config` or `layers`');
    if (!Array.isArray(doc.manifests)) throw invalid(name, '`manifests` must be an array');
    doc.manifests.forEach((d, i) => checkDescriptor(d, name, `manifests[${i}]`));
    return { kind: 'index', mediaType, index: doc as unknown as ImageIndex };
  }
  if (!MANIFEST_MEDIA_TYPES.includes(mediaType)) throw new BerthError('MANIFEST_UNSUPPORTED', `manifest \`${name}\`: unsupported media type \`${mediaType}\``);
  if (doc.manifests !== undefined) throw invalid(name, 'an image manifest must not have `manifests`');
  checkDescriptor(doc.config, name, 'config');
  if (!Array.isArray(doc.layers)) throw invalid(name, '`layers` must be an array');
  doc.layers.forEach((d, i) => checkDescriptor(d, name, `layers[${i}]`));
  return { kind: 'manifest', mediaType, manifest: doc as unknown as ImageManifest };
}

/**
 * Parses an image config and checks the fields berth relies on: `os`,
 * `architecture`, and `rootfs.diff_ids` (verified digests, one per layer
 * when `layerCount` is given).
 */
export function parseImageConfig(bytes: Uint8Array | string, options: { name: string; layerCount?: number }): ImageConfig {
  const { name } = options;
  const doc = parseJson(bytes, name, 'image config');
  const bad = (why: string): BerthError => new BerthError('MANIFEST_INVALID', `image config \`${name}\`: ${why}`);
  if (typeof doc.os !== 'string' || typeof doc.architecture !== 'string') throw bad('needs string `os` and `architecture`');
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw bad('`rootfs` must be `{"type": "layers", "diff_ids": [...]}`');
  }
  rootfs.diff_ids.forEach((d, i) => {
    if (typeof d !== 'string' || !isDigest(d)) throw bad(`\`rootfs.diff_ids[${i}]\` is not a supported digest: ${JSON.stringify(d)}`);
  });
  if (options.layerCount !== undefined && rootfs.diff_ids.length !== options.layerCount) {
    throw bad(`${rootfs.diff_ids.length} diff_ids for ${options.layerCount} layers`);
  }
  if (doc.config !== undefined && doc.config !== null && !isObject(doc.config)) throw bad('`config` must be an object');
  return doc as unknown as ImageConfig;
}
