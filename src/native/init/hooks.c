#include "hooks.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process.h"

/* Write all of buf; a hook that exits without reading its stdin is fine
 * (EPIPE, and SIGPIPE is ignored during setup). */
static void write_state(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    buf += n;
    len -= (size_t)n;
  }
}

/* waitpid with a deadline: 0 with *status set, 1 on timeout. */
static int wait_deadline(pid_t pid, uint32_t timeout_s, int *status) {
  struct timespec start, now, nap = {0, 1000 * 1000};
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    pid_t r = waitpid(pid, status, timeout_s ? WNOHANG : 0);
    if (r == pid) return 0;
    if (r < 0 && errno != EINTR) return -1;
    if (timeout_s == 0) continue;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= (time_t)timeout_s) return 1;
    nanosleep(&nap, NULL);
    if (nap.tv_nsec < 50 * 1000 * 1000) nap.tv_nsec *= 2;
  }
}

static int run_one(size_t i, const struct plan_hook *h, const char *state, struct berth_err *err) {
  int in[2];
  if (pipe2(in, O_CLOEXEC) < 0) return berth_fail(err, BERTH_STAGE_MISC, errno, "pipe for startContainer hook #%zu", i);
  pid_t pid = fork();
  if (pid < 0) {
    close(in[0]);
    close(in[1]);
    return berth_fail(err, BERTH_STAGE_MISC, errno, "fork startContainer hook #%zu (%s)", i, h->path);
  }
  if (pid == 0) {
    if (dup2(in[0], 0) < 0) _exit(127);
    signals_reset();
    execve(h->path, (char *const *)h->args, (char *const *)h->env);
    _exit(errno == EACCES || errno == ENOEXEC ? 126 : 127);
  }
  close(in[0]);
  write_state(in[1], state, strlen(state));
  close(in[1]);
  int status = 0;
  int rc = wait_deadline(pid, h->timeout, &status);
  if (rc == 1) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return berth_fail(err, BERTH_STAGE_MISC, ETIMEDOUT, "startContainer hook #%zu (%s) timed out after %us", i, h->path,
                      h->timeout);
  }
  if (rc < 0) return berth_fail(err, BERTH_STAGE_MISC, errno, "wait for startContainer hook #%zu (%s)", i, h->path);
  if (WIFSIGNALED(status))
    return berth_fail(err, BERTH_STAGE_MISC, 0, "startContainer hook #%zu (%s) was killed by signal %d", i, h->path,
                      WTERMSIG(status));
  if (WEXITSTATUS(status) != 0)
    return berth_fail(err, BERTH_STAGE_MISC, 0, "startContainer hook #%zu (%s) exited with status %d", i, h->path,
                      WEXITSTATUS(status));
  return 0;
}

int start_hooks_run(const struct plan *p, const char *state, struct berth_err *err) {
  for (size_t i = 0; i < p->n_start_hooks; i++)
    if (run_one(i, &p->start_hooks[i], state, err) < 0) return -1;
  return 0;
}
