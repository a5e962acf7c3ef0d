/*
 * The seccomp filter, through libseccomp as runc and crun do. The plan
 * carries libseccomp's own action and comparison values, so they pass
 * straight through. Unknown syscall names are skipped (runc does the same:
 * profiles list syscalls that older kernels or other architectures lack).
 *
 * With SCMP_ACT_NOTIFY rules the load also yields the notify fd, which goes
 * to the seccomp listener (runtime-spec config-linux.md, listenerPath) as
 * soon as the filter is in; see seccomp_apply.
 */
#include "seccomp.h"
#include "unix-socket.h"

#include <linux/seccomp.h>
#include <malloc.h>
#include <seccomp.h>
#include <string.h>

static void release(scmp_filter_ctx *ctx) {
  if (*ctx != NULL) seccomp_release(*ctx);
}

static int add_rule(scmp_filter_ctx ctx, const struct plan_seccomp_rule *r, const char *name, int nr,
                    struct berth_err *err) {
  struct scmp_arg_cmp cmps[6];
  if (r->n_args > 6)
    return berth_fail(err, BERTH_STAGE_SECCOMP, EINVAL, "seccomp rule for %s has %zu argument conditions (at most 6)", name,
                      r->n_args);
  bool repeated = false;
  for (size_t i = 0; i < r->n_args; i++) {
    if (r->args[i].index > 5)
      return berth_fail(err, BERTH_STAGE_SECCOMP, EINVAL, "seccomp rule for %s: argument index %u is over 5", name,
                        r->args[i].index);
    cmps[i] = (struct scmp_arg_cmp){r->args[i].index, (enum scmp_compare)r->args[i].op, r->args[i].value,
                                    r->args[i].value_two};
    for (size_t k = 0; k < i; k++)
      if (r->args[k].index == r->args[i].index) repeated = true;
  }
  int rc;
  if (!repeated) {
    rc = seccomp_rule_add_array(ctx, r->action, nr, (unsigned)r->n_args, cmps);
    if (rc < 0) return berth_fail(err, BERTH_STAGE_SECCOMP, -rc, "add seccomp rule for %s", name);
    return 0;
  }
  /* libseccomp refuses two comparisons of one argument in a rule; like
   * runc, add each comparison as its own rule (they then OR together). */
  for (size_t i = 0; i < r->n_args; i++) {
    rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &cmps[i]);
    if (rc < 0) return berth_fail(err, BERTH_STAGE_SECCOMP, -rc, "add seccomp rule for %s (argument %u)", name, cmps[i].arg);
  }
  return 0;
}

/*
 * Hand the notify fd and the container process state to the listener, then
 * close both (the container must never hold the fd). This is the first
 * syscall after the load, so no NOTIFY rule can stop the executor before a
 * listener has the fd: a notified syscall waits until the listener answers.
 * Once the fd is closed without a listener, notified syscalls fail with
 * ENOSYS (seccomp_unotify(2)), so failures close it before reporting: the
 * report itself may be a notified syscall.
 */
static int send_to_listener(int listener_, int nfd_, const char *state, const char *path, struct berth_err *err) {
  cleanup_close int listener = listener_;
  cleanup_close int nfd = nfd_;
  size_t len = strlen(state);
  if (len == 0) {
    berth_closep(&nfd);
    return berth_fail(err, BERTH_STAGE_SECCOMP, EPROTO,
                      "no container process state came with CONTINUE for seccomp listenerPath %s", path);
  }
  if (unix_send_fd(listener, nfd, state, len) < 0) {
    int e = errno;
    berth_closep(&nfd);
    return berth_fail(err, BERTH_STAGE_SECCOMP, e, "send the seccomp notify fd to listenerPath %s", path);
  }
  return 0;
}

int seccomp_apply(const struct plan_seccomp *sc, int listener_, const char *state, struct berth_err *err) {
  cleanup_close int listener = listener_;
  __attribute__((cleanup(release))) scmp_filter_ctx ctx = seccomp_init(sc->default_action);
  if (ctx == NULL)
    return berth_fail(err, BERTH_STAGE_SECCOMP, EINVAL, "create a seccomp filter with default action 0x%x", sc->default_action);
  int rc;
  /* libseccomp sets no_new_privs on load by default; whether the process
   * gets no_new_privs is the plan's decision (NO_NEW_PRIVS), not the
   * library's. */
  if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0)
    return berth_fail(err, BERTH_STAGE_SECCOMP, -rc, "seccomp: turn off the filter's no_new_privs attribute");
  static const struct {
    uint32_t flag;
    enum scmp_filter_attr attr;
    const char *name;
  } flags[] = {
      {SECCOMP_FILTER_FLAG_TSYNC, SCMP_FLTATR_CTL_TSYNC, "SECCOMP_FILTER_FLAG_TSYNC"},
      {SECCOMP_FILTER_FLAG_LOG, SCMP_FLTATR_CTL_LOG, "SECCOMP_FILTER_FLAG_LOG"},
      {SECCOMP_FILTER_FLAG_SPEC_ALLOW, SCMP_FLTATR_CTL_SSB, "SECCOMP_FILTER_FLAG_SPEC_ALLOW"},
  };
  uint32_t left = sc->flags;
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
    if (!(sc->flags & flags[i].flag)) continue;
    left &= ~flags[i].flag;
    if ((rc = seccomp_attr_set(ctx, flags[i].attr, 1)) < 0)
      return berth_fail(err, BERTH_STAGE_SECCOMP, -rc, "seccomp flag %s", flags[i].name);
  }
  if (left != 0) return berth_fail(err, BERTH_STAGE_SECCOMP, EINVAL, "unsupported seccomp filter flags 0x%x", left);

  for (size_t i = 0; i < sc->n_archs; i++) {
    uint32_t arch = seccomp_arch_resolve_name(sc->archs[i]);
    if (arch == 0) return berth_fail(err, BERTH_STAGE_SECCOMP, EINVAL, "unknown seccomp architecture %s", sc->archs[i]);
    rc = seccomp_arch_add(ctx, arch);
    if (rc < 0 && rc != -EEXIST) return berth_fail(err, BERTH_STAGE_SECCOMP, -rc, "add seccomp architecture %s", sc->archs[i]);
  }

  for (size_t i = 0; i < sc->n_rules; i++) {
    const struct plan_seccomp_rule *r = &sc->rules[i];
    /* libseccomp rejects a rule whose action is the default one; it would
     * change nothing anyway. */
    if (r->action == sc->default_action) continue;
    for (size_t n = 0; n < r->n_names; n++) {
      int nr = seccomp_syscall_resolve_name(r->names[n]);
      if (nr == __NR_SCMP_ERROR) continue;
      if (add_rule(ctx, r, r->names[n], nr, err) < 0) return -1;
    }
  }
  if (listener >= 0) {
    /* seccomp_load frees the BPF program after its seccomp(2) call, and
     * glibc's free may then trim the heap with brk(2): a syscall a NOTIFY
     * rule would hold before the listener has the fd, forever. Trimming
     * is turned off (mallopt(3): -1 disables it) for the few steps left
     * before execve, so that the load is followed directly by sendmsg(2).
     * The program (at most BPF_MAXINSNS instructions, 32 KiB) is below the
     * mmap threshold, so its free never calls munmap(2) either. */
    mallopt(M_TRIM_THRESHOLD, -1);
  }
  if ((rc = seccomp_load(ctx)) < 0) return berth_fail(err, BERTH_STAGE_SECCOMP, -rc, "load the seccomp filter");
  if (listener < 0) return 0;
  /* libseccomp keeps the fd in its global state; seccomp_release does not
   * close it (only seccomp_reset(NULL, 0) does, which we never call), and
   * the kernel made it close-on-exec (seccomp_set_mode_filter takes it with
   * O_CLOEXEC). So it is used as is: a dup would put an fcntl(2) between
   * the load and the handover. Without a NOTIFY rule in the loaded filter
   * (all its syscall names unknown here) there is no fd: nothing is sent,
   * and the listener sees the connection close. */
  int nfd = seccomp_notify_fd(ctx);
  if (nfd < 0) return 0;
  return send_to_listener(take_fd(&listener), nfd, state, sc->listener_path, err);
}
