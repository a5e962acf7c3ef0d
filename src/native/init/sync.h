/*
 * The sync socket: typed records (struct berth_sync_hdr + message) between
 * berth-runtime and the executor. See the sequence in berth-plan.h.
 */
#ifndef BERTH_INIT_SYNC_H
#define BERTH_INIT_SYNC_H

#include <stdint.h>

#include "error.h"

/* Send one record. Never raises SIGPIPE. -1 with errno on failure. */
int sync_send(int fd, uint32_t type, uint32_t value);

/* Send an ERROR record for err. */
int sync_send_error(int fd, const struct berth_err *err);

/* Wait for CONTINUE. Its message is copied, NUL-terminated, to msg when
 * msg is not NULL (msg must hold BERTH_SYNC_MAX_MSG + 1 bytes), else
 * dropped. Returns 0 on CONTINUE, 1 on ABORT or end of file (the runtime
 * gave up: exit quietly), -1 with err filled on a read error or an
 * unexpected record. */
int sync_wait_continue(int fd, int stage, char *msg, struct berth_err *err);

#endif
