/*
 * berth-shim's error contract, the executor's (src/native/init/error.h) and
 * crun's: a function that can fail returns a negative number and fills a
 * struct shim_err with the stage it failed in, the errno, and a message that
 * names the object (a path, a socket, the runtime). The message carries no
 * errno text: the errno travels beside it in the sync message, and the
 * reader prints both.
 */
#ifndef BERTH_SHIM_ERROR_H
#define BERTH_SHIM_ERROR_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

/* Where a failure happened: the manager maps the stage to an error code. */
enum shim_stage {
  SHIM_STAGE_OPTIONS, /* the command line: missing, unknown or contradictory options */
  SHIM_STAGE_SETUP,   /* files, sockets, pipes and processes of the shim itself */
  SHIM_STAGE_RUNTIME, /* the OCI runtime's create or exec failed */
};

struct shim_err {
  enum shim_stage stage;
  int errnum; /* errno, 0 when the failure has none */
  char msg[1024];
};

/* Fill err and return -1. Pass errno explicitly: formatting may clobber it. */
int shim_fail(struct shim_err *err, enum shim_stage stage, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "options", "setup" or "runtime", as in the sync message. */
const char *shim_stage_name(enum shim_stage stage);

/* Print err to stderr as "berth-shim: message: strerror". */
void shim_err_print(const struct shim_err *err);

static inline void shim_closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
    *fd = -1;
  }
}

static inline void shim_freep(void *p) {
  void **pp = (void **)p;
  free(*pp);
  *pp = NULL;
}

/* An fd or heap buffer released when it goes out of scope. */
#define cleanup_close __attribute__((cleanup(shim_closep)))
#define cleanup_free __attribute__((cleanup(shim_freep)))

/* Hand an fd out of a cleanup_close variable without closing it. */
static inline int take_fd(int *fd) {
  int v = *fd;
  *fd = -1;
  return v;
}

#endif
