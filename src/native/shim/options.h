/*
 * The command line of berth-shim: every option is one row of the table in
 * options.c, and docs/protocol-shim.md documents the same table (a unit test,
 * src/shim/options.test.ts, keeps the two in step).
 */
#ifndef BERTH_SHIM_OPTIONS_H
#define BERTH_SHIM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "error.h"

struct str_list {
  const char **items;
  size_t len;
};

struct shim_opts {
  const char *id;
  const char *runtime;        /* as given: a path, or a name looked up on PATH */
  struct str_list runtime_args; /* global flags, before the command */
  const char *bundle;         /* create mode */
  const char *exec_process;   /* exec mode: `exec --process FILE --detach` */
  const char *pid_file;
  const char *exit_file;
  const char *log_path;
  long long log_size_max;
  long long log_max_files;
  long long log_line_max;
  const char *attach_socket;
  const char *control_socket;
  long long sync_fd;
  bool terminal;
  bool stdin_open;
  bool help;
  bool version;

  /* Filled by opts_validate. */
  char runtime_path[4096];
};

/* Defaults, then argv. Fails with SHIM_STAGE_OPTIONS. */
int opts_parse(struct shim_opts *o, int argc, char **argv, struct shim_err *err);

/*
 * Checks what can be checked without side effects: required and
 * contradictory options, absolute paths, sun_path lengths, the runtime
 * binary, the bundle. Fills runtime_path.
 */
int opts_validate(struct shim_opts *o, struct shim_err *err);

void opts_usage(FILE *out);

/*
 * The --sync-fd value found anywhere in argv, or -1: when parsing fails at
 * an earlier argument the error still goes to the sync fd.
 */
int opts_find_sync_fd(int argc, char **argv);

#endif
