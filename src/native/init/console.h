#ifndef BERTH_INIT_CONSOLE_H
#define BERTH_INIT_CONSOLE_H

#include "plan.h"

/* Allocate a pty inside the container, make its slave our controlling
 * terminal and stdio, and send the master over sock. Closes sock. */
int console_setup(const struct plan *p, int sock, struct berth_err *err);

#endif
