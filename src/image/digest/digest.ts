/**
 * Content digests as the OCI image spec defines them (`algorithm:encoded`).
 * berth verifies sha256, sha384 and sha512, the algorithms registered by the
 * spec; anything else is rejected rather than trusted unverified
 * (DESIGN.md rule 6).
 */
import { createHash, type Hash } from 'node:crypto';
import { BerthError } from '../../errors/index.js';

/** A digest string such as `sha256:8f3c...`, checked by `parseDigest`. */
export type Digest = `${string}:${string}`;

/** Hex length of each supported algorithm's encoded part. */
const ALGORITHMS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export interface ParsedDigest {
  algorithm: 'sha256' | 'sha384' | 'sha512';
  /** Lowercase hex. */
  encoded: string;
}

/**
 * Checks a digest string and splits it. Throws `DIGEST_INVALID` naming the
 * digest when the algorithm is unknown, or the encoded part is not lowercase
 * hex of the algorithm's length.
 */
export function parseDigest(digest: string): ParsedDigest {
  const colon = digest.indexOf(':');
  const algorithm = colon > 0 ? digest.slice(0, colon) : '';
  const encoded = colon > 0 ? digest.slice(colon + 1) : '';
  const length = ALGORITHMS[algorithm];
  if (length === undefined) {
    throw new BerthError('DIGEST_INVALID', `digest \`${digest}\`: unsupported algorithm \`${algorithm}\` (want sha256, sha384 or sha512)`);
  }
  if (encoded.length !== length || !/^[a-f0-9]+$/.test(encoded)) {
    throw new BerthError('DIGEST_INVALID', `digest \`${digest}\`: want ${length} lowercase hex characters after \`${algorithm}:\``);
  }
  return { algorithm: algorithm as ParsedDigest['algorithm'], encoded };
}

/** True when `digest` parses. */
export function isDigest(digest: string): digest is Digest {
  try {
    parseDigest(digest);
    return true;
  } catch {
    return false;
  }
}

/** A streaming hash for the digest's algorithm. */
export function hasherFor(digest: string): Hash {
  return createHash(parseDigest(digest).algorithm);
}

/** The sha256 digest of some bytes. */
export function sha256Of(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
