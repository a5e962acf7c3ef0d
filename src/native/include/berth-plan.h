/*
 * berth-plan.h: the whole contract between berth-runtime (TypeScript) and
 * berth-init (the C executor). TypeScript makes every decision and writes a
 * plan; the executor reads the whole plan, then carries it out in fixed
 * phases. src/runtime/plan/attrs.ts is the TypeScript copy of these numbers,
 * and src/runtime/plan/attrs.test.ts parses this file to keep them in step.
 *
 * Wire format of a plan (all integers little-endian, the host's order):
 *
 *   u32 magic   = BERTH_PLAN_MAGIC
 *   u32 version = BERTH_PLAN_VERSION
 *   u32 length  = number of payload bytes that follow
 *   payload     = a sequence of attributes
 *
 * An attribute is
 *
 *   u16 type    (one of the BERTH_A_* ids below)
 *   u16 reserved (0)
 *   u32 length  (bytes of value)
 *   value       (no padding)
 *
 * Value encodings, fixed per attribute type (the comment says which):
 *   u32, s32, u64 : the integer
 *   str           : bytes followed by one NUL, the NUL counted in length
 *   nest          : a sequence of attributes (same layout, recursive)
 *   u32[]         : length/4 integers
 *
 * Unknown attribute types are an error (the plan is versioned, not
 * extensible by guessing). Repeated attributes keep their order.
 */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#define BERTH_PLAN_MAGIC 0x50485442u /* "BTHP" */
#define BERTH_PLAN_VERSION 1u
#define BERTH_PLAN_MAX_BYTES (16u * 1024u * 1024u)

/* How the executor finds the sync socket: an environment variable holding
 * the fd number. The executor removes it from its environment. */
#define BERTH_SYNC_FD_ENV "_BERTH_SYNC_FD"

/* ---- top-level attributes ------------------------------------------- */
#define BERTH_A_MODE 1            /* u32 BERTH_MODE_* */
#define BERTH_A_CLONE_FLAGS 2     /* u64 CLONE_NEW* flags of namespaces to create */
#define BERTH_A_NS_JOIN 3         /* nest: NSJ_* ; repeated, joined in order */
#define BERTH_A_ROOTFS 4          /* str: absolute host path of the rootfs (create) */
#define BERTH_A_ROOTFS_READONLY 5 /* u32 0|1: remount / read-only last */
#define BERTH_A_ROOT_PROPAGATION 6 /* u64 mount flags applied to "/" recursively first (e.g. MS_SLAVE|MS_REC) */
#define BERTH_A_NO_PIVOT 7        /* u32 0|1: use MS_MOVE + chroot instead of pivot_root */
#define BERTH_A_MOUNT 8           /* nest: M_* ; repeated, in order */
#define BERTH_A_DEVICE 9          /* nest: DEV_* ; repeated, created after mounts */
#define BERTH_A_SYMLINK 10        /* nest: LNK_* ; repeated, created after devices */
#define BERTH_A_MASKED_PATH 11    /* str: container path masked with /dev/null or a ro tmpfs */
#define BERTH_A_READONLY_PATH 12  /* str: container path bind-remounted read-only */
#define BERTH_A_SYSCTL 13         /* nest: SYS_* ; repeated */
#define BERTH_A_HOSTNAME 14       /* str */
#define BERTH_A_DOMAINNAME 15     /* str */
#define BERTH_A_RLIMIT 16         /* nest: RL_* ; repeated */
#define BERTH_A_UID 17            /* u32 */
#define BERTH_A_GID 18            /* u32 */
#define BERTH_A_ADDITIONAL_GIDS 19 /* u32[] (setgroups; absent = setgroups(0) unless SETGROUPS_DENY) */
#define BERTH_A_UMASK 20          /* u32, absent = leave as is */
#define BERTH_A_CAP_BOUNDING 21   /* u64 mask of capabilities to KEEP in the bounding set */
#define BERTH_A_CAP_EFFECTIVE 22  /* u64 mask */
#define BERTH_A_CAP_INHERITABLE 23 /* u64 mask */
#define BERTH_A_CAP_PERMITTED 24  /* u64 mask */
#define BERTH_A_CAP_AMBIENT 25    /* u64 mask */
#define BERTH_A_NO_NEW_PRIVS 26   /* u32 0|1 */
#define BERTH_A_OOM_SCORE_ADJ 27  /* s32, absent = leave as is */
#define BERTH_A_PERSONALITY 28    /* u32 persona for personality(2), absent = leave */
#define BERTH_A_SECCOMP 29        /* nest: SC_* ; at most once */
#define BERTH_A_ARG 30            /* str: argv element; repeated, in order */
#define BERTH_A_ENV 31            /* str: "KEY=value"; repeated, in order */
#define BERTH_A_CWD 32            /* str: absolute path inside the container */
#define BERTH_A_TERMINAL 33       /* u32 0|1: allocate a pty inside, send master to CONSOLE_SOCKET */
#define BERTH_A_CONSOLE_SOCKET 34 /* str: host path of a unix socket (connected before any namespace is entered) */
#define BERTH_A_CONSOLE_HEIGHT 35 /* u32 rows */
#define BERTH_A_CONSOLE_WIDTH 36  /* u32 cols */
#define BERTH_A_EXEC_FIFO 37      /* str: host path of the exec fifo (create mode); stage 0 creates it (mkfifo 0622) */
#define BERTH_A_PRESERVE_FDS 38   /* u32: fds 3 .. 3+N-1 stay open into the container */
#define BERTH_A_NEW_KEYRING 39    /* u32 0|1: join a new session keyring */
#define BERTH_A_KEYRING_NAME 40   /* str: name of that keyring (runc: "_ses.<id>") */
#define BERTH_A_PARENT_WAITS 41   /* u32 0|1: stage-0 stays, waits for the child, exits with its status */
#define BERTH_A_SETGROUPS_DENY 42 /* u32 0|1: do not call setgroups (user ns with setgroups denied) */
#define BERTH_A_SELINUX_LABEL 43  /* str: reserved; the executor ignores it */
#define BERTH_A_MOUNT_LABEL 44    /* str: reserved; the executor ignores it */
#define BERTH_A_CONTAINER_ID 45   /* str: only for messages */
#define BERTH_A_CGROUP_NS_AFTER_SYNC 46 /* u32 0|1: unshare(CLONE_NEWCGROUP) after the parent joined the cgroups */
#define BERTH_A_START_HOOK 47     /* nest: HK_* ; repeated: startContainer hooks, run by C in the container
                                   * after `start` released it and before execve, with the state JSON
                                   * that came with the CONTINUE answering HOOKS on their stdin */
#define BERTH_A_DEVICE_CGROUP 48  /* str: absolute host path of the container's cgroup v2 directory; stage 0
                                   * attaches the device filter built from DEVICE_RULE to it before the
                                   * clone. Absent = no filter (cgroup v1, or nothing to restrict). */
#define BERTH_A_DEVICE_RULE 49    /* nest: DR_* ; repeated, in order; only with DEVICE_CGROUP */
#define BERTH_A_CONSOLE_PROXY 50  /* u32 0|1: with TERMINAL and PARENT_WAITS and no CONSOLE_SOCKET, stage 0
                                   * keeps the pty master and copies between it and its own stdio
                                   * (runc's foreground `run -t`) */
#define BERTH_A_CGROUP_TASKS 51   /* str; repeated: absolute host path of a cgroup v1 `tasks` file. Stage 0
                                   * opens each for writing before it joins any namespace; the child, right
                                   * after CONTINUE, writes "0" (itself: it has one thread) to each. The
                                   * kernel moves a task that names itself this way without the global
                                   * lock that writing another process's pid takes (cgroup_threadgroup_rwsem,
                                   * whose write side waits for an RCU grace period: 10-20 ms). The fd's
                                   * opener, not the writer, is checked: this works from a user namespace. */
#define BERTH_A_CGROUP_INTO 52    /* str: absolute host path of a cgroup v2 directory: stage 0 clones the
                                   * child into it (clone3 CLONE_INTO_CGROUP, Linux 5.7), so it never runs
                                   * outside it and no pid is written. A refusal is an error, not a retry. */

/* BERTH_A_MODE values */
#define BERTH_MODE_CREATE 1 /* new container: clone with CLONE_FLAGS, mounts, pivot_root, exec fifo */
#define BERTH_MODE_EXEC 2   /* join an existing container's namespaces, fork, execve at once */
#define BERTH_MODE_DEVICES 3 /* `update`: stage 0 replaces berth's device filter on DEVICE_CGROUP by the
                              * one of the DEVICE_RULEs (none: removes it), then exits 0 with no clone
                              * and no sync record; ERROR on failure. Nothing else may be in the plan. */

/* ---- BERTH_A_NS_JOIN nest ------------------------------------------- */
#define BERTH_NSJ_TYPE 1 /* u64: the CLONE_NEW* flag of this namespace */
#define BERTH_NSJ_PATH 2 /* str: e.g. /proc/123/ns/net or a bind-mounted nsfs file */

/* ---- BERTH_A_MOUNT nest ---------------------------------------------
 * The executor resolves TARGET inside the rootfs (openat2 RESOLVE_IN_ROOT),
 * creating missing directories (or a file when TARGET_IS_FILE) with the
 * same rule, then mounts onto /proc/self/fd/N of the resolved O_PATH fd. */
#define BERTH_M_SOURCE 1     /* str: host path for binds, or the fs source name */
#define BERTH_M_TARGET 2     /* str: absolute path inside the container */
#define BERTH_M_FSTYPE 3     /* str: "" for binds */
#define BERTH_M_FLAGS 4      /* u64: MS_* flags for the first mount(2) (MS_BIND|MS_REC for binds) */
#define BERTH_M_DATA 5       /* str: fs data (options that are not flags), may be empty */
#define BERTH_M_PROPAGATION 6 /* u64: MS_SHARED|MS_SLAVE|MS_PRIVATE|MS_UNBINDABLE (|MS_REC); repeated, applied in order after mounting */
#define BERTH_M_REMOUNT_FLAGS 7 /* u64: for binds with ro/nosuid/...: mount(NULL, target, NULL, MS_BIND|MS_REMOUNT|flags) */
#define BERTH_M_TARGET_IS_FILE 8 /* u32 0|1: create the target as an empty file, not a directory */
#define BERTH_M_KIND 9       /* u32 BERTH_MOUNT_KIND_* */

#define BERTH_MOUNT_KIND_NORMAL 0
#define BERTH_MOUNT_KIND_BIND 1
/* A tmpfs that cgroup v1 controller binds go into; handled like NORMAL. */
#define BERTH_MOUNT_KIND_CGROUP_ROOT 2

/* ---- BERTH_A_DEVICE nest --------------------------------------------- */
#define BERTH_DEV_PATH 1  /* str: absolute path inside the container */
#define BERTH_DEV_TYPE 2  /* u32: S_IFCHR, S_IFBLK or S_IFIFO */
#define BERTH_DEV_MAJOR 3 /* u32 */
#define BERTH_DEV_MINOR 4 /* u32 */
#define BERTH_DEV_MODE 5  /* u32 permission bits */
#define BERTH_DEV_UID 6   /* u32 */
#define BERTH_DEV_GID 7   /* u32 */
#define BERTH_DEV_BIND 8  /* u32 0|1: bind-mount the host node at the same path instead of mknod (user ns) */

/* ---- BERTH_A_SYMLINK nest -------------------------------------------- */
#define BERTH_LNK_TARGET 1 /* str: what the link points to */
#define BERTH_LNK_PATH 2   /* str: absolute path of the link inside the container */

/* ---- BERTH_A_SYSCTL nest --------------------------------------------- */
#define BERTH_SYS_KEY 1   /* str: "net.ipv4.ip_forward" form */
#define BERTH_SYS_VALUE 2 /* str */

/* ---- BERTH_A_RLIMIT nest --------------------------------------------- */
#define BERTH_RL_RESOURCE 1 /* u32 RLIMIT_* number */
#define BERTH_RL_SOFT 2     /* u64 */
#define BERTH_RL_HARD 3     /* u64 */

/* ---- BERTH_A_START_HOOK nest ---------------------------------------- */
#define BERTH_HK_PATH 1    /* str: program path inside the container */
#define BERTH_HK_ARG 2     /* str: argv element; repeated */
#define BERTH_HK_ENV 3     /* str: "KEY=value"; repeated */
#define BERTH_HK_TIMEOUT 4 /* u32 seconds, 0 = none */

/* ---- BERTH_A_DEVICE_RULE nest ----------------------------------------
 * The cgroup v2 device filter (a BPF_PROG_TYPE_CGROUP_DEVICE program). An
 * access (type, major, minor, and the requested r/w/m bits) is decided by the
 * LAST rule that matches it; when none matches it is denied. A rule matches
 * when its type is 'a' or the device's, its major and minor are wildcards or
 * equal, and: for an allow rule, every requested access bit is in DR_ACCESS;
 * for a deny rule, any requested bit is (the v1 devices controller's rule,
 * security/device_cgroup.c). berth-runtime sends runc's normalized set: one
 * leading 'a' rule with the default verdict, then exceptions of the other. */
#define BERTH_DR_ALLOW 1  /* u32 0|1 */
#define BERTH_DR_TYPE 2   /* u32: 'a' (97, any), 'b' (98, block) or 'c' (99, char) */
#define BERTH_DR_MAJOR 3  /* u64: the major, at most 0x7fffffff, or all ones (UINT64_MAX) = any */
#define BERTH_DR_MINOR 4  /* u64: the minor, same encoding */
#define BERTH_DR_ACCESS 5 /* u32: non-empty mask of BPF_DEVCG_ACC_* (MKNOD 1, READ 2, WRITE 4; linux/bpf.h) */

/* ---- BERTH_A_SECCOMP nest --------------------------------------------
 * Actions are libseccomp action values (SCMP_ACT_*), with the errno already
 * or-ed in for SCMP_ACT_ERRNO/SCMP_ACT_TRACE; the executor passes them on. */
#define BERTH_SC_DEFAULT_ACTION 1 /* u32 */
#define BERTH_SC_ARCH 2           /* str: libseccomp arch name ("x86_64", "x86", "x32", ...); repeated */
#define BERTH_SC_FLAGS 3          /* u32: SECCOMP_FILTER_FLAG_* bits */
#define BERTH_SC_SYSCALL 4        /* nest: SCS_* ; repeated, in order */
#define BERTH_SC_LISTENER_PATH 5  /* str: absolute host path of the seccomp listener's unix socket; only
                                   * with an SCMP_ACT_NOTIFY rule. Stage 0 connects to it before any
                                   * namespace is entered; C sends it the notify fd (SCM_RIGHTS) right
                                   * after loading the filter, with the container process state JSON that
                                   * came with the first CONTINUE as the message, then closes both. */

#define BERTH_SCS_NAME 1   /* str: syscall name; repeated (one rule per name) */
#define BERTH_SCS_ACTION 2 /* u32 libseccomp action */
#define BERTH_SCS_ARG 3    /* nest: SCA_* ; repeated */

#define BERTH_SCA_INDEX 1     /* u32 */
#define BERTH_SCA_VALUE 2     /* u64 */
#define BERTH_SCA_VALUE_TWO 3 /* u64 */
#define BERTH_SCA_OP 4        /* u32 libseccomp scmp_compare (SCMP_CMP_*) */

/* ====================================================================
 * The sync protocol, on one SOCK_STREAM unix socket (the fd named by
 * BERTH_SYNC_FD_ENV), shared by berth-runtime (R), the stage-0 executor
 * (P, the process R spawned) and the container child (C, cloned by P).
 *
 * Every record, in both directions, is one struct berth_sync_hdr followed
 * by `msg_len` bytes of UTF-8 message (no NUL).
 *
 *   R                          P (stage 0)                    C (child)
 *   | --- plan --------------> |                               |
 *   |                          | connect console socket,       |
 *   |                          |   seccomp listener            |
 *   |                          | attach device filter (v2)     |
 *   |                          | open CGROUP_TASKS, CGROUP_INTO|
 *   |                          | setns(NS_JOIN...) in order    |
 *   |                          | clone(CLONE_FLAGS [| INTO])   |
 *   |                          |   / fork -------------------> |
 *   | <-- CHILD_PID(pid C) --- |                               | blocks: read CONTINUE
 *   |  write uid/gid maps,     | closes its sync fd; exits 0   |
 *   |  join C to the cgroups   | (or waits, PARENT_WAITS;      |
 *   |  the plan leaves to R    |  CONSOLE_PROXY: C's console)  |
 *   | --- CONTINUE(process state JSON, with a listener) ---->  |
 *   |                                           both modes:    | write "0" to CGROUP_TASKS
 *   |                                          create mode:    | mounts, devices, symlinks
 *   | <-- HOOKS ---------------------------------------------  |
 *   |  run prestart, createRuntime, createContainer hooks      |
 *   | --- CONTINUE(state JSON for startContainer hooks) ---->  |
 *   |                                                          | pivot_root, masks, sysctls,
 *   |                                                          | hostname, console, rlimits,
 *   |                                                          | ids, caps, nnp, seccomp
 *   | <-- READY (create) ------------------------------------  | open exec fifo (blocks)
 *   |  R writes state, exits; `start` opens the fifo later      | startContainer hooks, execve
 *
 *   exec mode: no HOOKS and no READY; C's sync fd is close-on-exec, so R
 *   reads end-of-file after CONTINUE once execve succeeded.
 *
 *   Any failure in P or C: ERROR{stage, errno, message}, then exit(1).
 * ==================================================================== */
#define BERTH_SYNC_CHILD_PID 1 /* P->R: value = host pid of C */
#define BERTH_SYNC_CONTINUE 2  /* R->C */
#define BERTH_SYNC_HOOKS 3     /* C->R: mounts done, run the create hooks now */
#define BERTH_SYNC_READY 4     /* C->R: set up, about to block on the exec fifo */
#define BERTH_SYNC_ERROR 5     /* P/C->R: stage, errno, message */
#define BERTH_SYNC_ABORT 6     /* R->C: give up (a hook failed); C exits */

/* Stages, so an error names where it happened. */
#define BERTH_STAGE_PLAN 1
#define BERTH_STAGE_CONSOLE_CONNECT 2
#define BERTH_STAGE_NS_JOIN 3
#define BERTH_STAGE_CLONE 4
#define BERTH_STAGE_WAIT_PARENT 5
#define BERTH_STAGE_MOUNTS 6
#define BERTH_STAGE_DEVICES 7
#define BERTH_STAGE_PIVOT_ROOT 8
#define BERTH_STAGE_MASKED_PATHS 9
#define BERTH_STAGE_READONLY_PATHS 10
#define BERTH_STAGE_SYSCTL 11
#define BERTH_STAGE_HOSTNAME 12
#define BERTH_STAGE_CONSOLE 13
#define BERTH_STAGE_RLIMITS 14
#define BERTH_STAGE_IDS 15
#define BERTH_STAGE_CAPS 16
#define BERTH_STAGE_SECCOMP 17
#define BERTH_STAGE_CWD 18
#define BERTH_STAGE_EXEC_FIFO 19
#define BERTH_STAGE_EXEC 20
#define BERTH_STAGE_MISC 21 /* personality, keyring, oom_score_adj, umask, nnp */
#define BERTH_STAGE_DEVICE_FILTER 22 /* load and attach the cgroup v2 device filter (stage 0) */
#define BERTH_STAGE_CGROUP 23 /* open the cgroups to join (stage 0), join them (child) */

#include <stdint.h>
struct berth_sync_hdr {
  uint32_t type;    /* BERTH_SYNC_* */
  uint32_t stage;   /* BERTH_STAGE_* (ERROR only) */
  int32_t err;      /* errno (ERROR only), 0 when none */
  uint32_t value;   /* pid (CHILD_PID), else 0 */
  uint32_t msg_len; /* bytes of message that follow */
};
#define BERTH_SYNC_HDR_SIZE 20
#define BERTH_SYNC_MAX_MSG 4096

#endif
