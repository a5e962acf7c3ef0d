/*
 * berth-init, the executor: carries out a plan written by berth-runtime.
 * TypeScript makes every decision; this program only runs the fixed phases
 * below and reports progress and errors as sync records. The protocol and
 * the reasons for the phase order are in docs/protocol-init.md and in the
 * sequence diagram of src/native/include/berth-plan.h.
 *
 *   berth-init                     run the plan read from $_BERTH_SYNC_FD
 *                                  (devices mode: replace a device filter, exit)
 *   berth-init --decode-plan FILE  print a plan (FILE or - for stdin) as JSON
 *   berth-init --device-filters DIR  list the device filters on a cgroup v2 directory
 */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cgroup-join.h"
#include "console.h"
#include "console-proxy.h"
#include "creds.h"
#include "devfilter.h"
#include "hooks.h"
#include "nsjoin.h"
#include "paths.h"
#include "plan.h"
#include "process.h"
#include "rootfs.h"
#include "seccomp.h"
#include "self-seal.h"
#include "sync.h"
#include "sysctl.h"
#include "unix-socket.h"

struct ctx {
  struct plan *plan;
  int sync;        /* the sync socket (close-on-exec) */
  int console;     /* connected console socket, or -1 */
  int proxy;       /* CONSOLE_PROXY: stage 0's end of the socketpair for the pty master, or -1 */
  int fifo;        /* O_PATH fd of the exec fifo (create mode), or -1 */
  int listener;    /* connected seccomp listener socket (SC_LISTENER_PATH), or -1 */
  struct cgroup_join cgroups; /* CGROUP_TASKS fds for the child, CGROUP_INTO fd for the clone */
  bool past_ready; /* create: READY sent, berth-runtime no longer listens */
  char state[BERTH_SYNC_MAX_MSG + 1]; /* state JSON for startContainer hooks */
  char process_state[BERTH_SYNC_MAX_MSG + 1]; /* container process state JSON for the seccomp listener */
};

/* Exit status for a failed execve, as shells use them. */
static int exec_status(int errnum) {
  return errnum == EACCES || errnum == ENOEXEC ? 126 : 127;
}

/* Report err where someone will read it, then exit. */
__attribute__((noreturn)) static void die(struct ctx *c, const struct berth_err *err) {
  if (c->past_ready || c->sync < 0 || sync_send_error(c->sync, err) < 0) berth_err_print(err);
  _exit(err->stage == BERTH_STAGE_EXEC ? exec_status(err->errnum) : 1);
}

/* ---- C, create mode: the container's filesystem ------------------------ */

static int child_create(struct ctx *c, struct berth_err *err) {
  const struct plan *p = c->plan;
  /* The parent has written our id maps by now (CONTINUE). Become root of
   * the new user namespace for the privileged steps below, as runc does. */
  if ((p->clone_flags & CLONE_NEWUSER) && become_userns_root(err) < 0) return -1;
  /* After the parent put us into our cgroups, so that the new cgroup
   * namespace is rooted at the container's cgroup (cgroup_namespaces(7)). */
  if (p->cgroup_ns_after_sync && unshare(CLONE_NEWCGROUP) < 0)
    return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "unshare the cgroup namespace");

  /* Directories, files and nodes get exactly the modes the plan names. */
  mode_t old_umask = umask(0);
  int rc = rootfs_prepare(p, err);
  if (rc == 0) rc = mounts_apply(p, err);
  if (rc == 0) rc = devices_create(p, err);
  if (rc == 0) rc = symlinks_create(p, err);
  umask(old_umask);
  if (rc < 0) return -1;

  /* prestart/createRuntime/createContainer hooks see the mounts, before
   * pivot_root (runtime-spec config.md#posix-platform-hooks). */
  if (sync_send(c->sync, BERTH_SYNC_HOOKS, 0) < 0) return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "send HOOKS");
  rc = sync_wait_continue(c->sync, BERTH_STAGE_WAIT_PARENT, c->state, err);
  if (rc == 1) _exit(1);
  if (rc < 0) return -1;

  if (rootfs_pivot(p, err) < 0) return -1;
  /* Sysctls before the read-only paths: /proc/sys is usually one of them. */
  if (sysctl_apply(p, err) < 0) return -1;
  if (masked_paths_apply(p, err) < 0) return -1;
  if (readonly_paths_apply(p, err) < 0) return -1;
  if (p->hostname && sethostname(p->hostname, strlen(p->hostname)) < 0)
    return berth_fail(err, BERTH_STAGE_HOSTNAME, errno, "sethostname %s", p->hostname);
  if (p->domainname && setdomainname(p->domainname, strlen(p->domainname)) < 0)
    return berth_fail(err, BERTH_STAGE_HOSTNAME, errno, "setdomainname %s", p->domainname);
  return 0;
}

/* ---- C, both modes: the process ----------------------------------------- */

/* Block until `berth-runtime start` opens the read side of the exec fifo,
 * then tell it we are about to exec. The fifo is a host path, reached
 * through the O_PATH fd taken before pivot_root and a verified procfs. */
static int wait_exec_fifo(struct ctx *c, struct berth_err *err) {
  cleanup_close int fifo = take_fd(&c->fifo);
  cleanup_close int proc = procfs_open("/proc", BERTH_STAGE_EXEC_FIFO, err);
  if (proc < 0) return -1;
  char rel[32];
  snprintf(rel, sizeof rel, "self/fd/%d", fifo);
  cleanup_close int w = openat(proc, rel, O_WRONLY | O_CLOEXEC);
  if (w < 0) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, errno, "open exec fifo %s for writing", c->plan->exec_fifo);
  ssize_t n;
  do n = write(w, "0", 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, errno, "write to exec fifo %s", c->plan->exec_fifo);
  return 0;
}

static int child_process(struct ctx *c, struct berth_err *err) {
  const struct plan *p = c->plan;
  bool create = p->mode == BERTH_MODE_CREATE;

  if (p->terminal) {
    if (console_setup(p, take_fd(&c->console), err) < 0) return -1;
  } else {
    berth_closep(&c->console);
    /* runc makes the container init a session leader; an exec'd process
     * stays in the caller's session. */
    if (create && setsid() < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "setsid");
  }
  /* After the console: it may have to create /dev/console in the root
   * (runc's order: prepareRootfs, setupConsole, finalizeRootfs). */
  if (create && p->rootfs_readonly && rootfs_make_readonly(err) < 0) return -1;
  if (misc_apply(p, err) < 0) return -1;
  /* Before the ids change: raising a hard limit needs CAP_SYS_RESOURCE. */
  if (rlimits_apply(p, err) < 0) return -1;
  bool cwd_retry;
  if (cwd_enter(p, &cwd_retry, err) < 0) return -1;
  /* Without no_new_privs, loading a filter needs CAP_SYS_ADMIN
   * (seccomp(2)), so it goes in before the capabilities are dropped. */
  if (p->seccomp && !p->no_new_privs && seccomp_apply(p->seccomp, take_fd(&c->listener), c->process_state, err) < 0)
    return -1;
  if (caps_drop_bounding(p, err) < 0) return -1;
  if (ids_apply(p, err) < 0) return -1;
  if (caps_apply(p, err) < 0) return -1;
  if (cwd_retry && chdir(p->cwd) < 0) return berth_fail(err, BERTH_STAGE_CWD, errno, "chdir to cwd %s", p->cwd);
  if (cwd_verify(err) < 0) return -1;
  if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    return berth_fail(err, BERTH_STAGE_MISC, errno, "prctl PR_SET_NO_NEW_PRIVS");
  /* Look the program up now, as the container user, so that `create`
   * fails for a missing one while berth-runtime still listens. */
  cleanup_free char *path = NULL;
  if (exec_resolve(p, &path, err) < 0) return -1;

  if (create) {
    if (sync_send(c->sync, BERTH_SYNC_READY, 0) < 0) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, errno, "send READY");
    c->past_ready = true;
    if (c->fifo >= 0 && wait_exec_fifo(c, err) < 0) return -1;
    /* runtime-spec: startContainer hooks run in the container namespace
     * after start, before the user process (runc runs them here too). */
    if (start_hooks_run(p, c->state, err) < 0) return -1;
  }
  /* The notify fd must reach the listener over a socket that closing the
   * fds would take away: with a listener the filter goes in just before,
   * and also governs that closing and the signal reset (runc's order). */
  bool listener_first = p->seccomp && p->no_new_privs && c->listener >= 0;
  if (listener_first && seccomp_apply(p->seccomp, take_fd(&c->listener), c->process_state, err) < 0) return -1;
  if (fds_prepare_exec(p, c->sync, err) < 0) return -1;
  signals_reset();
  /* With no_new_privs the filter goes in last, so that it governs as few of
   * our own syscalls as possible: only execve follows. */
  if (p->seccomp && p->no_new_privs && !listener_first && seccomp_apply(p->seccomp, -1, "", err) < 0) return -1;
  execve(path, (char *const *)p->args, (char *const *)p->env);
  return berth_fail(err, BERTH_STAGE_EXEC, errno, "exec \"%s\"", p->args[0]);
}

__attribute__((noreturn)) static void child_main(struct ctx *c) {
  struct berth_err err = {0};
  berth_closep(&c->proxy);
  /* Only berth-runtime knows our host pid (we may be pid 1 of a new pid
   * namespace): the container process state for the seccomp listener
   * comes with this CONTINUE. */
  int rc = sync_wait_continue(c->sync, BERTH_STAGE_WAIT_PARENT, c->listener >= 0 ? c->process_state : NULL, &err);
  if (rc == 1) _exit(1); /* ABORT or end of file: berth-runtime gave up */
  if (rc < 0) die(c, &err);
  /* First, so that all the container costs is accounted to it, and before
   * child_create unshares the cgroup namespace. */
  if (cgroup_join_self(c->plan, &c->cgroups, &err) < 0) die(c, &err);
  if (c->plan->mode == BERTH_MODE_CREATE && child_create(c, &err) < 0) die(c, &err);
  child_process(c, &err);
  die(c, &err);
}

/* ---- P: stage 0 ---------------------------------------------------------- */

static volatile sig_atomic_t child_pid;
static volatile sig_atomic_t proxying;
static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

static void forward(int sig) {
  /* As the container's console, a new size goes to its pty, which signals
   * the container itself. */
  if (sig == SIGWINCH && proxying) {
    console_proxy_winch = 1;
    return;
  }
  if (child_pid > 0) kill(child_pid, sig);
}

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* clone3(2) with the plan's CLONE_NEW* flags: the child is the first
 * process of the new namespaces (a new pid namespace only takes children,
 * and a new user namespace must be entered by the process itself). With a
 * cgroup fd it is born in that cgroup v2 directory (CLONE_INTO_CGROUP). */
static pid_t spawn_child(const struct plan *p, int cgroup_fd) {
  if (p->mode == BERTH_MODE_EXEC && cgroup_fd < 0) return fork();
  struct {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
  } args = {.flags = p->clone_flags, .exit_signal = SIGCHLD};
  /* The first 64 bytes are clone3's first version, which Linux 5.3 takes. */
  size_t size = 64;
  if (cgroup_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = (uint64_t)cgroup_fd;
    size = sizeof args;
  }
  pid_t pid = (pid_t)syscall(SYS_clone3, &args, size);
  if (pid < 0 && errno == ENOSYS && cgroup_fd < 0)
    pid = (pid_t)syscall(SYS_clone, (unsigned long)p->clone_flags | SIGCHLD, 0, 0, 0, 0);
  return pid;
}

static int wait_child(pid_t pid) {
  int status;
  for (;;) {
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) {
      perror("berth-init: waitpid");
      return 1;
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* An O_PATH fd of the exec fifo: a host path, so taken before any
 * namespace is entered, and re-opened for writing at the very end. */
static int open_exec_fifo(const char *path, struct berth_err *err) {
  /* Made here because Node has no mkfifo(3). Mode 0622 so that the
   * container's init can open it for writing whatever uid a user namespace
   * maps it to; the 0711 state directory keeps everyone else out. */
  mode_t old_umask = umask(0);
  int made = mkfifo(path, 0622);
  umask(old_umask);
  if (made < 0) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, errno, "create exec fifo %s", path);
  cleanup_close int fd = open(path, O_PATH | O_CLOEXEC);
  if (fd < 0) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, errno, "open exec fifo %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, errno, "stat exec fifo %s", path);
  if (!S_ISFIFO(st.st_mode)) return berth_fail(err, BERTH_STAGE_EXEC_FIFO, EINVAL, "exec fifo %s is not a fifo", path);
  return take_fd(&fd);
}

static int stage_parent(struct ctx *c) {
  const struct plan *p = c->plan;
  struct berth_err err = {0};

  /* Host paths first, before any namespace changes what they name. */
  if (p->console_socket && (c->console = unix_connect(p->console_socket, "console socket", BERTH_STAGE_CONSOLE_CONNECT, &err)) < 0)
    die(c, &err);
  if (p->seccomp && p->seccomp->listener_path &&
      (c->listener = unix_connect(p->seccomp->listener_path, "seccomp listenerPath", BERTH_STAGE_SECCOMP, &err)) < 0)
    die(c, &err);
  if (p->console_proxy) {
    int pair[2];
    if (console_proxy_pair(pair, &err) < 0) die(c, &err);
    c->proxy = pair[0];
    c->console = pair[1];
  }
  if (p->mode == BERTH_MODE_CREATE && p->exec_fifo && (c->fifo = open_exec_fifo(p->exec_fifo, &err)) < 0) die(c, &err);
  /* Through the host's procfs, which the child inherits the value from. */
  if (p->has_oom_score_adj && oom_score_adj_set("/proc", p->oom_score_adj, &err) < 0) die(c, &err);
  /* The cgroup v2 device filter: its directory is a host path, bpf(2) needs
   * the privileges we have before joining a user namespace, and it must be
   * in place before the container process exists (and R puts it in the
   * cgroup), so no device access of the container escapes it. */
  if (devfilter_attach(p, &err) < 0) die(c, &err);
  if (cgroup_join_open(p, &c->cgroups, &err) < 0) die(c, &err);
  if (nsjoin_all(p, &err) < 0) die(c, &err);

  /* Signals for the child that arrive before the handler is in place stay
   * pending until then. */
  sigset_t block, old;
  sigemptyset(&block);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&block, forwarded[i]);
  sigprocmask(SIG_BLOCK, &block, &old);

  pid_t pid = spawn_child(p, c->cgroups.into);
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    child_main(c);
  }
  if (pid < 0) {
    berth_fail(&err, BERTH_STAGE_CLONE, errno, "%s the container process (clone flags 0x%llx%s%s)",
               p->mode == BERTH_MODE_EXEC ? "fork" : "clone", (unsigned long long)p->clone_flags,
               p->cgroup_into != NULL ? ", into cgroup " : "", p->cgroup_into != NULL ? p->cgroup_into : "");
    die(c, &err);
  }
  cgroup_join_close(&c->cgroups);
  if (sync_send(c->sync, BERTH_SYNC_CHILD_PID, (uint32_t)pid) < 0) {
    int e = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fprintf(stderr, "berth-init: send CHILD_PID %d: %s\n", (int)pid, strerror(e));
    return 1;
  }
  berth_closep(&c->console);
  berth_closep(&c->listener);
  berth_closep(&c->fifo);
  /* The child holds the only executor copy of the socket from here, so
   * berth-runtime sees end of file once it execs (exec mode). */
  berth_closep(&c->sync);
  if (!p->parent_waits) return 0;

  child_pid = pid;
  struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaction(forwarded[i], &sa, NULL);
  proxying = c->proxy >= 0;
  sigprocmask(SIG_SETMASK, &old, NULL);
  if (c->proxy >= 0) console_proxy_run(take_fd(&c->proxy), pid);
  return wait_child(pid);
}

/* fds 0-2 must be open: otherwise the first fds we open would take their
 * numbers and become the container's stdio. */
static void ensure_stdio(void) {
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd) _exit(1);
}

static int run(void) {
  struct berth_err err = {0};
  struct plan plan;
  struct ctx c = {.plan = &plan, .sync = -1, .console = -1, .proxy = -1, .fifo = -1, .listener = -1, .cgroups = {.into = -1}};
  const char *env = getenv(BERTH_SYNC_FD_ENV);
  char *end;
  long fd = env ? strtol(env, &end, 10) : -1;
  if (env == NULL || *env == '\0' || *end != '\0' || fd < 0 || fd > 1 << 20 || fcntl((int)fd, F_GETFD) < 0) {
    fprintf(stderr, "berth-init: %s must name an open sync socket; berth-init is started by berth-runtime\n",
            BERTH_SYNC_FD_ENV);
    return 1;
  }
  unsetenv(BERTH_SYNC_FD_ENV);
  c.sync = (int)fd;
  if (fcntl(c.sync, F_SETFD, FD_CLOEXEC) < 0) {
    perror("berth-init: mark the sync socket close-on-exec");
    return 1;
  }
  /* Our writes to a vanished peer must fail with EPIPE, not kill us. */
  signal(SIGPIPE, SIG_IGN);
  /* An inherited SIG_IGN for SIGCHLD (it survives execve) would have the
   * kernel reap our child and waitpid fail (wait(2), NOTES). */
  signal(SIGCHLD, SIG_DFL);
  /* Non-dumpable: a process of the container (an exec, or one sharing our
   * user namespace) must not ptrace us or open our /proc/PID files while
   * we hold host fds (runc CVE-2016-9962). execve resets it. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
    perror("berth-init: prctl PR_SET_DUMPABLE");
    return 1;
  }
  if (plan_read(&plan, c.sync, false, &err) < 0 || plan_validate(&plan, c.sync, &err) < 0) die(&c, &err);
  if (fds_note_preserved(&plan) < 0) {
    berth_fail(&err, BERTH_STAGE_PLAN, ENOMEM, "note %u preserved fds", plan.preserve_fds);
    die(&c, &err);
  }
  if (fds_close_inherited(&plan, c.sync, &err) < 0) die(&c, &err);
  /* `update` of device rules: no container process to make; exiting 0
   * closes the sync socket, which berth-runtime reads as success. */
  if (plan.mode == BERTH_MODE_DEVICES) {
    if (devfilter_replace(&plan, &err) < 0) die(&c, &err);
    return 0;
  }
  return stage_parent(&c);
}

static int decode_plan(const char *file) {
  struct berth_err err = {0};
  struct plan plan;
  cleanup_close int fd = strcmp(file, "-") == 0 ? fcntl(0, F_DUPFD_CLOEXEC, 3) : open(file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "berth-init: open %s: %s\n", file, strerror(errno));
    return 1;
  }
  if (plan_read(&plan, fd, true, &err) < 0) {
    if (err.errnum == EINVAL || err.errnum == EFBIG) fprintf(stderr, "berth-init: %s\n", err.msg);
    else berth_err_print(&err);
    plan_free(&plan);
    return 1;
  }
  int rc = plan_print_json(&plan, stdout);
  plan_free(&plan);
  if (rc < 0) {
    perror("berth-init: write the decoded plan");
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  struct berth_err err = {0};
  ensure_stdio();
  if (self_seal(argv, &err) < 0) {
    berth_err_print(&err);
    return 1;
  }
  if (argc == 3 && strcmp(argv[1], "--decode-plan") == 0) return decode_plan(argv[2]);
  if (argc == 3 && strcmp(argv[1], "--device-filters") == 0) {
    if (devfilter_list(argv[2], stdout, &err) == 0) return 0;
    berth_err_print(&err);
    return 1;
  }
  if (argc != 1) {
    fprintf(stderr, "usage: berth-init [--decode-plan FILE|- | --device-filters CGROUP_DIR]\n"
                    "Without arguments, runs the plan read from the socket named by $%s.\n",
            BERTH_SYNC_FD_ENV);
    return 1;
  }
  return run();
}
