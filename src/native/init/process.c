#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef KEY_USR_SEARCH
#define KEY_USR_SEARCH 0x00080000 /* keyutils.h */
#endif

/* runc's session keyring: join (or create) it, then add "user may search"
 * to its permissions so processes of the container user can use it. */
static int keyring_join(const struct plan *p, struct berth_err *err) {
  const char *name = p->keyring_name;
  long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name);
  if (id < 0 && errno == ENOSYS) return 0; /* no keyrings in this kernel: runc ignores it too */
  if (id < 0) return berth_fail(err, BERTH_STAGE_MISC, errno, "join session keyring %s", name ? name : "(anonymous)");
  char desc[512];
  long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc - 1);
  if (n < 0) return berth_fail(err, BERTH_STAGE_MISC, errno, "describe session keyring %s", name ? name : "(anonymous)");
  desc[n < (long)sizeof desc ? n : (long)sizeof desc - 1] = '\0';
  /* "type;uid;gid;perm;description", perm in hex */
  char *f = desc;
  for (int i = 0; i < 3 && f != NULL; i++) {
    f = strchr(f, ';');
    if (f != NULL) f++;
  }
  if (f == NULL) return berth_fail(err, BERTH_STAGE_MISC, EINVAL, "parse the description of session keyring %s", name);
  unsigned long perm = strtoul(f, NULL, 16) | KEY_USR_SEARCH;
  if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm) < 0)
    return berth_fail(err, BERTH_STAGE_MISC, errno, "set permissions of session keyring %s", name ? name : "(anonymous)");
  return 0;
}

int misc_apply(const struct plan *p, struct berth_err *err) {
  if (p->has_personality && personality(p->personality) < 0)
    return berth_fail(err, BERTH_STAGE_MISC, errno, "personality 0x%x", p->personality);
  if (p->new_keyring && keyring_join(p, err) < 0) return -1;
  if (p->has_umask) umask(p->umask & 0777);
  return 0;
}

static const char *rlimit_name(unsigned r) {
  static const char *const names[] = {"RLIMIT_CPU",    "RLIMIT_FSIZE",   "RLIMIT_DATA",       "RLIMIT_STACK",
                                      "RLIMIT_CORE",   "RLIMIT_RSS",     "RLIMIT_NPROC",      "RLIMIT_NOFILE",
                                      "RLIMIT_MEMLOCK", "RLIMIT_AS",     "RLIMIT_LOCKS",      "RLIMIT_SIGPENDING",
                                      "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO",     "RLIMIT_RTTIME"};
  return r < sizeof names / sizeof names[0] ? names[r] : "RLIMIT_?";
}

int rlimits_apply(const struct plan *p, struct berth_err *err) {
  for (size_t i = 0; i < p->n_rlimits; i++) {
    const struct plan_rlimit *r = &p->rlimits[i];
    struct rlimit rl = {.rlim_cur = r->soft, .rlim_max = r->hard};
    if (setrlimit((__rlimit_resource_t)r->resource, &rl) < 0)
      return berth_fail(err, BERTH_STAGE_RLIMITS, errno, "setrlimit %s (%u) soft %llu hard %llu", rlimit_name(r->resource),
                        r->resource, (unsigned long long)r->soft, (unsigned long long)r->hard);
  }
  return 0;
}

int cwd_enter(const struct plan *p, bool *retry, struct berth_err *err) {
  *retry = false;
  if (p->cwd[0] == '\0') return 0;
  if (chdir(p->cwd) == 0) return 0;
  if (errno == EACCES || errno == EPERM) {
    *retry = true;
    return 0;
  }
  return berth_fail(err, BERTH_STAGE_CWD, errno, "chdir to cwd %s", p->cwd);
}

int cwd_verify(struct berth_err *err) {
  cleanup_free char *buf = getcwd(NULL, 0);
  if (buf == NULL) {
    if (errno == ENOENT)
      return berth_fail(err, BERTH_STAGE_CWD, ENOENT, "the working directory is outside the container root");
    return berth_fail(err, BERTH_STAGE_CWD, errno, "getcwd");
  }
  if (buf[0] != '/')
    return berth_fail(err, BERTH_STAGE_CWD, ENOENT, "the working directory %s is outside the container root", buf);
  return 0;
}

static bool is_executable(const char *path, int *why) {
  struct stat st;
  if (stat(path, &st) < 0) {
    *why = errno;
    return false;
  }
  if (S_ISDIR(st.st_mode) || faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0) {
    *why = EACCES;
    return false;
  }
  return true;
}

int exec_resolve(const struct plan *p, char **out, struct berth_err *err) {
  const char *arg0 = p->args[0];
  int why = ENOENT;
  if (strchr(arg0, '/') != NULL) {
    if (!is_executable(arg0, &why)) return berth_fail(err, BERTH_STAGE_EXEC, why, "exec \"%s\"", arg0);
    *out = strdup(arg0);
    return *out ? 0 : berth_fail(err, BERTH_STAGE_EXEC, ENOMEM, "exec \"%s\"", arg0);
  }
  /* execvp(3)'s default when PATH is unset. */
  const char *path = "/bin:/usr/bin";
  for (size_t i = 0; i < p->n_env; i++)
    if (strncmp(p->env[i], "PATH=", 5) == 0) {
      path = p->env[i] + 5;
      break;
    }
  int first_err = 0;
  for (const char *dir = path;; dir++) {
    const char *end = strchrnul(dir, ':');
    size_t dlen = (size_t)(end - dir);
    cleanup_free char *cand = malloc(dlen + strlen(arg0) + 3);
    if (cand == NULL) return berth_fail(err, BERTH_STAGE_EXEC, ENOMEM, "exec \"%s\"", arg0);
    /* An empty PATH entry means the current directory. */
    snprintf(cand, dlen + strlen(arg0) + 3, "%.*s/%s", (int)(dlen ? dlen : 1), dlen ? dir : ".", arg0);
    if (is_executable(cand, &why)) {
      *out = cand;
      cand = NULL;
      return 0;
    }
    if (why == EACCES && first_err == 0) first_err = EACCES;
    if (*end == '\0') break;
    dir = end;
  }
  if (first_err != 0) return berth_fail(err, BERTH_STAGE_EXEC, first_err, "exec \"%s\": found in $PATH but not executable", arg0);
  return berth_fail(err, BERTH_STAGE_EXEC, ENOENT, "exec \"%s\": executable file not found in $PATH", arg0);
}

/* Bit i: fd 3+i was open when the executor started. */
static uint8_t *preserved_open;

int fds_note_preserved(const struct plan *p) {
  if (p->preserve_fds == 0) return 0;
  preserved_open = calloc((p->preserve_fds + 7) / 8, 1);
  if (preserved_open == NULL) return -1;
  for (uint32_t i = 0; i < p->preserve_fds; i++)
    if (fcntl((int)(3 + i), F_GETFD) >= 0) preserved_open[i / 8] |= (uint8_t)(1u << (i % 8));
  return 0;
}

static int close_from(unsigned lo, unsigned hi) {
  if (lo > hi) return 0;
  return (int)syscall(SYS_close_range, lo, hi, 0);
}

static int close_all_but(const struct plan *p, int keep_fd) {
  unsigned first = 3u + p->preserve_fds;
  if (keep_fd >= 0 && (unsigned)keep_fd >= first) {
    if (close_from(first, (unsigned)keep_fd - 1) < 0) return -1;
    return close_from((unsigned)keep_fd + 1, ~0U);
  }
  return close_from(first, ~0U);
}

int fds_close_inherited(const struct plan *p, int keep_fd, struct berth_err *err) {
  if (close_all_but(p, keep_fd) < 0)
    return berth_fail(err, BERTH_STAGE_PLAN, errno, "close inherited fds from %u up", 3u + p->preserve_fds);
  return 0;
}

int fds_prepare_exec(const struct plan *p, int keep_fd, struct berth_err *err) {
  if (close_all_but(p, keep_fd) < 0)
    return berth_fail(err, BERTH_STAGE_EXEC, errno, "close fds from %u up", 3u + p->preserve_fds);
  for (uint32_t i = 0; i < p->preserve_fds; i++) {
    int fd = (int)(3 + i);
    if (!(preserved_open[i / 8] & (1u << (i % 8)))) {
      /* Not the caller's: one of ours landed here. It must not leak. */
      close(fd);
      continue;
    }
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
      return berth_fail(err, BERTH_STAGE_EXEC, errno, "clear close-on-exec on preserved fd %d", fd);
  }
  return 0;
}

void signals_reset(void) {
  struct sigaction sa = {.sa_handler = SIG_DFL};
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) sigaction(sig, &sa, NULL); /* SIGKILL, SIGSTOP and libc's own: EINVAL, fine */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}
