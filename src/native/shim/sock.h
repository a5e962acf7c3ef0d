/*
 * Listening unix sockets for attach, control and the console: always bound
 * to a path (never abstract, CVE-2020-15257), mode 0600, non-blocking and
 * close-on-exec.
 */
#ifndef BERTH_SHIM_SOCK_H
#define BERTH_SHIM_SOCK_H

#include "error.h"

/*
 * Binds and listens on `path`. A socket file left at the path by a dead
 * shim (connect is refused) is replaced; one that answers is an error.
 * `what` names the socket in messages ("attach socket").
 */
int sock_listen(const char *what, const char *path, struct shim_err *err);

/* accept4 non-blocking and close-on-exec; -1 with errno (EAGAIN when none). */
int sock_accept(int listen_fd);

#endif
