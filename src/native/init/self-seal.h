#ifndef BERTH_INIT_SELF_SEAL_H
#define BERTH_INIT_SELF_SEAL_H

#include <stdbool.h>

#include "error.h"

/* Return 0 when already running from a sealed memfd; otherwise re-execute
 * from one (does not return on success). */
int self_seal(char **argv, struct berth_err *err);

#endif
