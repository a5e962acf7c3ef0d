/*
 * One berth-shim: the state of the monitor of one container process.
 * main.c prepares it, runs the runtime, reports, and hands it to the
 * monitor loop (monitor.c).
 */
#ifndef BERTH_SHIM_SHIM_H
#define BERTH_SHIM_SHIM_H

#include <stdbool.h>
#include <sys/types.h>

#include "attach.h"
#include "ctrl.h"
#include "exit.h"
#include "log.h"
#include "options.h"

#define STDIN_BUF 4096

struct shim {
  struct shim_opts *o;
  int sync_fd;

  /* Prepared before the runtime runs. */
  struct shim_log log;
  struct attach attach;
  struct ctrl ctrl;
  char tmpdir[64]; /* private 0700 directory: console socket, default pid file; "" when none */
  char console_path[128];
  char pid_path[4200];
  int console_listen;
  int out_r, out_w, err_r, err_w, in_r, in_w; /* pipes without a terminal */
  int rterr_r, rterr_w;                       /* the runtime's stderr with a terminal */

  /* The process. */
  pid_t runtime_pid;
  pid_t pid;
  int master; /* pty master with a terminal */
  struct oom_watch oom;
  struct exit_status status;
  bool exited;
  int sigfd;

  /* Output sources (the master, or the pipes) and the stdin sink, -1 once closed. */
  int out_fd, err_fd, in_fd;
  bool stdin_closing;
  char stdin_buf[STDIN_BUF];
  size_t stdin_off, stdin_len;
};

/* Runs until the process has exited and its status is written. */
void monitor_run(struct shim *s);

#endif
