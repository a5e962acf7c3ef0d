/**
 * Reads a bundle's config.json. Only parsing happens here; `validateSpec`
 * checks the content.
 */
// Synchronous fs: a config.json is a few KB, and node:fs/promises costs ~2 ms to load at every `create`.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, isErrno } from '../../errors/index.js';
import type { Spec } from '../../oci/runtime-spec.js';
import { JsonSyntaxError, parseJson } from './parse-json.js';

const U64_MAX_LITERAL = '18446744073709551615';

/**
 * Parse config.json text. Malformed JSON is CONFIG_INVALID with the line,
 * column and offset of the problem. An integer under `linux.seccomp` that a
 * JavaScript number cannot hold exactly is CONFIG_UNSUPPORTED (a rounded
 * comparison value would change the filter); 2^64-1 is the exception, the
 * conversion maps it back exactly.
 */
export function parseSpec(text: string, source = 'config.json'): Spec {
  let parsed;
  try {
    parsed = parseJson(text);
  } catch (err) {
    if (err instanceof JsonSyntaxError) {
      throw new BerthError('CONFIG_INVALID', `${source} is not valid JSON: ${err.message}`, { cause: err });
    }
    throw err;
  }
  const { value, inexactIntegers } = parsed;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BerthError('CONFIG_INVALID', `${source} must hold a JSON object`);
  }
  for (const { path, literal } of inexactIntegers) {
    if (path.startsWith('linux.seccomp') && literal !== U64_MAX_LITERAL) {
      throw new BerthError(
        'CONFIG_UNSUPPORTED',
        `${path}: the integer ${literal} is beyond 2^53 and cannot be represented exactly by berth`,
        { field: path },
      );
    }
  }
  return value as Spec;
}

/**
 * Read and parse `<bundleDir>/config.json`. A missing bundle or file is
 * BUNDLE_INVALID naming the path; malformed JSON is CONFIG_INVALID.
 */
export async function loadSpec(bundleDir: string): Promise<Spec> {
  const path = join(bundleDir, 'config.json');
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      const bundleExists = statSync(bundleDir, { throwIfNoEntry: false })?.isDirectory() ?? false;
      const message = bundleExists
        ? `bundle \`${bundleDir}\` has no config.json (looked for ${path}); create one with \`berth-runtime spec\``
        : `bundle directory \`${bundleDir}\` does not exist`;
      throw new BerthError('BUNDLE_INVALID', message, { cause: err });
    }
    if (isErrno(err, 'ENOTDIR')) {
      throw new BerthError('BUNDLE_INVALID', `bundle \`${bundleDir}\` is not a directory`, { cause: err });
    }
    if (isErrno(err, 'EISDIR')) {
      throw new BerthError('BUNDLE_INVALID', `${path} is a directory, not a file`, { cause: err });
    }
    if (isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) {
      throw new BerthError('PERMISSION_DENIED', `cannot read ${path}: permission denied`, { cause: err });
    }
    throw new BerthError('BUNDLE_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  return parseSpec(text, path);
}
