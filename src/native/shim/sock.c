#include "sock.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

static int fill_addr(struct sockaddr_un *addr, const char *path) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof addr->sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(addr->sun_path, path);
  return 0;
}

/* True when a socket at `path` refuses connections: its server is gone. */
static int is_stale(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) return 0;
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  struct sockaddr_un addr;
  if (fill_addr(&addr, path) < 0) return 0;
  return connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno == ECONNREFUSED;
}

int sock_listen(const char *what, const char *path, struct shim_err *err) {
  struct sockaddr_un addr;
  if (fill_addr(&addr, path) < 0)
    return shim_fail(err, SHIM_STAGE_SETUP, ENAMETOOLONG, "%s %s is too long for sun_path", what, path);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return shim_fail(err, SHIM_STAGE_SETUP, errno, "create the %s", what);
  /* The socket file gets 0777 & ~umask at bind: no moment where others may connect. */
  mode_t old = umask(0177);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  if (rc < 0 && errno == EADDRINUSE && is_stale(path)) {
    unlink(path);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  }
  int bind_errno = errno;
  umask(old);
  if (rc < 0) {
    if (bind_errno == EADDRINUSE)
      return shim_fail(err, SHIM_STAGE_SETUP, bind_errno, "%s %s already exists and is not a dead shim's socket", what, path);
    return shim_fail(err, SHIM_STAGE_SETUP, bind_errno, "bind the %s to %s", what, path);
  }
  if (listen(fd, 16) < 0) {
    int e = errno;
    unlink(path);
    return shim_fail(err, SHIM_STAGE_SETUP, e, "listen on the %s %s", what, path);
  }
  return take_fd(&fd);
}

int sock_accept(int listen_fd) {
  int fd;
  do fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd;
}
