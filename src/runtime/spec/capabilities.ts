/**
 * Linux capability names and numbers (include/uapi/linux/capability.h, up to
 * CAP_CHECKPOINT_RESTORE, Linux 5.9) and the masks the plan carries.
 */

/** Capability name → bit number, in the kernel's order. */
export const CAPABILITIES: Readonly<Record<string, number>> = Object.freeze({
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_LINUX_IMMUTABLE: 9,
  CAP_NET_BIND_SERVICE: 10,
  CAP_NET_BROADCAST: 11,
  CAP_NET_ADMIN: 12,
  CAP_NET_RAW: 13,
  CAP_IPC_LOCK: 14,
  CAP_IPC_OWNER: 15,
  CAP_SYS_MODULE: 16,
  CAP_SYS_RAWIO: 17,
  CAP_SYS_CHROOT: 18,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_PACCT: 20,
  CAP_SYS_ADMIN: 21,
  CAP_SYS_BOOT: 22,
  CAP_SYS_NICE: 23,
  CAP_SYS_RESOURCE: 24,
  CAP_SYS_TIME: 25,
  CAP_SYS_TTY_CONFIG: 26,
  CAP_MKNOD: 27,
  CAP_LEASE: 28,
  CAP_AUDIT_WRITE: 29,
  CAP_AUDIT_CONTROL: 30,
  CAP_SETFCAP: 31,
  CAP_MAC_OVERRIDE: 32,
  CAP_MAC_ADMIN: 33,
  CAP_SYSLOG: 34,
  CAP_WAKE_ALARM: 35,
  CAP_BLOCK_SUSPEND: 36,
  CAP_AUDIT_READ: 37,
  CAP_PERFMON: 38,
  CAP_BPF: 39,
  CAP_CHECKPOINT_RESTORE: 40,
});

/** The highest capability number berth knows. */
export const CAP_LAST_KNOWN = 40;

/** Every known capability name, in number order. */
export const CAPABILITY_NAMES: readonly string[] = Object.freeze(
  Object.entries(CAPABILITIES)
    .sort((a, b) => a[1] - b[1])
    .map(([name]) => name),
);

/** The number of a capability name (`CAP_SYS_ADMIN`), or undefined when unknown. */
export function findCapability(name: string): number | undefined {
  return Object.hasOwn(CAPABILITIES, name) ? CAPABILITIES[name] : undefined;
}

/** The name of a capability number, or undefined when unknown. */
export function findCapabilityName(bit: number): string | undefined {
  return CAPABILITY_NAMES[bit];
}

/**
 * The bit mask of a list of capability names. Unknown names are not
 * expected here (validation rejects them); they throw a TypeError.
 * `lastCap` drops capabilities the running kernel does not know (its
 * /proc/sys/kernel/cap_last_cap): keeping them would make capset(2) fail,
 * and runc ignores them the same way.
 */
export function capabilityMask(names: readonly string[] | undefined, lastCap = CAP_LAST_KNOWN): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const bit = findCapability(name);
    if (bit === undefined) throw new TypeError(`unknown capability ${name}`);
    if (bit <= lastCap) mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** The capability names in a mask, in number order. */
export function capabilityNames(mask: bigint): string[] {
  const out: string[] = [];
  for (let bit = 0; bit <= 63; bit++) {
    if ((mask >> BigInt(bit)) & 1n) out.push(findCapabilityName(bit) ?? `CAP_${bit}`);
  }
  return out;
}
