/**
 * TypeScript copy of the numbers in src/native/include/berth-plan.h.
 * attrs.test.ts parses the header and fails when the two differ.
 */
export const PLAN_MAGIC = 0x50485442;
export const PLAN_VERSION = 1;
export const PLAN_MAX_BYTES = 16 * 1024 * 1024;
export const SYNC_FD_ENV = '_BERTH_SYNC_FD';

export const A = {
  MODE: 1,
  CLONE_FLAGS: 2,
  NS_JOIN: 3,
  ROOTFS: 4,
  ROOTFS_READONLY: 5,
  ROOT_PROPAGATION: 6,
  NO_PIVOT: 7,
  MOUNT: 8,
  DEVICE: 9,
  SYMLINK: 10,
  MASKED_PATH: 11,
  READONLY_PATH: 12,
  SYSCTL: 13,
  HOSTNAME: 14,
  DOMAINNAME: 15,
  RLIMIT: 16,
  UID: 17,
  GID: 18,
  ADDITIONAL_GIDS: 19,
  UMASK: 20,
  CAP_BOUNDING: 21,
  CAP_EFFECTIVE: 22,
  CAP_INHERITABLE: 23,
  CAP_PERMITTED: 24,
  CAP_AMBIENT: 25,
  NO_NEW_PRIVS: 26,
  OOM_SCORE_ADJ: 27,
  PERSONALITY: 28,
  SECCOMP: 29,
  ARG: 30,
  ENV: 31,
  CWD: 32,
  TERMINAL: 33,
  CONSOLE_SOCKET: 34,
  CONSOLE_HEIGHT: 35,
  CONSOLE_WIDTH: 36,
  EXEC_FIFO: 37,
  PRESERVE_FDS: 38,
  NEW_KEYRING: 39,
  KEYRING_NAME: 40,
  PARENT_WAITS: 41,
  SETGROUPS_DENY: 42,
  SELINUX_LABEL: 43,
  MOUNT_LABEL: 44,
  CONTAINER_ID: 45,
  CGROUP_NS_AFTER_SYNC: 46,
  START_HOOK: 47,
  DEVICE_CGROUP: 48,
  DEVICE_RULE: 49,
  CONSOLE_PROXY: 50,
  CGROUP_TASKS: 51,
  CGROUP_INTO: 52,
} as const;

export const MODE = { CREATE: 1, EXEC: 2, DEVICES: 3 } as const;
export const NSJ = { TYPE: 1, PATH: 2 } as const;
export const M = {
  SOURCE: 1,
  TARGET: 2,
  FSTYPE: 3,
  FLAGS: 4,
  DATA: 5,
  PROPAGATION: 6,
  REMOUNT_FLAGS: 7,
  TARGET_IS_FILE: 8,
  KIND: 9,
} as const;
export const MOUNT_KIND = { NORMAL: 0, BIND: 1, CGROUP_ROOT: 2 } as const;
export const DEV = { PATH: 1, TYPE: 2, MAJOR: 3, MINOR: 4, MODE: 5, UID: 6, GID: 7, BIND: 8 } as const;
export const LNK = { TARGET: 1, PATH: 2 } as const;
export const SYS = { KEY: 1, VALUE: 2 } as const;
export const RL = { RESOURCE: 1, SOFT: 2, HARD: 3 } as const;
export const HK = { PATH: 1, ARG: 2, ENV: 3, TIMEOUT: 4 } as const;
export const DR = { ALLOW: 1, TYPE: 2, MAJOR: 3, MINOR: 4, ACCESS: 5 } as const;
export const SC = { DEFAULT_ACTION: 1, ARCH: 2, FLAGS: 3, SYSCALL: 4, LISTENER_PATH: 5 } as const;
export const SCS = { NAME: 1, ACTION: 2, ARG: 3 } as const;
export const SCA = { INDEX: 1, VALUE: 2, VALUE_TWO: 3, OP: 4 } as const;

export const SYNC = { CHILD_PID: 1, CONTINUE: 2, HOOKS: 3, READY: 4, ERROR: 5, ABORT: 6 } as const;
export const SYNC_HDR_SIZE = 20;
export const SYNC_MAX_MSG = 4096;

export const STAGE = {
  PLAN: 1,
  CONSOLE_CONNECT: 2,
  NS_JOIN: 3,
  CLONE: 4,
  WAIT_PARENT: 5,
  MOUNTS: 6,
  DEVICES: 7,
  PIVOT_ROOT: 8,
  MASKED_PATHS: 9,
  READONLY_PATHS: 10,
  SYSCTL: 11,
  HOSTNAME: 12,
  CONSOLE: 13,
  RLIMITS: 14,
  IDS: 15,
  CAPS: 16,
  SECCOMP: 17,
  CWD: 18,
  EXEC_FIFO: 19,
  EXEC: 20,
  MISC: 21,
  DEVICE_FILTER: 22,
  CGROUP: 23,
} as const;

export const STAGE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(STAGE).map(([name, id]) => [id, name.toLowerCase().replace(/_/g, '-')]),
);
