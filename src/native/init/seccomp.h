#ifndef BERTH_INIT_SECCOMP_H
#define BERTH_INIT_SECCOMP_H

#include "plan.h"

/* Build the plan's filter with libseccomp and load it into this process.
 * listener is the connected seccomp listener socket or -1; with it, the
 * notify fd of the filter's SCMP_ACT_NOTIFY rules is sent to it with state
 * (the container process state JSON) as the message, straight after the
 * load. Closes listener and the notify fd in every case. */
int seccomp_apply(const struct plan_seccomp *sc, int listener, const char *state, struct berth_err *err);

#endif
