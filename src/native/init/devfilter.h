/*
 * The cgroup v2 device filter: on cgroup v2, device access is controlled
 * only by BPF_PROG_TYPE_CGROUP_DEVICE programs attached to the cgroup
 * (Documentation/admin-guide/cgroup-v2.rst, "Device controller"). Node
 * cannot call bpf(2), so stage 0 builds the program from the plan's
 * DEVICE_RULEs, loads it and attaches it to DEVICE_CGROUP.
 */
#ifndef BERTH_INIT_DEVFILTER_H
#define BERTH_INIT_DEVFILTER_H

#include "plan.h"

/* Build, load and attach the filter of p->device_rules to p->device_cgroup
 * (BPF_F_ALLOW_MULTI). Nothing to do without a DEVICE_CGROUP. Errors are
 * BERTH_STAGE_DEVICE_FILTER. */
int devfilter_attach(const struct plan *p, struct berth_err *err);

#endif
