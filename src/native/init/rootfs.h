/*
 * The create-mode filesystem phases, in the order main.c runs them:
 * rootfs_prepare, mounts_apply, devices_create, symlinks_create (before the
 * HOOKS sync), then rootfs_pivot, masked_paths_apply, readonly_paths_apply
 * and rootfs_make_readonly (after it).
 */
#ifndef BERTH_INIT_ROOTFS_H
#define BERTH_INIT_ROOTFS_H

#include "plan.h"

/* Root propagation, the parent mount of the rootfs made private (pivot_root
 * needs it), then the rootfs bind-mounted onto itself. */
int rootfs_prepare(const struct plan *p, struct berth_err *err);
int mounts_apply(const struct plan *p, struct berth_err *err);
int devices_create(const struct plan *p, struct berth_err *err);
int symlinks_create(const struct plan *p, struct berth_err *err);
int rootfs_pivot(const struct plan *p, struct berth_err *err);
int masked_paths_apply(const struct plan *p, struct berth_err *err);
int readonly_paths_apply(const struct plan *p, struct berth_err *err);
int rootfs_make_readonly(struct berth_err *err);

#endif
