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

/* Devices mode (`update`): put the filter of p->device_rules on
 * p->device_cgroup in place of the berth filters attached there, or only
 * detach them when there are no rules (allow all). There is never a moment
 * with no filter or with one allowing more than the old and the new rules
 * both. Errors are BERTH_STAGE_DEVICE_FILTER; EPERM says what privilege is
 * missing. */
int devfilter_replace(const struct plan *p, struct berth_err *err);

/* `berth-init --device-filters DIR`, for debugging and tests (bpftool
 * cgroup list in miniature): print the programs attached directly to the
 * cgroup DIR as one JSON line, [{"id":N,"name":"..."},...]. */
int devfilter_list(const char *path, FILE *out, struct berth_err *err);

#endif
