/*
 * The decoded plan: a C mirror of the Plan interface in
 * src/runtime/plan/plan.ts. Strings point into the plan buffer, which the
 * struct owns; arrays are heap copies. An absent optional field is a NULL
 * pointer or a has_* flag left false.
 */
#ifndef BERTH_INIT_PLAN_H
#define BERTH_INIT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"

struct plan_nsjoin {
  uint64_t type;
  const char *path;
};

struct plan_mount {
  const char *source, *target, *fstype, *data;
  uint64_t flags;
  uint64_t *propagation;
  size_t n_propagation;
  uint64_t remount_flags;
  bool target_is_file;
  uint32_t kind;
};

struct plan_device {
  const char *path;
  uint32_t type, major, minor, mode, uid, gid;
  bool bind;
};

struct plan_symlink {
  const char *target, *path;
};

struct plan_sysctl {
  const char *key, *value;
};

struct plan_hook {
  const char *path;
  const char **args; /* NULL-terminated */
  size_t n_args;
  const char **env; /* NULL-terminated */
  size_t n_env;
  uint32_t timeout; /* seconds, 0 = none */
};

/* A rule of the cgroup v2 device filter (BERTH_A_DEVICE_RULE). */
struct plan_device_rule {
  bool allow;
  uint32_t type;          /* 'a', 'b' or 'c' */
  uint64_t major, minor;  /* UINT64_MAX = any */
  uint32_t access;        /* BPF_DEVCG_ACC_* mask */
};

struct plan_rlimit {
  uint32_t resource;
  uint64_t soft, hard;
};

struct plan_seccomp_arg {
  uint32_t index;
  uint64_t value, value_two;
  uint32_t op;
};

struct plan_seccomp_rule {
  const char **names;
  size_t n_names;
  uint32_t action;
  struct plan_seccomp_arg *args;
  size_t n_args;
};

struct plan_seccomp {
  uint32_t default_action;
  const char **archs;
  size_t n_archs;
  uint32_t flags;
  struct plan_seccomp_rule *rules;
  size_t n_rules;
  const char *listener_path; /* seccomp listener socket (SC_LISTENER_PATH), or NULL */
};

struct plan_caps {
  uint64_t bounding, effective, inheritable, permitted, ambient;
};

struct plan {
  uint32_t mode; /* BERTH_MODE_* */
  const char *container_id;
  uint64_t clone_flags;
  struct plan_nsjoin *ns_join;
  size_t n_ns_join;
  const char *rootfs;
  bool rootfs_readonly;
  uint64_t root_propagation;
  bool no_pivot;
  struct plan_mount *mounts;
  size_t n_mounts;
  struct plan_device *devices;
  size_t n_devices;
  struct plan_symlink *symlinks;
  size_t n_symlinks;
  const char **masked_paths;
  size_t n_masked_paths;
  const char **readonly_paths;
  size_t n_readonly_paths;
  struct plan_sysctl *sysctl;
  size_t n_sysctl;
  const char *hostname;
  const char *domainname;
  struct plan_rlimit *rlimits;
  size_t n_rlimits;
  uint32_t uid, gid;
  bool has_additional_gids;
  uint32_t *additional_gids;
  size_t n_additional_gids;
  bool setgroups_deny;
  bool has_umask;
  uint32_t umask;
  struct plan_caps caps;
  bool no_new_privs;
  bool has_oom_score_adj;
  int32_t oom_score_adj;
  bool has_personality;
  uint32_t personality;
  struct plan_seccomp *seccomp;
  const char **args; /* NULL-terminated */
  size_t n_args;
  const char **env; /* NULL-terminated */
  size_t n_env;
  const char *cwd;
  bool terminal;
  const char *console_socket;
  bool has_console_height, has_console_width;
  uint32_t console_height, console_width;
  const char *exec_fifo;
  uint32_t preserve_fds;
  bool new_keyring;
  const char *keyring_name;
  bool parent_waits;
  bool console_proxy;
  bool cgroup_ns_after_sync;
  struct plan_hook *start_hooks;
  size_t n_start_hooks;
  const char **cgroup_tasks; /* v1 `tasks` files the child joins by writing "0" */
  size_t n_cgroup_tasks;
  const char *cgroup_into; /* NULL: no CLONE_INTO_CGROUP */
  const char *device_cgroup; /* NULL: no device filter */
  struct plan_device_rule *device_rules;
  size_t n_device_rules;
  const char *selinux_label; /* reserved, ignored */
  const char *mount_label;   /* reserved, ignored */

  uint8_t *buf; /* the whole encoded plan, owned */
  size_t buf_len;
};

/* Decode a complete encoded plan (header included). Takes ownership of buf
 * (malloc'ed) whether it succeeds or not. Errors are BERTH_STAGE_PLAN and
 * name the problem and its byte offset. */
int plan_decode(struct plan *plan, uint8_t *buf, size_t len, struct berth_err *err);

/* Read one encoded plan from fd: the 12-byte header, then exactly the
 * payload length it announces. With whole_file, bytes after it are an error. */
int plan_read(struct plan *plan, int fd, bool whole_file, struct berth_err *err);

/* Checks that need the whole plan (normal mode only; --decode-plan prints
 * whatever decodes). */
int plan_validate(const struct plan *plan, int sync_fd, struct berth_err *err);

void plan_free(struct plan *plan);

/* Print the plan as one JSON object shaped like the TypeScript Plan. */
int plan_print_json(const struct plan *plan, FILE *out);

#endif
