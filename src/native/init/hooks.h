/*
 * startContainer hooks: run by the container's init inside its namespaces,
 * after `start` released it and before the user's program (runtime-spec
 * config.md, "startContainer Hooks").
 */
#ifndef BERTH_INIT_HOOKS_H
#define BERTH_INIT_HOOKS_H

#include "plan.h"

/* Run each START_HOOK in order with `state` on its stdin; fail on the first
 * that exits non-zero, is killed, or outlives its timeout (it is then
 * killed). */
int start_hooks_run(const struct plan *p, const char *state, struct berth_err *err);

#endif
