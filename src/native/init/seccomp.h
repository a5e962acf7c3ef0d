#ifndef BERTH_INIT_SECCOMP_H
#define BERTH_INIT_SECCOMP_H

#include "plan.h"

/* Build the plan's filter with libseccomp and load it into this process. */
int seccomp_apply(const struct plan_seccomp *sc, struct berth_err *err);

#endif
