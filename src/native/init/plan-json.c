/*
 * --decode-plan output: the plan as one JSON object whose keys and shapes
 * are those of the TypeScript Plan (src/runtime/plan/plan.ts), so a golden
 * test can compare it with the Plan that was encoded. bigint fields are
 * printed as strings of decimal digits; absent optional fields are omitted.
 */
#include "plan.h"

#include <inttypes.h>

struct json {
  FILE *out;
  bool first; /* no comma before the next member */
};

static void str(struct json *j, const char *s) {
  fputc('"', j->out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", j->out); break;
    case '\\': fputs("\\\\", j->out); break;
    case '\b': fputs("\\b", j->out); break;
    case '\f': fputs("\\f", j->out); break;
    case '\n': fputs("\\n", j->out); break;
    case '\r': fputs("\\r", j->out); break;
    case '\t': fputs("\\t", j->out); break;
    default:
      if (*p < 0x20) fprintf(j->out, "\\u%04x", *p);
      else fputc(*p, j->out);
    }
  }
  fputc('"', j->out);
}

static void sep(struct json *j) {
  if (!j->first) fputc(',', j->out);
  j->first = false;
}

static void key(struct json *j, const char *k) {
  sep(j);
  str(j, k);
  fputc(':', j->out);
}

static void open_(struct json *j, char c) {
  fputc(c, j->out);
  j->first = true;
}

static void close_(struct json *j, char c) {
  fputc(c, j->out);
  j->first = false;
}

static void k_str(struct json *j, const char *k, const char *v) {
  key(j, k);
  str(j, v ? v : "");
}

static void k_opt_str(struct json *j, const char *k, const char *v) {
  if (v != NULL) k_str(j, k, v);
}

static void k_u32(struct json *j, const char *k, uint32_t v) {
  key(j, k);
  fprintf(j->out, "%" PRIu32, v);
}

static void k_bool(struct json *j, const char *k, bool v) {
  key(j, k);
  fputs(v ? "true" : "false", j->out);
}

static void u64(struct json *j, uint64_t v) {
  fprintf(j->out, "\"%" PRIu64 "\"", v);
}

static void k_u64(struct json *j, const char *k, uint64_t v) {
  key(j, k);
  u64(j, v);
}

static void k_str_array(struct json *j, const char *k, const char *const *v, size_t n) {
  key(j, k);
  open_(j, '[');
  for (size_t i = 0; i < n; i++) {
    sep(j);
    str(j, v[i]);
  }
  close_(j, ']');
}

static void mount(struct json *j, const struct plan_mount *m) {
  open_(j, '{');
  k_str(j, "source", m->source);
  k_str(j, "target", m->target);
  k_str(j, "fstype", m->fstype);
  k_u64(j, "flags", m->flags);
  k_str(j, "data", m->data);
  key(j, "propagation");
  open_(j, '[');
  for (size_t i = 0; i < m->n_propagation; i++) {
    sep(j);
    u64(j, m->propagation[i]);
  }
  close_(j, ']');
  k_u64(j, "remountFlags", m->remount_flags);
  k_bool(j, "targetIsFile", m->target_is_file);
  k_u32(j, "kind", m->kind);
  close_(j, '}');
}

static void device(struct json *j, const struct plan_device *d) {
  open_(j, '{');
  k_str(j, "path", d->path);
  k_u32(j, "type", d->type);
  k_u32(j, "major", d->major);
  k_u32(j, "minor", d->minor);
  k_u32(j, "mode", d->mode);
  k_u32(j, "uid", d->uid);
  k_u32(j, "gid", d->gid);
  k_bool(j, "bind", d->bind);
  close_(j, '}');
}

static void seccomp(struct json *j, const struct plan_seccomp *s) {
  open_(j, '{');
  k_u32(j, "defaultAction", s->default_action);
  k_str_array(j, "architectures", s->archs, s->n_archs);
  k_u32(j, "flags", s->flags);
  key(j, "syscalls");
  open_(j, '[');
  for (size_t i = 0; i < s->n_rules; i++) {
    const struct plan_seccomp_rule *r = &s->rules[i];
    sep(j);
    open_(j, '{');
    k_str_array(j, "names", r->names, r->n_names);
    k_u32(j, "action", r->action);
    key(j, "args");
    open_(j, '[');
    for (size_t a = 0; a < r->n_args; a++) {
      sep(j);
      open_(j, '{');
      k_u32(j, "index", r->args[a].index);
      k_u64(j, "value", r->args[a].value);
      k_u64(j, "valueTwo", r->args[a].value_two);
      k_u32(j, "op", r->args[a].op);
      close_(j, '}');
    }
    close_(j, ']');
    close_(j, '}');
  }
  close_(j, ']');
  k_opt_str(j, "listenerPath", s->listener_path);
  close_(j, '}');
}

/* Each array member is an object printed by `each`. */
#define OBJ_ARRAY(j, k, arr, n, each) \
  do {                                \
    key(j, k);                        \
    open_(j, '[');                    \
    for (size_t i_ = 0; i_ < (n); i_++) { \
      sep(j);                         \
      each(j, &(arr)[i_]);            \
    }                                 \
    close_(j, ']');                   \
  } while (0)

static void nsjoin(struct json *j, const struct plan_nsjoin *n) {
  open_(j, '{');
  k_u64(j, "type", n->type);
  k_str(j, "path", n->path);
  close_(j, '}');
}

static void symlink_(struct json *j, const struct plan_symlink *l) {
  open_(j, '{');
  k_str(j, "target", l->target);
  k_str(j, "path", l->path);
  close_(j, '}');
}

static void sysctl(struct json *j, const struct plan_sysctl *s) {
  open_(j, '{');
  k_str(j, "key", s->key);
  k_str(j, "value", s->value);
  close_(j, '}');
}

static void hook(struct json *j, const struct plan_hook *h) {
  open_(j, '{');
  k_str(j, "path", h->path);
  k_str_array(j, "args", h->args, h->n_args);
  k_str_array(j, "env", h->env, h->n_env);
  k_u32(j, "timeout", h->timeout);
  close_(j, '}');
}

static void rlimit(struct json *j, const struct plan_rlimit *r) {
  open_(j, '{');
  k_u32(j, "resource", r->resource);
  k_u64(j, "soft", r->soft);
  k_u64(j, "hard", r->hard);
  close_(j, '}');
}

/* Any (UINT64_MAX) is -1, as in the TypeScript PlanDeviceRule. */
static void k_dev_num(struct json *j, const char *k, uint64_t v) {
  key(j, k);
  if (v == UINT64_MAX) fputs("-1", j->out);
  else fprintf(j->out, "%" PRIu64, v);
}

static void device_rule(struct json *j, const struct plan_device_rule *r) {
  char type[2] = {(char)r->type, '\0'};
  open_(j, '{');
  k_bool(j, "allow", r->allow);
  /* A type outside a/b/c (refused by plan_validate) prints as its number. */
  if (r->type == 'a' || r->type == 'b' || r->type == 'c') k_str(j, "type", type);
  else k_u32(j, "type", r->type);
  k_dev_num(j, "major", r->major);
  k_dev_num(j, "minor", r->minor);
  k_u32(j, "access", r->access);
  close_(j, '}');
}

int plan_print_json(const struct plan *p, FILE *out) {
  struct json jj = {out, true}, *j = &jj;
  open_(j, '{');
  k_str(j, "mode", p->mode == BERTH_MODE_CREATE ? "create" : p->mode == BERTH_MODE_EXEC ? "exec" : "devices");
  k_str(j, "containerId", p->container_id);
  k_u64(j, "cloneFlags", p->clone_flags);
  OBJ_ARRAY(j, "nsJoin", p->ns_join, p->n_ns_join, nsjoin);
  k_opt_str(j, "rootfs", p->rootfs);
  k_bool(j, "rootfsReadonly", p->rootfs_readonly);
  k_u64(j, "rootPropagation", p->root_propagation);
  k_bool(j, "noPivot", p->no_pivot);
  OBJ_ARRAY(j, "mounts", p->mounts, p->n_mounts, mount);
  OBJ_ARRAY(j, "devices", p->devices, p->n_devices, device);
  OBJ_ARRAY(j, "symlinks", p->symlinks, p->n_symlinks, symlink_);
  k_str_array(j, "maskedPaths", p->masked_paths, p->n_masked_paths);
  k_str_array(j, "readonlyPaths", p->readonly_paths, p->n_readonly_paths);
  OBJ_ARRAY(j, "sysctl", p->sysctl, p->n_sysctl, sysctl);
  k_opt_str(j, "hostname", p->hostname);
  k_opt_str(j, "domainname", p->domainname);
  OBJ_ARRAY(j, "rlimits", p->rlimits, p->n_rlimits, rlimit);
  k_u32(j, "uid", p->uid);
  k_u32(j, "gid", p->gid);
  if (p->has_additional_gids) {
    key(j, "additionalGids");
    open_(j, '[');
    for (size_t i = 0; i < p->n_additional_gids; i++) {
      sep(j);
      fprintf(out, "%" PRIu32, p->additional_gids[i]);
    }
    close_(j, ']');
  }
  k_bool(j, "setgroupsDeny", p->setgroups_deny);
  if (p->has_umask) k_u32(j, "umask", p->umask);
  key(j, "capabilities");
  open_(j, '{');
  k_u64(j, "bounding", p->caps.bounding);
  k_u64(j, "effective", p->caps.effective);
  k_u64(j, "inheritable", p->caps.inheritable);
  k_u64(j, "permitted", p->caps.permitted);
  k_u64(j, "ambient", p->caps.ambient);
  close_(j, '}');
  k_bool(j, "noNewPrivileges", p->no_new_privs);
  if (p->has_oom_score_adj) {
    key(j, "oomScoreAdj");
    fprintf(out, "%" PRId32, p->oom_score_adj);
  }
  if (p->has_personality) k_u32(j, "personality", p->personality);
  if (p->seccomp != NULL) {
    key(j, "seccomp");
    seccomp(j, p->seccomp);
  }
  k_str_array(j, "args", p->args, p->n_args);
  k_str_array(j, "env", p->env, p->n_env);
  k_str(j, "cwd", p->cwd);
  k_bool(j, "terminal", p->terminal);
  k_opt_str(j, "consoleSocket", p->console_socket);
  if (p->has_console_height) k_u32(j, "consoleHeight", p->console_height);
  if (p->has_console_width) k_u32(j, "consoleWidth", p->console_width);
  k_opt_str(j, "execFifo", p->exec_fifo);
  k_u32(j, "preserveFds", p->preserve_fds);
  k_bool(j, "newKeyring", p->new_keyring);
  k_opt_str(j, "keyringName", p->keyring_name);
  k_bool(j, "parentWaits", p->parent_waits);
  k_bool(j, "consoleProxy", p->console_proxy);
  k_bool(j, "cgroupNsAfterSync", p->cgroup_ns_after_sync);
  OBJ_ARRAY(j, "startHooks", p->start_hooks, p->n_start_hooks, hook);
  if (p->n_cgroup_tasks > 0) k_str_array(j, "cgroupTasks", p->cgroup_tasks, p->n_cgroup_tasks);
  k_opt_str(j, "cgroupInto", p->cgroup_into);
  k_opt_str(j, "deviceCgroup", p->device_cgroup);
  OBJ_ARRAY(j, "deviceRules", p->device_rules, p->n_device_rules, device_rule);
  close_(j, '}');
  fputc('\n', out);
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
