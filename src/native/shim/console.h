/*
 * The console socket: for a terminal the runtime allocates the pty inside
 * the container and sends its master over `--console-socket` with
 * SCM_RIGHTS (runc's protocol; the payload is the pty's name). The shim
 * listens on a socket in a private 0700 directory of its own.
 */
#ifndef BERTH_SHIM_CONSOLE_H
#define BERTH_SHIM_CONSOLE_H

#include "error.h"

/*
 * Accepts one connection on `listen_fd` and receives the master from it.
 * Returns the master (close-on-exec, non-blocking), 0 when no connection
 * is waiting (call again when the socket is readable), -1 on error.
 */
int console_receive(int listen_fd, int *master, struct shim_err *err);

#endif
