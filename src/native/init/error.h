/*
 * The executor's error contract (crun's, see design-docs/error_handling.md):
 * a function that can fail returns a negative number and fills a
 * struct berth_err with the stage it failed in, the errno, and a message
 * that names the object (a path, a mount target, an rlimit, a syscall).
 * The message carries no errno text: the errno travels beside it, and the
 * reader (berth-runtime) prints both.
 */
#ifndef BERTH_INIT_ERROR_H
#define BERTH_INIT_ERROR_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "berth-plan.h"

struct berth_err {
  int stage;  /* BERTH_STAGE_* */
  int errnum; /* errno, 0 when the failure has none */
  char msg[BERTH_SYNC_MAX_MSG];
};

/* Fill err and return -1. Pass errno explicitly: formatting may clobber it. */
int berth_fail(struct berth_err *err, int stage, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Print err to stderr as "berth-init: message: strerror". */
void berth_err_print(const struct berth_err *err);

static inline void berth_closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
    *fd = -1;
  }
}

static inline void berth_freep(void *p) {
  void **pp = (void **)p;
  free(*pp);
  *pp = NULL;
}

/* An fd or heap buffer released when it goes out of scope. */
#define cleanup_close __attribute__((cleanup(berth_closep)))
#define cleanup_free __attribute__((cleanup(berth_freep)))

/* Hand an fd out of a cleanup_close variable without closing it. */
static inline int take_fd(int *fd) {
  int v = *fd;
  *fd = -1;
  return v;
}

#endif
