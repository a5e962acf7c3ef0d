/*
 * Joining existing namespaces. All paths are opened before the first
 * setns(2): after joining a mount namespace, a path such as /proc/123/ns/net
 * would resolve in the container's filesystem instead of the host's.
 */
#include "nsjoin.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>

/* setns(2) into the user namespace we are already in fails with EINVAL. */
static bool same_userns(int fd) {
  struct stat a, b;
  return fstat(fd, &a) == 0 && stat("/proc/self/ns/user", &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int nsjoin_all(const struct plan *p, struct berth_err *err) {
  if (p->n_ns_join == 0) return 0;
  int *fds = calloc(p->n_ns_join, sizeof *fds);
  if (fds == NULL) return berth_fail(err, BERTH_STAGE_NS_JOIN, ENOMEM, "open namespaces");
  int rc = 0;
  size_t opened = 0;
  for (; opened < p->n_ns_join; opened++) {
    fds[opened] = open(p->ns_join[opened].path, O_RDONLY | O_CLOEXEC);
    if (fds[opened] < 0) {
      rc = berth_fail(err, BERTH_STAGE_NS_JOIN, errno, "open namespace %s", p->ns_join[opened].path);
      break;
    }
  }
  for (size_t i = 0; rc == 0 && i < p->n_ns_join; i++) {
    const struct plan_nsjoin *n = &p->ns_join[i];
    if (n->type == CLONE_NEWUSER && same_userns(fds[i])) continue;
    if (setns(fds[i], (int)n->type) < 0)
      rc = berth_fail(err, BERTH_STAGE_NS_JOIN, errno, "join namespace %s (type 0x%llx)", n->path, (unsigned long long)n->type);
  }
  for (size_t i = 0; i < opened; i++) close(fds[i]);
  free(fds);
  return rc;
}
