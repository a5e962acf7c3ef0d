import { createHash } from 'node:crypto';

import { parseDigest } from '../digest/digest.js';

/**
 * Chain IDs of a stack of layers, lowest first (OCI image-spec, config.md
 * "Layer ChainID"): chainID(L0) = diffID(L0); chainID(Ln) =
 * sha256(chainID(Ln-1) + " " + diffID(Ln)). A chain ID names a layer
 * together with everything under it, so it names a committed snapshot.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    parseDigest(diffId);
    const prev = out[out.length - 1];
    out.push(prev === undefined ? diffId : `sha256:${createHash('sha256').update(`${prev} ${diffId}`).digest('hex')}`);
  }
  return out;
}

/** The chain ID of the whole stack (of its top layer). */
export function chainId(diffIds: readonly string[]): string {
  const ids = chainIds(diffIds);
  const top = ids[ids.length - 1];
  if (top === undefined) throw new RangeError('chainId needs at least one diffID');
  return top;
}
