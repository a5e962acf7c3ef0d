/*
 * Security rule 1 (runc CVE-2019-5736): the executor runs inside the
 * container's namespaces, where a container process can reach our binary
 * through /proc/<pid>/exe and, if that were the host file, overwrite it.
 * So before doing anything we re-execute ourselves from an anonymous,
 * sealed memfd copy: writes to it are refused (F_SEAL_WRITE), its size is
 * frozen, and the seals cannot be removed (F_SEAL_SEAL).
 */
#include "self-seal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U /* linux 6.3: executable memfd, see memfd_create(2) */
#endif

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* Set in the environment of the re-executed copy, so a copy that still
 * finds itself unsealed fails instead of looping. */
#define SEALED_ENV "_BERTH_INIT_SEALED"

extern char **environ;

static int copy_all(int out, int in, off_t size) {
  off_t off = 0;
  while (off < size) {
    ssize_t n = sendfile(out, in, &off, (size_t)(size - off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) {
      errno = EIO; /* the file shrank under us */
      return -1;
    }
  }
  return 0;
}

int self_seal(char **argv, struct berth_err *err) {
  cleanup_close int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "open /proc/self/exe");
  int seals = fcntl(self, F_GET_SEALS);
  bool marked = getenv(SEALED_ENV) != NULL;
  if (seals >= 0 && (seals & SEALS) == SEALS) {
    unsetenv(SEALED_ENV);
    return 0;
  }
  if (marked)
    return berth_fail(err, BERTH_STAGE_PLAN, EPERM, "re-executed from a memfd but /proc/self/exe is not sealed");

  struct stat st;
  if (fstat(self, &st) < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "stat /proc/self/exe");
  /* MFD_EXEC: with vm.memfd_noexec=1 a memfd without it cannot be run. */
  cleanup_close int mem = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
  if (mem < 0 && errno == EINVAL) mem = memfd_create("berth-init", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "memfd_create berth-init");
  if (copy_all(mem, self, st.st_size) < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "copy /proc/self/exe into a memfd");
  if (fcntl(mem, F_ADD_SEALS, SEALS) < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "seal the berth-init memfd");
  if (setenv(SEALED_ENV, "1", 1) < 0) return berth_fail(err, BERTH_STAGE_PLAN, errno, "setenv " SEALED_ENV);
  fexecve(mem, argv, environ);
  return berth_fail(err, BERTH_STAGE_PLAN, errno, "re-execute berth-init from its sealed memfd");
}
