/*
 * The container's log in the CRI format (the kubelet's, kept by containerd
 * and CRI-O alike), one entry per line:
 *
 *   2024-05-01T12:00:00.123456789Z stdout F a whole line
 *   2024-05-01T12:00:00.123456789Z stderr P the first part of a line that
 *   2024-05-01T12:00:00.223456789Z stderr F went on later
 *
 * F ends a line; P is a piece of one, either because the process had not
 * written the newline yet when the shim read its output or because the line
 * is longer than --log-line-max. Joining the P entries up to the next F of
 * the same stream gives the line back.
 *
 * Rotation keeps the files bounded: an entry that would take the file past
 * --log-size-max first renames PATH to PATH.1 (PATH.1 to PATH.2 ...), keeping
 * --log-max-files files in all, the current one included.
 */
#ifndef BERTH_SHIM_LOG_H
#define BERTH_SHIM_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

enum shim_stream { STREAM_STDOUT = 1, STREAM_STDERR = 2 };

struct shim_log {
  int fd; /* -1 without a log */
  const char *path;
  unsigned long long size;
  unsigned long long size_max; /* 0: never rotate */
  unsigned max_files;
  size_t line_max;
  bool created; /* made by this shim: removed again if the container never came to be */
  unsigned long long dropped; /* bytes lost to write errors */
};

/* Opens (creating) the log; with path NULL the log is off. */
int log_open(struct shim_log *l, const char *path, unsigned long long size_max, unsigned max_files, size_t line_max,
             struct shim_err *err);

/* Appends what the process wrote on `stream`. Write errors drop data, never block. */
void log_write(struct shim_log *l, enum shim_stream stream, const char *buf, size_t len);

/* Closes and opens the path again (after an outside rotation or removal). */
int log_reopen(struct shim_log *l, struct shim_err *err);

void log_close(struct shim_log *l);

#endif
