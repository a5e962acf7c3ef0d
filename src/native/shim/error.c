#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int shim_fail(struct shim_err *err, enum shim_stage stage, int errnum, const char *fmt, ...) {
  va_list ap;
  err->stage = stage;
  err->errnum = errnum;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return -1;
}

const char *shim_stage_name(enum shim_stage stage) {
  switch (stage) {
  case SHIM_STAGE_OPTIONS: return "options";
  case SHIM_STAGE_SETUP: return "setup";
  case SHIM_STAGE_RUNTIME: return "runtime";
  }
  return "setup";
}

void shim_err_print(const struct shim_err *err) {
  if (err->errnum != 0)
    fprintf(stderr, "berth-shim: %s: %s\n", err->msg, strerror(err->errnum));
  else
    fprintf(stderr, "berth-shim: %s\n", err->msg);
}
