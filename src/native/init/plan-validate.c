/*
 * Checks that need the whole plan. berth-runtime already validated the
 * spec; these catch a plan the executor cannot carry out as written, so it
 * fails before touching anything rather than half-way through.
 */
#include "plan.h"

#include <sched.h>
#include <stdint.h>
#include <string.h>

/* libseccomp's SCMP_ACT_NOTIFY (seccomp.h), without including libseccomp
 * here: the plan carries libseccomp action values. */
#define SCMP_ACT_NOTIFY_VALUE 0x7fc00000u

static int need_abs(const char *what, const char *path, struct berth_err *err) {
  if (path == NULL || path[0] != '/')
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: %s \"%s\" is not an absolute path", what,
                      path ? path : "");
  return 0;
}

/* SCMP_ACT_NOTIFY: berth-runtime refuses these configs naming the field;
 * this keeps a hand-made plan from hanging the executor. A notified syscall
 * waits until a listener answers, and the listener gets the notify fd only
 * through sendmsg after the load: neither the default action nor a rule on
 * sendmsg may notify, and a notify rule needs a listener to go to. */
static int seccomp_notify_validate(const struct plan_seccomp *sc, struct berth_err *err) {
  if (sc->listener_path != NULL && need_abs("seccomp listener path", sc->listener_path, err) < 0) return -1;
  if (sc->default_action == SCMP_ACT_NOTIFY_VALUE)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: SCMP_ACT_NOTIFY cannot be the seccomp default action");
  for (size_t i = 0; i < sc->n_rules; i++) {
    const struct plan_seccomp_rule *r = &sc->rules[i];
    if (r->action != SCMP_ACT_NOTIFY_VALUE) continue;
    if (sc->listener_path == NULL)
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: seccomp rule %zu is SCMP_ACT_NOTIFY without SC_LISTENER_PATH", i);
    for (size_t n = 0; n < r->n_names; n++)
      if (strcmp(r->names[n], "sendmsg") == 0)
        return berth_fail(err, BERTH_STAGE_PLAN, EINVAL,
                          "invalid plan: seccomp rule %zu is SCMP_ACT_NOTIFY for sendmsg, which hands the notify fd over", i);
  }
  return 0;
}

/* Devices mode touches nothing but the filter of DEVICE_CGROUP: anything
 * that would make or enter a container means the plan was meant for
 * another mode. */
static int devices_mode_validate(const struct plan *p, struct berth_err *err) {
  if (p->device_cgroup == NULL)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: devices mode needs a DEVICE_CGROUP");
  const char *what = NULL;
  if (p->n_args != 0) what = "ARG";
  else if (p->clone_flags != 0) what = "CLONE_FLAGS";
  else if (p->n_ns_join != 0) what = "NS_JOIN";
  else if (p->rootfs != NULL) what = "ROOTFS";
  else if (p->n_mounts != 0) what = "MOUNT";
  else if (p->n_devices != 0) what = "DEVICE";
  else if (p->n_symlinks != 0) what = "SYMLINK";
  else if (p->n_masked_paths != 0 || p->n_readonly_paths != 0) what = "MASKED_PATH or READONLY_PATH";
  else if (p->n_sysctl != 0) what = "SYSCTL";
  else if (p->seccomp != NULL) what = "SECCOMP";
  else if (p->terminal || p->console_socket != NULL || p->console_proxy) what = "TERMINAL, CONSOLE_SOCKET or CONSOLE_PROXY";
  else if (p->exec_fifo != NULL) what = "EXEC_FIFO";
  else if (p->preserve_fds != 0) what = "PRESERVE_FDS";
  else if (p->parent_waits) what = "PARENT_WAITS";
  else if (p->n_start_hooks != 0) what = "START_HOOK";
  else if (p->has_oom_score_adj) what = "OOM_SCORE_ADJ";
  else if (p->n_cgroup_tasks != 0 || p->cgroup_into != NULL) what = "CGROUP_TASKS or CGROUP_INTO";
  if (what != NULL)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: %s is not for devices mode, which only replaces a device filter", what);
  return 0;
}

/* Each rule must compile into the filter as devfilter.c emits it. */
static int device_rules_validate(const struct plan *p, struct berth_err *err) {
  if (p->n_device_rules != 0 && p->device_cgroup == NULL)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: DEVICE_RULE without a DEVICE_CGROUP to attach the filter to");
  if (p->device_cgroup != NULL && need_abs("device cgroup", p->device_cgroup, err) < 0) return -1;
  for (size_t i = 0; i < p->n_device_rules; i++) {
    const struct plan_device_rule *r = &p->device_rules[i];
    if (r->type != 'a' && r->type != 'b' && r->type != 'c')
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: device rule %zu has type %u, not 'a', 'b' or 'c'", i, r->type);
    /* The filter compares with 32-bit signed immediates (BPF_JNE | BPF_K). */
    if ((r->major != UINT64_MAX && r->major > INT32_MAX) || (r->minor != UINT64_MAX && r->minor > INT32_MAX))
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: device rule %zu has a major or minor over 0x7fffffff", i);
    if (r->access == 0 || (r->access & ~7u) != 0)
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: device rule %zu has access 0x%x, not a non-empty mask of 1|2|4", i,
                        r->access);
  }
  return 0;
}

int plan_validate(const struct plan *p, int sync_fd, struct berth_err *err) {
  if (p->mode == BERTH_MODE_DEVICES) {
    if (devices_mode_validate(p, err) < 0) return -1;
    return device_rules_validate(p, err);
  }
  if (p->n_args == 0 || p->args[0][0] == '\0')
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: no program to run (ARG is missing or empty)");
  if (p->cwd[0] != '\0' && need_abs("cwd", p->cwd, err) < 0) return -1;
  if (p->terminal && p->console_socket == NULL && !p->console_proxy)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: TERMINAL needs a CONSOLE_SOCKET or CONSOLE_PROXY");
  if (p->console_proxy && (!p->terminal || !p->parent_waits || p->console_socket != NULL))
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL,
                      "invalid plan: CONSOLE_PROXY needs TERMINAL and PARENT_WAITS, and no CONSOLE_SOCKET");
  if (p->seccomp != NULL && seccomp_notify_validate(p->seccomp, err) < 0) return -1;
  /* The preserved fds are 3..3+N-1; the sync socket must lie above them,
   * or it would be handed to the container. */
  if (sync_fd >= 0 && (sync_fd < 3 || (uint64_t)sync_fd < 3 + (uint64_t)p->preserve_fds))
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: sync fd %d lies among the preserved fds 3..%u",
                      sync_fd, 2 + p->preserve_fds);
  const uint64_t ns_flags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                            CLONE_NEWNET | CLONE_NEWTIME;
  if (p->clone_flags & ~ns_flags)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: CLONE_FLAGS 0x%llx has bits that are not CLONE_NEW* flags",
                      (unsigned long long)p->clone_flags);
  for (size_t i = 0; i < p->n_ns_join; i++)
    if (need_abs("namespace path", p->ns_join[i].path, err) < 0) return -1;
  for (size_t i = 0; i < p->n_cgroup_tasks; i++)
    if (need_abs("cgroup tasks file", p->cgroup_tasks[i], err) < 0) return -1;
  if (p->cgroup_into != NULL && need_abs("cgroup directory", p->cgroup_into, err) < 0) return -1;

  if (device_rules_validate(p, err) < 0) return -1;

  if (p->mode == BERTH_MODE_EXEC) {
    const char *what = NULL;
    if (p->clone_flags != 0) what = "CLONE_FLAGS";
    else if (p->n_mounts != 0) what = "MOUNT";
    else if (p->n_devices != 0) what = "DEVICE";
    else if (p->n_symlinks != 0) what = "SYMLINK";
    else if (p->n_masked_paths != 0) what = "MASKED_PATH";
    else if (p->n_readonly_paths != 0) what = "READONLY_PATH";
    else if (p->n_sysctl != 0) what = "SYSCTL";
    else if (p->hostname != NULL) what = "HOSTNAME";
    else if (p->domainname != NULL) what = "DOMAINNAME";
    else if (p->rootfs_readonly) what = "ROOTFS_READONLY";
    else if (p->exec_fifo != NULL) what = "EXEC_FIFO";
    else if (p->cgroup_ns_after_sync) what = "CGROUP_NS_AFTER_SYNC";
    else if (p->n_start_hooks != 0) what = "START_HOOK";
    else if (p->device_cgroup != NULL) what = "DEVICE_CGROUP";
    if (what != NULL)
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: %s is for create mode, the plan is in exec mode", what);
    return 0;
  }

  if (need_abs("rootfs", p->rootfs, err) < 0) return -1;
  /* Every mount below would otherwise change the host's mount table. */
  bool mntns = p->clone_flags & CLONE_NEWNS;
  for (size_t i = 0; i < p->n_ns_join; i++)
    if (p->ns_join[i].type == CLONE_NEWNS) mntns = true;
  if (!mntns)
    return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: create mode needs a mount namespace (CLONE_NEWNS or a mount NS_JOIN)");
  for (size_t i = 0; i < p->n_mounts; i++)
    if (need_abs("mount target", p->mounts[i].target, err) < 0) return -1;
  for (size_t i = 0; i < p->n_devices; i++)
    if (need_abs("device path", p->devices[i].path, err) < 0) return -1;
  for (size_t i = 0; i < p->n_symlinks; i++) {
    if (need_abs("symlink path", p->symlinks[i].path, err) < 0) return -1;
    if (p->symlinks[i].target == NULL)
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: symlink %s has no target", p->symlinks[i].path);
  }
  for (size_t i = 0; i < p->n_masked_paths; i++)
    if (need_abs("masked path", p->masked_paths[i], err) < 0) return -1;
  for (size_t i = 0; i < p->n_readonly_paths; i++)
    if (need_abs("read-only path", p->readonly_paths[i], err) < 0) return -1;
  for (size_t i = 0; i < p->n_start_hooks; i++)
    if (need_abs("startContainer hook path", p->start_hooks[i].path, err) < 0 || p->start_hooks[i].n_args == 0)
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: startContainer hook %zu needs a path and argv", i);
  for (size_t i = 0; i < p->n_sysctl; i++)
    if (p->sysctl[i].key == NULL || p->sysctl[i].key[0] == '\0' || p->sysctl[i].value == NULL)
      return berth_fail(err, BERTH_STAGE_PLAN, EINVAL, "invalid plan: sysctl %zu has no key or value", i);
  return 0;
}
