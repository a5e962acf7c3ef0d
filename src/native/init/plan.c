/*
 * Decoding of the plan wire format (src/native/include/berth-plan.h). The
 * decoder is table-driven: each nesting level has a table giving every
 * attribute its value encoding and whether it may repeat; anything not in
 * the table, of the wrong size, or repeated when it may not be is an error
 * naming the attribute and its byte offset in the plan.
 */
#include "plan.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>

enum vkind { V_U32, V_BOOL, V_S32, V_U64, V_STR, V_NEST, V_U32S };

struct attr_spec {
  uint16_t type;
  const char *name;
  enum vkind kind;
  bool repeat;
};

struct attr {
  const struct attr_spec *spec;
  size_t off; /* offset of the attribute header in the plan */
  const uint8_t *val;
  uint32_t len;
  uint32_t u32;
  int32_t s32;
  uint64_t u64;
  const char *str;
};

struct level {
  const char *name; /* "plan", "MOUNT", ... for messages */
  const struct attr_spec *specs;
  size_t n_specs;
};

typedef int (*attr_fn)(const struct attr *a, void *obj, struct berth_err *err);

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct attr_spec top_specs[] = {
    {BERTH_A_MODE, "MODE", V_U32, false},
    {BERTH_A_CLONE_FLAGS, "CLONE_FLAGS", V_U64, false},
    {BERTH_A_NS_JOIN, "NS_JOIN", V_NEST, true},
    {BERTH_A_ROOTFS, "ROOTFS", V_STR, false},
    {BERTH_A_ROOTFS_READONLY, "ROOTFS_READONLY", V_BOOL, false},
    {BERTH_A_ROOT_PROPAGATION, "ROOT_PROPAGATION", V_U64, false},
    {BERTH_A_NO_PIVOT, "NO_PIVOT", V_BOOL, false},
    {BERTH_A_MOUNT, "MOUNT", V_NEST, true},
    {BERTH_A_DEVICE, "DEVICE", V_NEST, true},
    {BERTH_A_SYMLINK, "SYMLINK", V_NEST, true},
    {BERTH_A_MASKED_PATH, "MASKED_PATH", V_STR, true},
    {BERTH_A_READONLY_PATH, "READONLY_PATH", V_STR, true},
    {BERTH_A_SYSCTL, "SYSCTL", V_NEST, true},
    {BERTH_A_HOSTNAME, "HOSTNAME", V_STR, false},
    {BERTH_A_DOMAINNAME, "DOMAINNAME", V_STR, false},
    {BERTH_A_RLIMIT, "RLIMIT", V_NEST, true},
    {BERTH_A_UID, "UID", V_U32, false},
    {BERTH_A_GID, "GID", V_U32, false},
    {BERTH_A_ADDITIONAL_GIDS, "ADDITIONAL_GIDS", V_U32S, false},
    {BERTH_A_UMASK, "UMASK", V_U32, false},
    {BERTH_A_CAP_BOUNDING, "CAP_BOUNDING", V_U64, false},
    {BERTH_A_CAP_EFFECTIVE, "CAP_EFFECTIVE", V_U64, false},
    {BERTH_A_CAP_INHERITABLE, "CAP_INHERITABLE", V_U64, false},
    {BERTH_A_CAP_PERMITTED, "CAP_PERMITTED", V_U64, false},
    {BERTH_A_CAP_AMBIENT, "CAP_AMBIENT", V_U64, false},
    {BERTH_A_NO_NEW_PRIVS, "NO_NEW_PRIVS", V_BOOL, false},
    {BERTH_A_OOM_SCORE_ADJ, "OOM_SCORE_ADJ", V_S32, false},
    {BERTH_A_PERSONALITY, "PERSONALITY", V_U32, false},
    {BERTH_A_SECCOMP, "SECCOMP", V_NEST, false},
    {BERTH_A_ARG, "ARG", V_STR, true},
    {BERTH_A_ENV, "ENV", V_STR, true},
    {BERTH_A_CWD, "CWD", V_STR, false},
    {BERTH_A_TERMINAL, "TERMINAL", V_BOOL, false},
    {BERTH_A_CONSOLE_SOCKET, "CONSOLE_SOCKET", V_STR, false},
    {BERTH_A_CONSOLE_HEIGHT, "CONSOLE_HEIGHT", V_U32, false},
    {BERTH_A_CONSOLE_WIDTH, "CONSOLE_WIDTH", V_U32, false},
    {BERTH_A_EXEC_FIFO, "EXEC_FIFO", V_STR, false},
    {BERTH_A_PRESERVE_FDS, "PRESERVE_FDS", V_U32, false},
    {BERTH_A_NEW_KEYRING, "NEW_KEYRING", V_BOOL, false},
    {BERTH_A_KEYRING_NAME, "KEYRING_NAME", V_STR, false},
    {BERTH_A_PARENT_WAITS, "PARENT_WAITS", V_BOOL, false},
    {BERTH_A_SETGROUPS_DENY, "SETGROUPS_DENY", V_BOOL, false},
    {BERTH_A_SELINUX_LABEL, "SELINUX_LABEL", V_STR, false},
    {BERTH_A_MOUNT_LABEL, "MOUNT_LABEL", V_STR, false},
    {BERTH_A_CONTAINER_ID, "CONTAINER_ID", V_STR, false},
    {BERTH_A_CGROUP_NS_AFTER_SYNC, "CGROUP_NS_AFTER_SYNC", V_BOOL, false},
    {BERTH_A_START_HOOK, "START_HOOK", V_NEST, true},
    {BERTH_A_DEVICE_CGROUP, "DEVICE_CGROUP", V_STR, false},
    {BERTH_A_DEVICE_RULE, "DEVICE_RULE", V_NEST, true},
    {BERTH_A_CONSOLE_PROXY, "CONSOLE_PROXY", V_BOOL, false},
    {BERTH_A_CGROUP_TASKS, "CGROUP_TASKS", V_STR, true},
    {BERTH_A_CGROUP_INTO, "CGROUP_INTO", V_STR, false},
};

static const struct attr_spec dr_specs[] = {
    {BERTH_DR_ALLOW, "DR_ALLOW", V_BOOL, false},
    {BERTH_DR_TYPE, "DR_TYPE", V_U32, false},
    {BERTH_DR_MAJOR, "DR_MAJOR", V_U64, false},
    {BERTH_DR_MINOR, "DR_MINOR", V_U64, false},
    {BERTH_DR_ACCESS, "DR_ACCESS", V_U32, false},
};

static const struct attr_spec hk_specs[] = {
    {BERTH_HK_PATH, "HK_PATH", V_STR, false},
    {BERTH_HK_ARG, "HK_ARG", V_STR, true},
    {BERTH_HK_ENV, "HK_ENV", V_STR, true},
    {BERTH_HK_TIMEOUT, "HK_TIMEOUT", V_U32, false},
};

static const struct attr_spec nsj_specs[] = {
    {BERTH_NSJ_TYPE, "NSJ_TYPE", V_U64, false},
    {BERTH_NSJ_PATH, "NSJ_PATH", V_STR, false},
};

static const struct attr_spec mount_specs[] = {
    {BERTH_M_SOURCE, "M_SOURCE", V_STR, false},
    {BERTH_M_TARGET, "M_TARGET", V_STR, false},
    {BERTH_M_FSTYPE, "M_FSTYPE", V_STR, false},
    {BERTH_M_FLAGS, "M_FLAGS", V_U64, false},
    {BERTH_M_DATA, "M_DATA", V_STR, false},
    {BERTH_M_PROPAGATION, "M_PROPAGATION", V_U64, true},
    {BERTH_M_REMOUNT_FLAGS, "M_REMOUNT_FLAGS", V_U64, false},
    {BERTH_M_TARGET_IS_FILE, "M_TARGET_IS_FILE", V_BOOL, false},
    {BERTH_M_KIND, "M_KIND", V_U32, false},
};

static const struct attr_spec dev_specs[] = {
    {BERTH_DEV_PATH, "DEV_PATH", V_STR, false},   {BERTH_DEV_TYPE, "DEV_TYPE", V_U32, false},
    {BERTH_DEV_MAJOR, "DEV_MAJOR", V_U32, false}, {BERTH_DEV_MINOR, "DEV_MINOR", V_U32, false},
    {BERTH_DEV_MODE, "DEV_MODE", V_U32, false},   {BERTH_DEV_UID, "DEV_UID", V_U32, false},
    {BERTH_DEV_GID, "DEV_GID", V_U32, false},     {BERTH_DEV_BIND, "DEV_BIND", V_BOOL, false},
};

static const struct attr_spec lnk_specs[] = {
    {BERTH_LNK_TARGET, "LNK_TARGET", V_STR, false},
    {BERTH_LNK_PATH, "LNK_PATH", V_STR, false},
};

static const struct attr_spec sys_specs[] = {
    {BERTH_SYS_KEY, "SYS_KEY", V_STR, false},
    {BERTH_SYS_VALUE, "SYS_VALUE", V_STR, false},
};

static const struct attr_spec rl_specs[] = {
    {BERTH_RL_RESOURCE, "RL_RESOURCE", V_U32, false},
    {BERTH_RL_SOFT, "RL_SOFT", V_U64, false},
    {BERTH_RL_HARD, "RL_HARD", V_U64, false},
};

static const struct attr_spec sc_specs[] = {
    {BERTH_SC_DEFAULT_ACTION, "SC_DEFAULT_ACTION", V_U32, false},
    {BERTH_SC_ARCH, "SC_ARCH", V_STR, true},
    {BERTH_SC_FLAGS, "SC_FLAGS", V_U32, false},
    {BERTH_SC_SYSCALL, "SC_SYSCALL", V_NEST, true},
    {BERTH_SC_LISTENER_PATH, "SC_LISTENER_PATH", V_STR, false},
};

static const struct attr_spec scs_specs[] = {
    {BERTH_SCS_NAME, "SCS_NAME", V_STR, true},
    {BERTH_SCS_ACTION, "SCS_ACTION", V_U32, false},
    {BERTH_SCS_ARG, "SCS_ARG", V_NEST, true},
};

static const struct attr_spec sca_specs[] = {
    {BERTH_SCA_INDEX, "SCA_INDEX", V_U32, false},
    {BERTH_SCA_VALUE, "SCA_VALUE", V_U64, false},
    {BERTH_SCA_VALUE_TWO, "SCA_VALUE_TWO", V_U64, false},
    {BERTH_SCA_OP, "SCA_OP", V_U32, false},
};

static const struct level top_level = {"plan", top_specs, N(top_specs)};
static const struct level nsj_level = {"NS_JOIN", nsj_specs, N(nsj_specs)};
static const struct level mount_level = {"MOUNT", mount_specs, N(mount_specs)};
static const struct level dev_level = {"DEVICE", dev_specs, N(dev_specs)};
static const struct level lnk_level = {"SYMLINK", lnk_specs, N(lnk_specs)};
static const struct level sys_level = {"SYSCTL", sys_specs, N(sys_specs)};
static const struct level hk_level = {"START_HOOK", hk_specs, N(hk_specs)};
static const struct level rl_level = {"RLIMIT", rl_specs, N(rl_specs)};
static const struct level dr_level = {"DEVICE_RULE", dr_specs, N(dr_specs)};
static const struct level sc_level = {"SECCOMP", sc_specs, N(sc_specs)};
static const struct level scs_level = {"SC_SYSCALL", scs_specs, N(scs_specs)};
static const struct level sca_level = {"SCS_ARG", sca_specs, N(sca_specs)};

/* The plan buffer start, for offsets of nested attributes. */
static const uint8_t *plan_base;

__attribute__((format(printf, 3, 4))) static int plan_err(struct berth_err *err, size_t off, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset %zu: %s", off, what);
}

static uint32_t get_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

static uint16_t get_u16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* Grow *arr by one zeroed element of size `size` and return it. */
static void *vec_push(void *arr, size_t *n, size_t size, size_t extra) {
  void **pa = (void **)arr;
  if (*n > (SIZE_MAX / size) - extra - 1) return NULL;
  uint8_t *grown = realloc(*pa, (*n + 1 + extra) * size);
  if (grown == NULL) return NULL;
  *pa = grown;
  memset(grown + *n * size, 0, (1 + extra) * size);
  return grown + (*n)++ * size;
}

static int oom(struct berth_err *err, const char *what) {
  return berth_fail(err, BERTH_STAGE_PLAN, ENOMEM, "decode plan: out of memory for %s", what);
}

/* Walk the attributes of p[0..len), check each against the level's table
 * and hand it to fn. */
static int decode_attrs(const uint8_t *p, size_t len, const struct level *lv, attr_fn fn, void *obj,
                        struct berth_err *err) {
  uint64_t seen[2] = {0, 0};
  size_t pos = 0;
  while (pos < len) {
    size_t off = (size_t)(p + pos - plan_base);
    if (len - pos < 8) return plan_err(err, off, "truncated attribute header in %s", lv->name);
    uint16_t type = get_u16(p + pos);
    uint16_t reserved = get_u16(p + pos + 2);
    uint32_t vlen = get_u32(p + pos + 4);
    const struct attr_spec *spec = NULL;
    for (size_t i = 0; i < lv->n_specs; i++)
      if (lv->specs[i].type == type) spec = &lv->specs[i];
    if (spec == NULL) return plan_err(err, off, "unknown attribute type %u in %s", type, lv->name);
    if (reserved != 0) return plan_err(err, off, "%s: reserved field is not 0", spec->name);
    if (vlen > len - pos - 8) return plan_err(err, off, "%s: value is truncated (length runs past the end of %s)", spec->name, lv->name);
    if (!spec->repeat) {
      if (seen[type / 64] & (1ull << (type % 64))) return plan_err(err, off, "%s appears more than once in %s", spec->name, lv->name);
      seen[type / 64] |= 1ull << (type % 64);
    }
    struct attr a = {.spec = spec, .off = off, .val = p + pos + 8, .len = vlen};
    size_t want = 0;
    switch (spec->kind) {
    case V_U32:
    case V_BOOL:
    case V_S32:
      want = 4;
      break;
    case V_U64:
      want = 8;
      break;
    default:
      break;
    }
    if (want != 0 && vlen != want)
      return plan_err(err, off, "%s: wrong value length %u (want %zu)", spec->name, vlen, want);
    switch (spec->kind) {
    case V_U32:
      a.u32 = get_u32(a.val);
      break;
    case V_BOOL:
      a.u32 = get_u32(a.val);
      if (a.u32 > 1) return plan_err(err, off, "%s: boolean value must be 0 or 1", spec->name);
      break;
    case V_S32:
      memcpy(&a.s32, a.val, 4);
      break;
    case V_U64:
      memcpy(&a.u64, a.val, 8);
      break;
    case V_STR:
      if (vlen == 0 || a.val[vlen - 1] != '\0') return plan_err(err, off, "%s: string is not NUL-terminated", spec->name);
      if (memchr(a.val, '\0', vlen - 1) != NULL) return plan_err(err, off, "%s: string contains a NUL byte", spec->name);
      a.str = (const char *)a.val;
      break;
    case V_U32S:
      if (vlen % 4 != 0) return plan_err(err, off, "%s: length is not a multiple of 4", spec->name);
      break;
    case V_NEST:
      break;
    }
    if (fn(&a, obj, err) < 0) return -1;
    pos += 8 + (size_t)vlen;
  }
  return 0;
}

static int nsj_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_nsjoin *n = obj;
  (void)err;
  if (a->spec->type == BERTH_NSJ_TYPE) n->type = a->u64;
  else n->path = a->str;
  return 0;
}

static int mount_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_mount *m = obj;
  switch (a->spec->type) {
  case BERTH_M_SOURCE: m->source = a->str; break;
  case BERTH_M_TARGET: m->target = a->str; break;
  case BERTH_M_FSTYPE: m->fstype = a->str; break;
  case BERTH_M_FLAGS: m->flags = a->u64; break;
  case BERTH_M_DATA: m->data = a->str; break;
  case BERTH_M_PROPAGATION: {
    uint64_t *v = vec_push(&m->propagation, &m->n_propagation, sizeof *v, 0);
    if (v == NULL) return oom(err, "mount propagation");
    *v = a->u64;
    break;
  }
  case BERTH_M_REMOUNT_FLAGS: m->remount_flags = a->u64; break;
  case BERTH_M_TARGET_IS_FILE: m->target_is_file = a->u32; break;
  case BERTH_M_KIND: m->kind = a->u32; break;
  }
  return 0;
}

static int dev_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_device *d = obj;
  (void)err;
  switch (a->spec->type) {
  case BERTH_DEV_PATH: d->path = a->str; break;
  case BERTH_DEV_TYPE: d->type = a->u32; break;
  case BERTH_DEV_MAJOR: d->major = a->u32; break;
  case BERTH_DEV_MINOR: d->minor = a->u32; break;
  case BERTH_DEV_MODE: d->mode = a->u32; break;
  case BERTH_DEV_UID: d->uid = a->u32; break;
  case BERTH_DEV_GID: d->gid = a->u32; break;
  case BERTH_DEV_BIND: d->bind = a->u32; break;
  }
  return 0;
}

static int lnk_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_symlink *l = obj;
  (void)err;
  if (a->spec->type == BERTH_LNK_TARGET) l->target = a->str;
  else l->path = a->str;
  return 0;
}

static int sys_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_sysctl *s = obj;
  (void)err;
  if (a->spec->type == BERTH_SYS_KEY) s->key = a->str;
  else s->value = a->str;
  return 0;
}

static int rl_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_rlimit *r = obj;
  (void)err;
  switch (a->spec->type) {
  case BERTH_RL_RESOURCE: r->resource = a->u32; break;
  case BERTH_RL_SOFT: r->soft = a->u64; break;
  case BERTH_RL_HARD: r->hard = a->u64; break;
  }
  return 0;
}

static int dr_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_device_rule *r = obj;
  (void)err;
  switch (a->spec->type) {
  case BERTH_DR_ALLOW: r->allow = a->u32; break;
  case BERTH_DR_TYPE: r->type = a->u32; break;
  case BERTH_DR_MAJOR: r->major = a->u64; break;
  case BERTH_DR_MINOR: r->minor = a->u64; break;
  case BERTH_DR_ACCESS: r->access = a->u32; break;
  }
  return 0;
}

static int sca_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_seccomp_arg *s = obj;
  (void)err;
  switch (a->spec->type) {
  case BERTH_SCA_INDEX: s->index = a->u32; break;
  case BERTH_SCA_VALUE: s->value = a->u64; break;
  case BERTH_SCA_VALUE_TWO: s->value_two = a->u64; break;
  case BERTH_SCA_OP: s->op = a->u32; break;
  }
  return 0;
}

static int scs_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_seccomp_rule *r = obj;
  switch (a->spec->type) {
  case BERTH_SCS_NAME: {
    const char **v = vec_push(&r->names, &r->n_names, sizeof *v, 0);
    if (v == NULL) return oom(err, "seccomp syscall names");
    *v = a->str;
    break;
  }
  case BERTH_SCS_ACTION: r->action = a->u32; break;
  case BERTH_SCS_ARG: {
    struct plan_seccomp_arg *v = vec_push(&r->args, &r->n_args, sizeof *v, 0);
    if (v == NULL) return oom(err, "seccomp arguments");
    return decode_attrs(a->val, a->len, &sca_level, sca_attr, v, err);
  }
  }
  return 0;
}

static int sc_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_seccomp *s = obj;
  switch (a->spec->type) {
  case BERTH_SC_DEFAULT_ACTION: s->default_action = a->u32; break;
  case BERTH_SC_ARCH: {
    const char **v = vec_push(&s->archs, &s->n_archs, sizeof *v, 0);
    if (v == NULL) return oom(err, "seccomp architectures");
    *v = a->str;
    break;
  }
  case BERTH_SC_FLAGS: s->flags = a->u32; break;
  case BERTH_SC_SYSCALL: {
    struct plan_seccomp_rule *v = vec_push(&s->rules, &s->n_rules, sizeof *v, 0);
    if (v == NULL) return oom(err, "seccomp rules");
    return decode_attrs(a->val, a->len, &scs_level, scs_attr, v, err);
  }
  case BERTH_SC_LISTENER_PATH: s->listener_path = a->str; break;
  }
  return 0;
}

/* Push one element and decode a nest into it. */
#define PUSH_NEST(arr, n, lv, fn, what)                                  \
  do {                                                                   \
    void *el_ = vec_push(&(arr), &(n), sizeof *(arr), 0);                \
    if (el_ == NULL) return oom(err, what);                              \
    return decode_attrs(a->val, a->len, &(lv), (fn), el_, err);         \
  } while (0)

#define PUSH_STR(arr, n, extra, what)                                    \
  do {                                                                   \
    const char **el_ = vec_push(&(arr), &(n), sizeof *(arr), (extra));   \
    if (el_ == NULL) return oom(err, what);                              \
    *el_ = a->str;                                                       \
  } while (0)

static int hk_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan_hook *h = obj;
  switch (a->spec->type) {
  case BERTH_HK_PATH: h->path = a->str; break;
  /* argv and envp stay NULL-terminated: one spare zeroed slot. */
  case BERTH_HK_ARG: PUSH_STR(h->args, h->n_args, 1, "hook arguments"); break;
  case BERTH_HK_ENV: PUSH_STR(h->env, h->n_env, 1, "hook environment"); break;
  case BERTH_HK_TIMEOUT: h->timeout = a->u32; break;
  }
  return 0;
}

static int top_attr(const struct attr *a, void *obj, struct berth_err *err) {
  struct plan *p = obj;
  switch (a->spec->type) {
  case BERTH_A_MODE:
    if (a->u32 != BERTH_MODE_CREATE && a->u32 != BERTH_MODE_EXEC && a->u32 != BERTH_MODE_DEVICES)
      return plan_err(err, a->off, "MODE %u must be 1 (create), 2 (exec) or 3 (devices)", a->u32);
    p->mode = a->u32;
    break;
  case BERTH_A_CLONE_FLAGS: p->clone_flags = a->u64; break;
  case BERTH_A_NS_JOIN: PUSH_NEST(p->ns_join, p->n_ns_join, nsj_level, nsj_attr, "namespaces");
  case BERTH_A_ROOTFS: p->rootfs = a->str; break;
  case BERTH_A_ROOTFS_READONLY: p->rootfs_readonly = a->u32; break;
  case BERTH_A_ROOT_PROPAGATION: p->root_propagation = a->u64; break;
  case BERTH_A_NO_PIVOT: p->no_pivot = a->u32; break;
  case BERTH_A_MOUNT: PUSH_NEST(p->mounts, p->n_mounts, mount_level, mount_attr, "mounts");
  case BERTH_A_DEVICE: PUSH_NEST(p->devices, p->n_devices, dev_level, dev_attr, "devices");
  case BERTH_A_SYMLINK: PUSH_NEST(p->symlinks, p->n_symlinks, lnk_level, lnk_attr, "symlinks");
  case BERTH_A_MASKED_PATH: PUSH_STR(p->masked_paths, p->n_masked_paths, 0, "masked paths"); break;
  case BERTH_A_READONLY_PATH: PUSH_STR(p->readonly_paths, p->n_readonly_paths, 0, "read-only paths"); break;
  case BERTH_A_SYSCTL: PUSH_NEST(p->sysctl, p->n_sysctl, sys_level, sys_attr, "sysctls");
  case BERTH_A_HOSTNAME: p->hostname = a->str; break;
  case BERTH_A_DOMAINNAME: p->domainname = a->str; break;
  case BERTH_A_RLIMIT: PUSH_NEST(p->rlimits, p->n_rlimits, rl_level, rl_attr, "rlimits");
  case BERTH_A_UID: p->uid = a->u32; break;
  case BERTH_A_GID: p->gid = a->u32; break;
  case BERTH_A_ADDITIONAL_GIDS:
    p->has_additional_gids = true;
    p->n_additional_gids = a->len / 4;
    p->additional_gids = malloc(a->len ? a->len : 1);
    if (p->additional_gids == NULL) return oom(err, "additional gids");
    memcpy(p->additional_gids, a->val, a->len);
    break;
  case BERTH_A_UMASK: p->has_umask = true; p->umask = a->u32; break;
  case BERTH_A_CAP_BOUNDING: p->caps.bounding = a->u64; break;
  case BERTH_A_CAP_EFFECTIVE: p->caps.effective = a->u64; break;
  case BERTH_A_CAP_INHERITABLE: p->caps.inheritable = a->u64; break;
  case BERTH_A_CAP_PERMITTED: p->caps.permitted = a->u64; break;
  case BERTH_A_CAP_AMBIENT: p->caps.ambient = a->u64; break;
  case BERTH_A_NO_NEW_PRIVS: p->no_new_privs = a->u32; break;
  case BERTH_A_OOM_SCORE_ADJ: p->has_oom_score_adj = true; p->oom_score_adj = a->s32; break;
  case BERTH_A_PERSONALITY: p->has_personality = true; p->personality = a->u32; break;
  case BERTH_A_SECCOMP:
    p->seccomp = calloc(1, sizeof *p->seccomp);
    if (p->seccomp == NULL) return oom(err, "seccomp");
    return decode_attrs(a->val, a->len, &sc_level, sc_attr, p->seccomp, err);
  /* argv and envp stay NULL-terminated: one spare zeroed slot. */
  case BERTH_A_ARG: PUSH_STR(p->args, p->n_args, 1, "arguments"); break;
  case BERTH_A_ENV: PUSH_STR(p->env, p->n_env, 1, "environment"); break;
  case BERTH_A_CWD: p->cwd = a->str; break;
  case BERTH_A_TERMINAL: p->terminal = a->u32; break;
  case BERTH_A_CONSOLE_SOCKET: p->console_socket = a->str; break;
  case BERTH_A_CONSOLE_HEIGHT: p->has_console_height = true; p->console_height = a->u32; break;
  case BERTH_A_CONSOLE_WIDTH: p->has_console_width = true; p->console_width = a->u32; break;
  case BERTH_A_EXEC_FIFO: p->exec_fifo = a->str; break;
  case BERTH_A_PRESERVE_FDS: p->preserve_fds = a->u32; break;
  case BERTH_A_NEW_KEYRING: p->new_keyring = a->u32; break;
  case BERTH_A_KEYRING_NAME: p->keyring_name = a->str; break;
  case BERTH_A_PARENT_WAITS: p->parent_waits = a->u32; break;
  case BERTH_A_CONSOLE_PROXY: p->console_proxy = a->u32; break;
  case BERTH_A_SETGROUPS_DENY: p->setgroups_deny = a->u32; break;
  case BERTH_A_START_HOOK: PUSH_NEST(p->start_hooks, p->n_start_hooks, hk_level, hk_attr, "start hooks");
  case BERTH_A_SELINUX_LABEL: p->selinux_label = a->str; break;
  case BERTH_A_MOUNT_LABEL: p->mount_label = a->str; break;
  case BERTH_A_CONTAINER_ID: p->container_id = a->str; break;
  case BERTH_A_CGROUP_NS_AFTER_SYNC: p->cgroup_ns_after_sync = a->u32; break;
  case BERTH_A_DEVICE_CGROUP: p->device_cgroup = a->str; break;
  case BERTH_A_CGROUP_TASKS: PUSH_STR(p->cgroup_tasks, p->n_cgroup_tasks, 0, "cgroup tasks files"); break;
  case BERTH_A_CGROUP_INTO: p->cgroup_into = a->str; break;
  case BERTH_A_DEVICE_RULE: PUSH_NEST(p->device_rules, p->n_device_rules, dr_level, dr_attr, "device rules");
  }
  return 0;
}

int plan_decode(struct plan *p, uint8_t *buf, size_t len, struct berth_err *err) {
  memset(p, 0, sizeof *p);
  p->buf = buf;
  p->buf_len = len;
  p->container_id = "";
  p->cwd = "";
  if (len < 12) {
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset 0: truncated header (%zu of 12 bytes)", len);
  }
  uint32_t magic = get_u32(buf), version = get_u32(buf + 4), plen = get_u32(buf + 8);
  if (magic != BERTH_PLAN_MAGIC)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset 0: bad magic 0x%08x (want 0x%08x)", magic,
                      BERTH_PLAN_MAGIC);
  if (version != BERTH_PLAN_VERSION)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset 4: version %u, this berth-init reads version %u",
                      version, BERTH_PLAN_VERSION);
  if (plen > BERTH_PLAN_MAX_BYTES)
    return berth_fail(err, BERTH_STAGE_PLAN, EFBIG, "invalid plan at offset 8: payload of %u bytes is over the %u-byte limit",
                      plen, BERTH_PLAN_MAX_BYTES);
  if (len - 12 < plen)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset %zu: truncated (header announces %u payload bytes, %zu present)",
                      len, plen, len - 12);
  if (len - 12 > plen)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset %zu: %zu trailing bytes after the payload",
                      (size_t)plen + 12, len - 12 - plen);
  plan_base = buf;
  if (decode_attrs(buf + 12, plen, &top_level, top_attr, p, err) < 0) return -1;
  if (p->mode == 0) return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: no MODE attribute");
  if (p->args == NULL) p->args = calloc(1, sizeof *p->args);
  if (p->env == NULL) p->env = calloc(1, sizeof *p->env);
  if (p->args == NULL || p->env == NULL) return oom(err, "arguments");
  return 0;
}

static int read_full(int fd, uint8_t *buf, size_t len, size_t *got) {
  *got = 0;
  while (*got < len) {
    ssize_t n = read(fd, buf + *got, len - *got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    *got += (size_t)n;
  }
  return 0;
}

int plan_read(struct plan *p, int fd, bool whole_file, struct berth_err *err) {
  uint8_t head[12];
  size_t got;
  memset(p, 0, sizeof *p);
  if (read_full(fd, head, sizeof head, &got) < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "read plan header");
  uint32_t plen = got == sizeof head ? get_u32(head + 8) : 0;
  if (got < sizeof head || get_u32(head) != BERTH_PLAN_MAGIC || get_u32(head + 4) != BERTH_PLAN_VERSION ||
      plen > BERTH_PLAN_MAX_BYTES) {
    uint8_t *copy = malloc(sizeof head);
    if (copy == NULL) return oom(err, "plan");
    memcpy(copy, head, got);
    return plan_decode(p, copy, got, err); /* reports the header problem */
  }
  /* One spare byte tells a file with trailing data from an exact one. */
  size_t want = sizeof head + plen + (whole_file ? 1 : 0);
  uint8_t *buf = malloc(want);
  if (buf == NULL) return oom(err, "plan");
  memcpy(buf, head, sizeof head);
  if (read_full(fd, buf + sizeof head, want - sizeof head, &got) < 0) {
    int e = errno;
    free(buf);
    return berth_fail(err, BERTH_STAGE_PLAN, e, "read plan payload");
  }
  if (whole_file && got == want - sizeof head) {
    /* Count the rest only to report it. */
    uint8_t sink[4096];
    size_t more, total = 1;
    while (read_full(fd, sink, sizeof sink, &more) == 0 && more > 0) total += more;
    free(buf);
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan at offset %zu: %zu trailing bytes after the payload",
                      sizeof head + (size_t)plen, total);
  }
  return plan_decode(p, buf, sizeof head + got, err);
}

void plan_free(struct plan *p) {
  free(p->ns_join);
  for (size_t i = 0; i < p->n_mounts; i++) free(p->mounts[i].propagation);
  free(p->mounts);
  free(p->devices);
  free(p->symlinks);
  free(p->masked_paths);
  free(p->readonly_paths);
  free(p->cgroup_tasks);
  free(p->sysctl);
  free(p->rlimits);
  free(p->additional_gids);
  if (p->seccomp != NULL) {
    for (size_t i = 0; i < p->seccomp->n_rules; i++) {
      free(p->seccomp->rules[i].names);
      free(p->seccomp->rules[i].args);
    }
    free(p->seccomp->rules);
    free(p->seccomp->archs);
    free(p->seccomp);
  }
  for (size_t i = 0; i < p->n_start_hooks; i++) {
    free(p->start_hooks[i].args);
    free(p->start_hooks[i].env);
  }
  free(p->start_hooks);
  free(p->device_rules);
  free(p->args);
  free(p->env);
  free(p->buf);
  memset(p, 0, sizeof *p);
}
