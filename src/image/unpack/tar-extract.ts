/**
 * tar-stream's extractor, with each entry's `SCHILY.xattr.*` PAX records
 * kept as raw bytes.
 *
 * tar-stream decodes PAX records as UTF-8 text, so a binary xattr value
 * (security.capability is a little-endian struct) arrives damaged. This
 * subclass also reads the same PAX block as bytes, when tar-stream decodes
 * it, and hands the raw xattr values to the next entry's header as
 * `xattrs`, merged over those of a global PAX header as tar-stream merges
 * the text. It hooks two methods of tar-stream 3's Extract
 * (`_decodeLongHeader`, `_applyLongHeaders`); `createTarExtract` checks
 * they are there, and apply-layer.test.ts round-trips a binary value.
 */
import * as tar from 'tar-stream';

import { BerthError } from '../../errors/index.js';

const XATTR_PREFIX = 'SCHILY.xattr.';

export type TarHeader = tar.Header & {
  /** Raw `SCHILY.xattr.NAME` values by NAME. */
  xattrs?: Map<string, Buffer>;
};

/**
 * The `SCHILY.xattr.*` records of a PAX extended header, values as bytes.
 * Records are `LEN KEY=VALUE\n`, LEN counting the whole record. A record
 * that does not parse is an error: the stream is not what it claims.
 */
export function paxXattrs(buf: Uint8Array): Map<string, Buffer> {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Map<string, Buffer>();
  let at = 0;
  while (at < b.length) {
    if (b[at] === 0) break; // NUL padding after the last record
    const space = b.indexOf(0x20, at);
    const len = space > at ? Number(b.toString('latin1', at, space)) : NaN;
    if (!Number.isSafeInteger(len) || len <= space - at + 1 || at + len > b.length || b[at + len - 1] !== 0x0a) {
      throw new BerthError('LAYER_INVALID', `layer has a malformed PAX record at byte ${at} of an extended header`);
    }
    const record = b.subarray(space + 1, at + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw new BerthError('LAYER_INVALID', `layer has a PAX record without \`=\` at byte ${at} of an extended header`);
    const key = record.toString('utf8', 0, eq);
    if (key.startsWith(XATTR_PREFIX)) {
      const name = key.slice(XATTR_PREFIX.length);
      if (name === '' || name.includes('\0')) throw new BerthError('LAYER_INVALID', `layer has a PAX xattr record with an invalid name \`${name}\``);
      out.set(name, Buffer.from(record.subarray(eq + 1)));
    }
    at += len;
  }
  return out;
}

interface ExtractInternals {
  _header: TarHeader | null;
  _decodeLongHeader(buf: Uint8Array): void;
  _applyLongHeaders(): void;
}

type ExtractClass = new () => tar.Extract & ExtractInternals;

let RawXattrExtract: ExtractClass | undefined;

function rawXattrExtractClass(): ExtractClass {
  if (RawXattrExtract) return RawXattrExtract;
  const Base = tar.extract().constructor as ExtractClass;
  if (typeof Base.prototype._decodeLongHeader !== 'function' || typeof Base.prototype._applyLongHeaders !== 'function') {
    throw new BerthError('INTERNAL', 'this tar-stream version has no _decodeLongHeader/_applyLongHeaders; raw PAX xattrs cannot be read');
  }
  RawXattrExtract = class extends Base {
    #global: Map<string, Buffer> | undefined;
    #local: Map<string, Buffer> | undefined;

    override _decodeLongHeader(buf: Uint8Array): void {
      super._decodeLongHeader(buf);
      const type = this._header?.type as string | undefined;
      if (type === 'pax-global-header') this.#global = paxXattrs(buf);
      else if (type === 'pax-header') this.#local = new Map([...(this.#global ?? []), ...paxXattrs(buf)]);
    }

    override _applyLongHeaders(): void {
      super._applyLongHeaders();
      const xattrs = this.#local ?? this.#global;
      this.#local = undefined;
      if (this._header && xattrs && xattrs.size > 0) this._header.xattrs = xattrs;
    }
  };
  return RawXattrExtract;
}

/** A tar-stream extractor whose entry headers carry raw `xattrs`. */
export function createTarExtract(): tar.Extract {
  return new (rawXattrExtractClass())();
}
