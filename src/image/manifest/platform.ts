/**
 * Platforms (`os/architecture[/variant]`) and choosing one manifest from an
 * index, with containerd's normalization: `aarch64` is `arm64`, `x86_64` is
 * `amd64`; arm64 without a variant is `v8`, arm is `v7`, amd64 is `v1`. A
 * request for a variant also accepts older ones the CPU runs (arm/v7 takes
 * v6 and v5; amd64/v3 takes v2 and v1), preferring the closest.
 */
import { BerthError } from '../../errors/index.js';
import type { Descriptor, ImageIndex, Platform } from './types.js';

const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  x86: '386',
  i386: '386',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
};

const DEFAULT_VARIANT: Record<string, string> = { arm64: 'v8', arm: 'v7', amd64: 'v1' };

/** Variants each architecture knows, oldest first; a CPU of one runs all before it. */
const VARIANT_ORDER: Record<string, string[]> = {
  arm: ['v5', 'v6', 'v7', 'v8'],
  arm64: ['v8', 'v8.1', 'v8.2', 'v8.3', 'v8.4', 'v8.5', 'v8.6', 'v8.7', 'v8.8', 'v8.9', 'v9', 'v9.1', 'v9.2', 'v9.3', 'v9.4', 'v9.5'],
  amd64: ['v1', 'v2', 'v3', 'v4'],
};

/** A platform with aliases resolved and the default variant filled in. */
export function normalizePlatform(platform: Platform): Platform {
  const os = platform.os.toLowerCase();
  const architecture = ARCH_ALIASES[platform.architecture.toLowerCase()] ?? platform.architecture.toLowerCase();
  let variant = platform.variant?.toLowerCase() || DEFAULT_VARIANT[architecture];
  if (architecture === 'arm64' && variant === '8') variant = 'v8';
  if (architecture === 'arm' && /^[5-8]$/.test(variant ?? '')) variant = `v${variant}`;
  const out: Platform = { os, architecture };
  if (variant) out.variant = variant;
  if (platform['os.version'] !== undefined) out['os.version'] = platform['os.version'];
  return out;
}

/** Parses `linux`, `linux/arm64`, `linux/arm/v7` (`PLATFORM_INVALID` otherwise). */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length > 3 || parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) {
    throw new BerthError('PLATFORM_INVALID', `invalid platform \`${text}\`: want os[/architecture[/variant]], e.g. linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string?, string?];
  const host = defaultPlatform();
  const p: Platform = { os, architecture: architecture ?? host.architecture };
  if (variant !== undefined) p.variant = variant;
  else if (architecture === undefined && host.variant !== undefined) p.variant = host.variant;
  return normalizePlatform(p);
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** The platform of this host as Go names it (Node's `x64` is `amd64`). */
export function defaultPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return normalizePlatform({ os: process.platform === 'win32' ? 'windows' : process.platform, architecture: arch[process.arch] ?? process.arch });
}

/**
 * How well `have` serves `want`: 0 for an exact match, a positive distance
 * for an older compatible variant, undefined when it does not run.
 */
export function platformRank(want: Platform, have: Platform): number | undefined {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return undefined;
  if (w.variant === h.variant) return 0;
  const order = VARIANT_ORDER[w.architecture];
  if (!order || w.variant === undefined || h.variant === undefined) return undefined;
  const wi = order.indexOf(w.variant);
  const hi = order.indexOf(h.variant);
  if (wi < 0 || hi < 0 || hi > wi) return undefined;
  return wi - hi;
}

export function platformMatches(want: Platform, have: Platform): boolean {
  return platformRank(want, have) !== undefined;
}

/**
 * The index entry for a platform: the closest match, first in index order
 * among equals. Entries with no platform are skipped (attestations carry
 * `unknown/unknown`). Throws `PLATFORM_NOT_FOUND` naming the reference and
 * listing what the index offers.
 */
export function selectManifest(index: ImageIndex, platform: Platform, name: string): Descriptor {
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (d.platform === undefined) continue;
    const rank = platformRank(platform, d.platform);
    if (rank !== undefined && (best === undefined || rank < best.rank)) best = { d, rank };
  }
  if (best) return best.d;
  const offered = index.manifests.filter((d) => d.platform).map((d) => formatPlatform(normalizePlatform(d.platform!)));
  throw new BerthError(
    'PLATFORM_NOT_FOUND',
    `\`${name}\` has no image for ${formatPlatform(normalizePlatform(platform))}` + (offered.length ? ` (it has ${[...new Set(offered)].join(', ')})` : ''),
  );
}
