/**
 * Conversions from the OCI resources, which were designed around cgroup v1,
 * to cgroup v2 values. Formulas and edge cases follow runc
 * (libcontainer/cgroups/utils.go) so a config means the same under both.
 */
import { BerthError } from '../../errors/index.js';

const CPU_SHARES_MIN = 2;
/** The kernel's MAX_SHARES (1 << 18). */
const CPU_SHARES_MAX = 262144;
const CPU_WEIGHT_MAX = 10000;

/**
 * v1 cpu.shares [2, 262144] → v2 cpu.weight [1, 10000], linearly:
 * `1 + ((shares - 2) * 9999) / 262142` with integer division. 0 stays 0 (not
 * set); values outside the v1 range are clamped, where runc's unsigned
 * arithmetic would wrap.
 */
export function cpuSharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  if (shares <= CPU_SHARES_MIN) return 1;
  if (shares >= CPU_SHARES_MAX) return CPU_WEIGHT_MAX;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/**
 * v1 blkio weight [10, 1000] → v2 io.weight [1, 10000]:
 * `1 + (weight - 10) * 9999 / 990`. Only used when io.bfq.weight (which takes
 * the v1 range as is) is absent.
 */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  if (weight <= 10) return 1;
  if (weight >= 1000) return CPU_WEIGHT_MAX;
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/**
 * OCI `memory.swap` is memory+swap (v1 memory.memsw.limit_in_bytes); v2
 * memory.swap.max is swap alone, so subtract the memory limit. Returns -1
 * for "max" and 0 for "not set".
 */
export function memorySwapToV2(swap: number, limit: number): number {
  // Unlimited memory with swap unset means both unlimited, as on v1.
  if (limit === -1 && swap === 0) return -1;
  if (swap === -1 || swap === 0) return swap;
  if (limit === -1) return swap;
  if (limit === 0) {
    throw new BerthError('CONFIG_INVALID', 'memory swap limit needs a memory limit on cgroup v2; set linux.resources.memory.limit too', {
      field: 'linux.resources.memory.swap',
    });
  }
  if (limit < 0) {
    throw new BerthError('CONFIG_INVALID', `memory limit ${limit} is not valid; use a byte count or -1 for no limit`, {
      field: 'linux.resources.memory.limit',
    });
  }
  if (swap < limit) {
    throw new BerthError('CONFIG_INVALID', `memory+swap limit ${swap} is below the memory limit ${limit}; it must be at least as large`, {
      field: 'linux.resources.memory.swap',
    });
  }
  return swap - limit;
}

/**
 * A v2 limit file value (`memory.max`, `pids.max`): -1 is `max`, 0 is "not
 * set" (undefined), anything else the number.
 */
export function limitToV2(value: number | undefined): string | undefined {
  if (value === undefined || value === 0) return undefined;
  if (value === -1) return 'max';
  return String(value);
}
