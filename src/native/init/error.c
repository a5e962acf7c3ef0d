#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int berth_fail(struct berth_err *err, int stage, int errnum, const char *fmt, ...) {
  va_list ap;
  err->stage = stage;
  err->errnum = errnum;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}

void berth_err_print(const struct berth_err *err) {
  if (err->errnum != 0)
    fprintf(stderr, "berth-init: %s: %s\n", err->msg, strerror(err->errnum));
  else
    fprintf(stderr, "berth-init: %s\n", err->msg);
}
