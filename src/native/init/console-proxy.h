#ifndef BERTH_INIT_CONSOLE_PROXY_H
#define BERTH_INIT_CONSOLE_PROXY_H

#include <signal.h>
#include <sys/types.h>

#include "plan.h"

/* Set by the SIGWINCH handler while the proxy runs: copy the size again. */
extern volatile sig_atomic_t console_proxy_winch;

/* A socketpair for the pty master: pair[1] goes to console_setup in the
 * child, pair[0] stays with stage 0. Both close-on-exec. */
int console_proxy_pair(int pair[2], struct berth_err *err);

/* Receive the master on sock (closes it), then copy stdin to the master and
 * the master to stdout until the child exits or every slave is closed.
 * Returns 0, or -1 when no master arrived (the child failed before its
 * console; it reports that itself). */
int console_proxy_run(int sock, pid_t child);

#endif
