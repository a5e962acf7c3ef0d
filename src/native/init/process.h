/*
 * Process attributes that are neither ids nor capabilities: personality,
 * session keyring, umask, rlimits, the working directory, the program to
 * run, inherited fds and signal state.
 */
#ifndef BERTH_INIT_PROCESS_H
#define BERTH_INIT_PROCESS_H

#include <stdbool.h>

#include "plan.h"

int misc_apply(const struct plan *p, struct berth_err *err);
int rlimits_apply(const struct plan *p, struct berth_err *err);

/* chdir(CWD) when it is set. *retry is set (and 0 returned) on
 * EACCES/EPERM: the directory may be open to the container user only, so
 * try again after the ids change. */
int cwd_enter(const struct plan *p, bool *retry, struct berth_err *err);

/* Security rule 2 (CVE-2024-21626): the working directory must be inside
 * our root. getcwd(3) fails with ENOENT, or the kernel prefixes the path
 * with "(unreachable)", when it is not (e.g. a leaked host directory fd
 * used as cwd through /proc/self/fd/N). */
int cwd_verify(struct berth_err *err);

/* The path to execve: ARG[0] itself when it has a '/', else the first
 * executable match in the PATH of the plan's ENV (not ours). Malloc'ed. */
int exec_resolve(const struct plan *p, char **path, struct berth_err *err);

/* Record which of the preserved fds 3..3+N-1 were open at start-up. */
int fds_note_preserved(const struct plan *p);

/* Close every fd from 3+PRESERVE_FDS up except keep_fd: at start-up, so
 * that no stray host fd is inherited into the namespaces at all. */
int fds_close_inherited(const struct plan *p, int keep_fd, struct berth_err *err);

/* Close every fd from 3+PRESERVE_FDS up except keep_fd (the close-on-exec
 * sync socket, kept to report an execve failure) and clear close-on-exec on
 * the preserved fds that were open at start-up. */
int fds_prepare_exec(const struct plan *p, int keep_fd, struct berth_err *err);

/* Default dispositions for all signals and an empty signal mask. */
void signals_reset(void);

#endif
