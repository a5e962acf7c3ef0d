#ifndef BERTH_INIT_SYSCTL_H
#define BERTH_INIT_SYSCTL_H

#include "plan.h"

/* Write each SYSCTL under the container's /proc/sys. */
int sysctl_apply(const struct plan *p, struct berth_err *err);

/* Write /proc/self/oom_score_adj through the procfs at proc_path. */
int oom_score_adj_set(const char *proc_path, int32_t value, struct berth_err *err);

#endif
