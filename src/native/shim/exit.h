/*
 * How the process ended: the exit file and OOM detection.
 *
 * The exit file is one JSON object, written durably (a temp file in the same
 * directory, fsync, rename, fsync of the directory) so that a manager that
 * restarts at any instant finds either no file or the whole status:
 *
 *   {"exitCode":137,"signal":9,"oomKilled":true,"pid":4242,
 *    "startedAt":"...Z","finishedAt":"...Z"}
 *
 * OOM kills are counted by the kernel per cgroup: `oom_kill N` in
 * memory.oom_control (cgroup v1, Linux 4.13+) or memory.events (cgroup v2).
 * The shim finds the process's memory cgroup from /proc/PID/cgroup once the
 * process exists, keeps the counter file open, and compares the count at exit
 * with the count at start.
 */
#ifndef BERTH_SHIM_EXIT_H
#define BERTH_SHIM_EXIT_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

struct oom_watch {
  int fd; /* memory.oom_control or memory.events, -1 when unknown */
  long long baseline;
};

/* Finds pid's memory cgroup and reads its OOM kill count; a missing cgroup leaves fd -1. */
void oom_watch_start(struct oom_watch *w, pid_t pid);

/* True when the count went up since oom_watch_start. Closes the fd. */
bool oom_watch_killed(struct oom_watch *w);

/* Checks that a file can be made in the exit file's directory (made and removed again). */
int exit_file_check(const char *path, struct shim_err *err);

struct exit_status {
  pid_t pid;
  int wait_status; /* from waitpid */
  bool oom_killed;
  struct timespec started, finished;
};

int exit_file_write(const char *path, const struct exit_status *st, struct shim_err *err);

#endif
