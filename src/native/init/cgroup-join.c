/*
 * A container process joins its cgroups by itself (CGROUP_TASKS,
 * CGROUP_INTO in berth-plan.h). For cgroup v1 it writes "0" to each
 * hierarchy's `tasks` file: the kernel moves a task that names itself
 * without write-locking cgroup_threadgroup_rwsem, which it does when given
 * another pid and which waits for an RCU grace period (10-20 ms here, the
 * largest single cost of a create). For cgroup v2 stage 0 clones the child
 * straight into the directory. The files are opened in stage 0, on the host
 * and with its credentials, which are also what the kernel checks: so the
 * child may already be in a user namespace when it writes.
 */
#include "cgroup-join.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/statfs.h>

#ifndef CGROUP_SUPER_MAGIC
#define CGROUP_SUPER_MAGIC 0x27e0eb
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static int check_fs(int fd, long magic, const char *what, const char *path, struct berth_err *err) {
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0) return berth_fail(err, BERTH_STAGE_CGROUP, errno, "statfs %s %s", what, path);
  if ((long)sfs.f_type != magic)
    return berth_fail(err, BERTH_STAGE_CGROUP, EINVAL, "%s %s is not on a %s filesystem (type 0x%lx)", what, path,
                      magic == CGROUP_SUPER_MAGIC ? "cgroup v1" : "cgroup2", (unsigned long)sfs.f_type);
  return 0;
}

int cgroup_join_open(const struct plan *p, struct cgroup_join *j, struct berth_err *err) {
  *j = (struct cgroup_join){.into = -1};
  if (p->n_cgroup_tasks > 0) {
    j->tasks = calloc(p->n_cgroup_tasks, sizeof *j->tasks);
    if (j->tasks == NULL) return berth_fail(err, BERTH_STAGE_CGROUP, ENOMEM, "cgroup tasks files");
  }
  for (size_t i = 0; i < p->n_cgroup_tasks; i++) {
    const char *path = p->cgroup_tasks[i];
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return berth_fail(err, BERTH_STAGE_CGROUP, errno, "open cgroup tasks file %s", path);
    j->tasks[j->n_tasks++] = fd;
    if (check_fs(fd, CGROUP_SUPER_MAGIC, "cgroup tasks file", path, err) < 0) return -1;
  }
  if (p->cgroup_into != NULL) {
    j->into = open(p->cgroup_into, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (j->into < 0) return berth_fail(err, BERTH_STAGE_CGROUP, errno, "open cgroup %s", p->cgroup_into);
    if (check_fs(j->into, CGROUP2_SUPER_MAGIC, "cgroup", p->cgroup_into, err) < 0) return -1;
  }
  return 0;
}

int cgroup_join_self(const struct plan *p, struct cgroup_join *j, struct berth_err *err) {
  for (size_t i = 0; i < j->n_tasks; i++) {
    ssize_t n;
    do n = write(j->tasks[i], "0", 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) return berth_fail(err, BERTH_STAGE_CGROUP, n < 0 ? errno : EIO, "join cgroup (write 0 to %s)", p->cgroup_tasks[i]);
    berth_closep(&j->tasks[i]);
  }
  cgroup_join_close(j);
  return 0;
}

void cgroup_join_close(struct cgroup_join *j) {
  for (size_t i = 0; i < j->n_tasks; i++) berth_closep(&j->tasks[i]);
  free(j->tasks);
  j->tasks = NULL;
  j->n_tasks = 0;
  berth_closep(&j->into);
}
