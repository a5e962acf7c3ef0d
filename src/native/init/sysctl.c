/*
 * Writes into procfs (security rule 4, CVE-2025-52881): open the procfs
 * directory once, check with fstatfs that it really is procfs, then reach
 * the file with openat2(RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS|RESOLVE_NO_XDEV)
 * from that handle, so neither a symlink nor a mount planted over a procfs
 * path can redirect the write to another file.
 */
#include "sysctl.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>

#include "paths.h"

static int write_all(int fd, const char *s, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, s, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    s += n;
    len -= (size_t)n;
  }
  return 0;
}

int sysctl_apply(const struct plan *p, struct berth_err *err) {
  if (p->n_sysctl == 0) return 0;
  cleanup_close int sys = procfs_open("/proc/sys", BERTH_STAGE_SYSCTL, err);
  if (sys < 0) return -1;
  for (size_t i = 0; i < p->n_sysctl; i++) {
    const struct plan_sysctl *s = &p->sysctl[i];
    /* "net.ipv4.ip_forward" -> "net/ipv4/ip_forward"; a '/' in the key stands
     * for a dot inside one component ("net.ipv4.conf.br0/5.rp_filter" is
     * interface br0.5), as sysctl(8) and runc have it. */
    cleanup_free char *rel = strdup(s->key);
    if (rel == NULL) return berth_fail(err, BERTH_STAGE_SYSCTL, ENOMEM, "sysctl %s", s->key);
    for (char *c = rel; *c; c++) *c = *c == '.' ? '/' : *c == '/' ? '.' : *c;
    cleanup_close int fd = openat2_fd(sys, rel, O_WRONLY | O_CLOEXEC,
                                      RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
    if (fd < 0) return berth_fail(err, BERTH_STAGE_SYSCTL, errno, "open /proc/sys/%s for sysctl %s", rel, s->key);
    if (write_all(fd, s->value, strlen(s->value)) < 0)
      return berth_fail(err, BERTH_STAGE_SYSCTL, errno, "write \"%s\" to sysctl %s", s->value, s->key);
  }
  return 0;
}

int oom_score_adj_set(const char *proc_path, int32_t value, struct berth_err *err) {
  cleanup_close int proc = procfs_open(proc_path, BERTH_STAGE_MISC, err);
  if (proc < 0) return -1;
  /* "self" is an ordinary symlink within procfs, so no RESOLVE_NO_SYMLINKS. */
  cleanup_close int fd =
      openat2_fd(proc, "self/oom_score_adj", O_WRONLY | O_CLOEXEC, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
  if (fd < 0) return berth_fail(err, BERTH_STAGE_MISC, errno, "open %s/self/oom_score_adj", proc_path);
  char buf[16];
  int n = snprintf(buf, sizeof buf, "%d", value);
  if (write_all(fd, buf, (size_t)n) < 0)
    return berth_fail(err, BERTH_STAGE_MISC, errno, "write %d to oom_score_adj", value);
  return 0;
}
