/*
 * Running the OCI runtime's command line (runc's grammar, which
 * berth-runtime and crun share):
 *
 *   RUNTIME [--runtime-arg...] create --bundle DIR --pid-file F [--console-socket S] ID
 *   RUNTIME [--runtime-arg...] exec --process FILE --detach --pid-file F [--console-socket S] ID
 *   RUNTIME [--runtime-arg...] delete --force ID       (undoing a create the shim cannot finish)
 */
#ifndef BERTH_SHIM_RUNTIME_H
#define BERTH_SHIM_RUNTIME_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "options.h"

/*
 * Starts create (or exec) with the given stdio. Fails when the runtime
 * cannot be executed at all; its exit status is the caller's to collect.
 */
int runtime_start(const struct shim_opts *o, const char *pid_file, const char *console_socket, const int stdio[3],
                  pid_t *pid, struct shim_err *err);

/* The last bytes the runtime wrote on an output: where its error message is. */
struct runtime_output {
  size_t len;
  char buf[4096];
};

/* Appends what `fd` (non-blocking) has now, keeping the last sizeof buf bytes. */
void runtime_output_read(struct runtime_output *t, int fd);

/*
 * The runtime's own error message: the last non-empty line of `t`, with
 * logrus' `time=... level=error msg="..."` reduced to the message. Empty
 * when the runtime wrote nothing.
 */
void runtime_error_text(const struct runtime_output *t, char *out, size_t cap);

/* Runs `delete --force ID` and waits for it. */
void runtime_delete(const struct shim_opts *o);

/* Reads the pid the runtime wrote. */
int read_pid_file(const char *path, pid_t *pid, struct shim_err *err);

#endif
