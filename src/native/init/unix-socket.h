/*
 * Unix stream sockets named by host paths: the console socket and the
 * seccomp listener. Both are connected by stage 0 before any namespace is
 * entered, and each gets one fd passed with SCM_RIGHTS.
 */
#ifndef BERTH_INIT_UNIX_SOCKET_H
#define BERTH_INIT_UNIX_SOCKET_H

#include <stddef.h>

#include "error.h"

/* Connect a close-on-exec SOCK_STREAM socket to path. `what` names the
 * socket in errors ("console socket"), which are reported at `stage`.
 * Returns the connected fd. */
int unix_connect(const char *path, const char *what, int stage, struct berth_err *err);

/* Send len bytes of msg (len > 0) with fd attached (SCM_RIGHTS) in one
 * sendmsg(2). Never raises SIGPIPE. -1 with errno on failure. */
int unix_send_fd(int sock, int fd, const void *msg, size_t len);

#endif
