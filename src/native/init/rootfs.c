#include "rootfs.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "paths.h"


static const char *or_empty(const char *s) {
  return s ? s : "";
}

int rootfs_prepare(const struct plan *p, struct berth_err *err) {
  if (p->root_propagation != 0 && mount(NULL, "/", NULL, p->root_propagation, NULL) < 0)
    return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "set propagation 0x%llx on / (rootPropagation)",
                      (unsigned long long)p->root_propagation);
  /* pivot_root(2) fails with EINVAL when the parent mount of the new root
   * is shared. Make the mount that holds the rootfs private (in our own
   * mount namespace only), as runc does: walk up until mount(MS_PRIVATE)
   * finds a mount point; EINVAL means "not a mount point". */
  cleanup_free char *dir = strdup(p->rootfs);
  if (dir == NULL) return berth_fail(err, BERTH_STAGE_MOUNTS, ENOMEM, "copy rootfs path");
  for (;;) {
    if (mount(NULL, dir, NULL, MS_PRIVATE, NULL) == 0) break;
    if (errno != EINVAL || strcmp(dir, "/") == 0)
      return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "make the mount holding %s private", p->rootfs);
    char *slash = strrchr(dir, '/');
    if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
  }
  /* The rootfs must be a mount point for pivot_root and MS_MOVE. */
  if (mount(p->rootfs, p->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
    return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "bind-mount the rootfs %s onto itself", p->rootfs);
  return 0;
}

static int open_rootfs(const struct plan *p, int stage, struct berth_err *err) {
  int fd = open(p->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return berth_fail(err, stage, errno, "open rootfs %s", p->rootfs);
  return fd;
}

/* A bind remount of the mount at fd with MS_BIND|MS_REMOUNT|flags. In a
 * user namespace the kernel refuses to clear locked flags (nosuid, nodev,
 * noexec, atime) that the mount had; on EPERM retry with the current ones
 * added, as runc does. */
static int bind_remount(int fd, unsigned long flags) {
  struct fd_path fp = fd_path(fd);
  if (mount(NULL, fp.s, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0) return 0;
  if (errno != EPERM) return -1;
  unsigned long cur;
  if (mount_flags_of(fd, &cur) < 0) return -1;
  return mount(NULL, fp.s, NULL, MS_BIND | MS_REMOUNT | flags | cur, NULL);
}

static int mount_one(int rootfd, const struct plan_mount *m, struct berth_err *err) {
  const char *src = or_empty(m->source), *fstype = or_empty(m->fstype);
  cleanup_close int fd = root_mkdir_all(rootfd, m->target, m->target_is_file, BERTH_STAGE_MOUNTS, err);
  if (fd < 0) return -1;
  /* mount(2) by the fd's magic link: the target is the directory we
   * resolved inside the rootfs, whatever the path now says. */
  struct fd_path fp = fd_path(fd);
  if (mount(src, fp.s, fstype[0] ? fstype : NULL, m->flags, m->data && m->data[0] ? m->data : NULL) < 0)
    return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "mount %s on %s (type \"%s\", flags 0x%llx, data \"%s\")", src,
                      m->target, fstype, (unsigned long long)m->flags, or_empty(m->data));
  if (m->remount_flags == 0 && m->n_propagation == 0) return 0;
  /* fd still names the directory under the new mount: re-resolve to get
   * the mount itself. */
  cleanup_close int top = root_open(rootfd, m->target, O_PATH);
  if (top < 0) return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "re-open mount target %s after mounting", m->target);
  if (m->remount_flags != 0 && bind_remount(top, m->remount_flags) < 0)
    return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "remount %s (source %s) with flags 0x%llx", m->target, src,
                      (unsigned long long)m->remount_flags);
  struct fd_path tp = fd_path(top);
  for (size_t i = 0; i < m->n_propagation; i++)
    if (mount(NULL, tp.s, NULL, m->propagation[i], NULL) < 0)
      return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "set propagation 0x%llx on %s (source %s)",
                        (unsigned long long)m->propagation[i], m->target, src);
  return 0;
}

int mounts_apply(const struct plan *p, struct berth_err *err) {
  cleanup_close int rootfd = open_rootfs(p, BERTH_STAGE_MOUNTS, err);
  if (rootfd < 0) return -1;
  for (size_t i = 0; i < p->n_mounts; i++)
    if (mount_one(rootfd, &p->mounts[i], err) < 0) return -1;
  return 0;
}

static int device_bind(int rootfd, const struct plan_device *d, struct berth_err *err) {
  cleanup_close int fd = root_mkdir_all(rootfd, d->path, true, BERTH_STAGE_DEVICES, err);
  if (fd < 0) return -1;
  struct fd_path fp = fd_path(fd);
  if (mount(d->path, fp.s, NULL, MS_BIND, NULL) < 0)
    return berth_fail(err, BERTH_STAGE_DEVICES, errno, "bind-mount host device %s onto %s", d->path, d->path);
  return 0;
}

static int device_mknod(int rootfd, const struct plan_device *d, struct berth_err *err) {
  cleanup_free char *name = NULL;
  cleanup_close int dir = root_open_parent(rootfd, d->path, &name, BERTH_STAGE_DEVICES, err);
  if (dir < 0) return -1;
  if (d->type != S_IFCHR && d->type != S_IFBLK && d->type != S_IFIFO)
    return berth_fail(err, BERTH_STAGE_DEVICES, EINVAL, "device %s: type 0%o is not S_IFCHR, S_IFBLK or S_IFIFO", d->path,
                      d->type);
  if (unlinkat(dir, name, 0) < 0 && errno != ENOENT)
    return berth_fail(err, BERTH_STAGE_DEVICES, errno, "remove existing %s", d->path);
  dev_t dev = d->type == S_IFIFO ? 0 : makedev(d->major, d->minor);
  if (mknodat(dir, name, d->type | (d->mode & 07777), dev) < 0)
    return berth_fail(err, BERTH_STAGE_DEVICES, errno, "mknod %s (%u:%u)", d->path, d->major, d->minor);
  if (fchownat(dir, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_fail(err, BERTH_STAGE_DEVICES, errno, "chown %s to %u:%u", d->path, d->uid, d->gid);
  return 0;
}

int devices_create(const struct plan *p, struct berth_err *err) {
  if (p->n_devices == 0) return 0;
  cleanup_close int rootfd = open_rootfs(p, BERTH_STAGE_DEVICES, err);
  if (rootfd < 0) return -1;
  /* mknod applies the umask to the mode; the plan's mode is exact. */
  mode_t old = umask(0);
  int rc = 0;
  for (size_t i = 0; i < p->n_devices && rc == 0; i++)
    rc = p->devices[i].bind ? device_bind(rootfd, &p->devices[i], err) : device_mknod(rootfd, &p->devices[i], err);
  umask(old);
  return rc;
}

int symlinks_create(const struct plan *p, struct berth_err *err) {
  if (p->n_symlinks == 0) return 0;
  cleanup_close int rootfd = open_rootfs(p, BERTH_STAGE_DEVICES, err);
  if (rootfd < 0) return -1;
  for (size_t i = 0; i < p->n_symlinks; i++) {
    const struct plan_symlink *l = &p->symlinks[i];
    cleanup_free char *name = NULL;
    cleanup_close int dir = root_open_parent(rootfd, l->path, &name, BERTH_STAGE_DEVICES, err);
    if (dir < 0) return -1;
    if (symlinkat(l->target, dir, name) < 0 && errno != EEXIST)
      return berth_fail(err, BERTH_STAGE_DEVICES, errno, "symlink %s -> %s", l->path, l->target);
  }
  return 0;
}

int rootfs_pivot(const struct plan *p, struct berth_err *err) {
  if (p->no_pivot) {
    /* For a rootfs on ramfs/initramfs, where pivot_root is refused. */
    if (chdir(p->rootfs) < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "chdir %s", p->rootfs);
    if (mount(p->rootfs, "/", NULL, MS_MOVE, NULL) < 0)
      return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "move mount %s to /", p->rootfs);
    if (chroot(".") < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "chroot %s", p->rootfs);
    if (chdir("/") < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "chdir / in the new root");
    return 0;
  }
  /* runc's pivot_root(".", ".") trick (pivot_root(2), NOTES): the old root
   * ends up stacked on the new one, so no put_old directory is needed in
   * the image; we then detach it. It is made MS_SLAVE first so that the
   * detach does not propagate back to the host's mounts. */
  cleanup_close int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (oldroot < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "open the old root /");
  cleanup_close int newroot = open(p->rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (newroot < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "open the rootfs %s", p->rootfs);
  if (fchdir(newroot) < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "chdir %s", p->rootfs);
  if (syscall(SYS_pivot_root, ".", ".") < 0)
    return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "pivot_root into %s", p->rootfs);
  if (fchdir(oldroot) < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "chdir to the old root");
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "make the old root a slave mount");
  if (umount2(".", MNT_DETACH) < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "detach the old root");
  if (chdir("/") < 0) return berth_fail(err, BERTH_STAGE_PIVOT_ROOT, errno, "chdir / in the new root");
  return 0;
}

/* Open a path of the (pivoted) container for use as a mount target:
 * symlinks inside the container are followed, magic links are not. */
static int open_target(const char *path) {
  return openat2_fd(AT_FDCWD, path, O_PATH | O_CLOEXEC, RESOLVE_NO_MAGICLINKS);
}

int masked_paths_apply(const struct plan *p, struct berth_err *err) {
  if (p->n_masked_paths == 0) return 0;
  /* CVE-2025-31133: /dev/null in the container could be a symlink or
   * another file planted by the image; binding that over e.g.
   * /proc/sys/kernel/core_pattern would unmask it, or worse. Use it only
   * if it is the real character device 1:3. */
  cleanup_close int null = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (null < 0) return berth_fail(err, BERTH_STAGE_MASKED_PATHS, errno, "open /dev/null to mask paths with");
  struct stat st;
  if (fstat(null, &st) < 0) return berth_fail(err, BERTH_STAGE_MASKED_PATHS, errno, "stat /dev/null");
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    return berth_fail(err, BERTH_STAGE_MASKED_PATHS, EPERM, "/dev/null in the container is not the character device 1:3");
  struct fd_path np = fd_path(null);
  for (size_t i = 0; i < p->n_masked_paths; i++) {
    const char *path = p->masked_paths[i];
    cleanup_close int fd = open_target(path);
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) return berth_fail(err, BERTH_STAGE_MASKED_PATHS, errno, "open masked path %s", path);
    struct stat ts;
    if (fstat(fd, &ts) < 0) return berth_fail(err, BERTH_STAGE_MASKED_PATHS, errno, "stat masked path %s", path);
    struct fd_path fp = fd_path(fd);
    int rc = S_ISDIR(ts.st_mode) ? mount("tmpfs", fp.s, "tmpfs", MS_RDONLY, NULL) : mount(np.s, fp.s, NULL, MS_BIND, NULL);
    if (rc < 0)
      return berth_fail(err, BERTH_STAGE_MASKED_PATHS, errno, "mask %s with %s", path,
                        S_ISDIR(ts.st_mode) ? "a read-only tmpfs" : "/dev/null");
  }
  return 0;
}

int readonly_paths_apply(const struct plan *p, struct berth_err *err) {
  for (size_t i = 0; i < p->n_readonly_paths; i++) {
    const char *path = p->readonly_paths[i];
    cleanup_close int fd = open_target(path);
    if (fd < 0 && errno == ENOENT) continue;
    if (fd < 0) return berth_fail(err, BERTH_STAGE_READONLY_PATHS, errno, "open read-only path %s", path);
    struct fd_path fp = fd_path(fd);
    if (mount(fp.s, fp.s, NULL, MS_BIND | MS_REC, NULL) < 0)
      return berth_fail(err, BERTH_STAGE_READONLY_PATHS, errno, "bind-mount %s onto itself", path);
    cleanup_close int top = open_target(path);
    if (top < 0) return berth_fail(err, BERTH_STAGE_READONLY_PATHS, errno, "re-open read-only path %s", path);
    unsigned long cur;
    if (mount_flags_of(top, &cur) < 0) return berth_fail(err, BERTH_STAGE_READONLY_PATHS, errno, "statfs %s", path);
    if (bind_remount(top, MS_RDONLY | cur) < 0)
      return berth_fail(err, BERTH_STAGE_READONLY_PATHS, errno, "remount %s read-only", path);
  }
  return 0;
}

int rootfs_make_readonly(struct berth_err *err) {
  cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "open /");
  unsigned long cur;
  if (mount_flags_of(root, &cur) < 0) return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "statfs /");
  if (mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | cur, NULL) < 0)
    return berth_fail(err, BERTH_STAGE_MOUNTS, errno, "remount the rootfs / read-only");
  return 0;
}
