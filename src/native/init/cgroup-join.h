#ifndef BERTH_INIT_CGROUP_JOIN_H
#define BERTH_INIT_CGROUP_JOIN_H

#include "plan.h"

/* The cgroups a new process joins by itself (CGROUP_TASKS, CGROUP_INTO). */
struct cgroup_join {
  int *tasks;     /* write fds of the v1 `tasks` files */
  size_t n_tasks;
  int into;       /* O_PATH fd of the v2 directory for CLONE_INTO_CGROUP, or -1 */
};

/* Stage 0, before any namespace is joined: open what the plan names,
 * checking each is on the filesystem it should be (cgroup v1, cgroup2). */
int cgroup_join_open(const struct plan *p, struct cgroup_join *j, struct berth_err *err);

/* The child: move itself into each v1 cgroup, then close the fds. */
int cgroup_join_self(const struct plan *p, struct cgroup_join *j, struct berth_err *err);

void cgroup_join_close(struct cgroup_join *j);

#endif
