/*
 * The console (security rule 4, CVE-2025-52565): the pty is allocated from
 * the container's own devpts, checked to be devpts, and the slave is
 * obtained from the master with TIOCGPTPEER, never by opening a
 * /dev/pts/N path that the container could have replaced. The master goes
 * to the console socket with SCM_RIGHTS; the payload is the pty's name, as
 * runc sends it.
 */
#include "console.h"
#include "paths.h"
#include "unix-socket.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <termios.h>

int console_setup(const struct plan *p, int sock_, struct berth_err *err) {
  cleanup_close int sock = sock_;
  cleanup_close int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
  if (master < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "open /dev/pts/ptmx");
  struct statfs sfs;
  if (fstatfs(master, &sfs) < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "statfs /dev/pts/ptmx");
  if (sfs.f_type != DEVPTS_SUPER_MAGIC)
    return berth_fail(err, BERTH_STAGE_CONSOLE, EXDEV, "/dev/pts/ptmx is not on a devpts filesystem");
  if (grantpt(master) < 0 || unlockpt(master) < 0)
    return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "unlock the pty from /dev/pts/ptmx");
  unsigned int n;
  if (ioctl(master, TIOCGPTN, &n) < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "get the pty number (TIOCGPTN)");
  char name[32];
  snprintf(name, sizeof name, "/dev/pts/%u", n);
  cleanup_close int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "open the peer of %s (TIOCGPTPEER)", name);
  if (p->console_height != 0 || p->console_width != 0) {
    struct winsize ws = {.ws_row = (unsigned short)p->console_height, .ws_col = (unsigned short)p->console_width};
    if (ioctl(slave, TIOCSWINSZ, &ws) < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "set the size of %s", name);
  }
  /* runtime-spec config-linux "Default Devices": with a terminal, /dev/console
   * is the container's pty. Bound from the slave's fd, onto a target resolved
   * inside the root, so neither end can be a path the container swapped. */
  if (p->mode == BERTH_MODE_CREATE) {
    cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "open the container root");
    cleanup_close int target = root_mkdir_all(root, "/dev/console", true, BERTH_STAGE_CONSOLE, err);
    if (target < 0) return -1;
    struct fd_path src = fd_path(slave), dst = fd_path(target);
    if (mount(src.s, dst.s, NULL, MS_BIND, NULL) < 0)
      return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "bind %s onto /dev/console", name);
  }
  if (setsid() < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "make %s the controlling terminal", name);
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0) return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "dup %s onto fd %d", name, i);
  if (unix_send_fd(sock, master, name, strlen(name)) < 0)
    return berth_fail(err, BERTH_STAGE_CONSOLE, errno, "send the master of %s to the console socket", name);
  return 0;
}
