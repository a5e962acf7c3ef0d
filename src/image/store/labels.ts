import { BerthError } from '../../errors/index.js';

/** Longest label key plus value, as containerd allows. */
const MAX_LABEL_BYTES = 4096;

/** Checks a label map of an image or a lease: string keys and values, each pair at most 4 KiB. */
export function checkLabels(labels: unknown, what: string, code: 'IMAGE_INVALID' | 'LEASE_INVALID'): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw new BerthError(code, `${what}: labels must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(labels)) {
    if (key === '' || typeof value !== 'string') throw new BerthError(code, `${what}: label ${JSON.stringify(key)} must have a non-empty key and a string value`);
    if (Buffer.byteLength(key) + Buffer.byteLength(value) > MAX_LABEL_BYTES) {
      throw new BerthError(code, `${what}: label \`${key}\` is longer than ${MAX_LABEL_BYTES} bytes with its value`);
    }
    out[key] = value;
  }
  return out;
}
