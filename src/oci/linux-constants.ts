/**
 * Linux kernel constants the runtime-spec names indirectly: mount flags,
 * namespace clone flags, file type bits, rlimit resources, personalities.
 * Values are those of the generic kernel ABI (x86_64, aarch64, riscv64 ...);
 * flag words are bigint because they travel as u64 in the plan.
 */

/** mount(2) flags, include/uapi/linux/mount.h. */
export const MS = {
  RDONLY: 1n,
  NOSUID: 2n,
  NODEV: 4n,
  NOEXEC: 8n,
  SYNCHRONOUS: 16n,
  REMOUNT: 32n,
  MANDLOCK: 64n,
  DIRSYNC: 128n,
  NOSYMFOLLOW: 256n,
  NOATIME: 1024n,
  NODIRATIME: 2048n,
  BIND: 4096n,
  MOVE: 8192n,
  REC: 16384n,
  SILENT: 32768n,
  POSIXACL: 1n << 16n,
  UNBINDABLE: 1n << 17n,
  PRIVATE: 1n << 18n,
  SLAVE: 1n << 19n,
  SHARED: 1n << 20n,
  RELATIME: 1n << 21n,
  I_VERSION: 1n << 23n,
  STRICTATIME: 1n << 24n,
  LAZYTIME: 1n << 25n,
} as const;

/** The propagation-type bits of MS_*; a mount(2) call may carry only one of them. */
export const MS_PROPAGATION = MS.SHARED | MS.SLAVE | MS.PRIVATE | MS.UNBINDABLE;

/** Namespace flags of clone(2)/unshare(2)/setns(2), include/uapi/linux/sched.h. */
export const CLONE_NEW = {
  TIME: 0x80n,
  NS: 0x20000n,
  CGROUP: 0x02000000n,
  UTS: 0x04000000n,
  IPC: 0x08000000n,
  USER: 0x10000000n,
  PID: 0x20000000n,
  NET: 0x40000000n,
} as const;

/** File type bits of st_mode, include/uapi/linux/stat.h. */
export const S_IFMT = 0o170000;
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFDIR = 0o040000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;

/** setrlimit(2) resources, include/uapi/asm-generic/resource.h. */
export const RLIMIT = {
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
} as const;

/** RLIM_INFINITY as the kernel sees it: all ones in 64 bits. */
export const RLIM_INFINITY = (1n << 64n) - 1n;

/** personality(2) domains, include/uapi/linux/personality.h. */
export const PERSONALITY = {
  LINUX: 0x0000,
  LINUX32: 0x0008,
} as const;

/** statfs(2) f_type of nsfs, the filesystem of namespace files. */
export const NSFS_MAGIC = 0x6e736673;
/** statfs(2) f_type of procfs. */
export const PROC_SUPER_MAGIC = 0x9fa0;
