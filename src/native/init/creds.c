#include "creds.h"

#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static const char *cap_name(unsigned cap, char *buf, size_t len) {
  static const char *const names[] = {
      "CAP_CHOWN",           "CAP_DAC_OVERRIDE",  "CAP_DAC_READ_SEARCH", "CAP_FOWNER",         "CAP_FSETID",
      "CAP_KILL",            "CAP_SETGID",        "CAP_SETUID",          "CAP_SETPCAP",        "CAP_LINUX_IMMUTABLE",
      "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",      "CAP_NET_RAW",        "CAP_IPC_LOCK",
      "CAP_IPC_OWNER",       "CAP_SYS_MODULE",    "CAP_SYS_RAWIO",       "CAP_SYS_CHROOT",     "CAP_SYS_PTRACE",
      "CAP_SYS_PACCT",       "CAP_SYS_ADMIN",     "CAP_SYS_BOOT",        "CAP_SYS_NICE",       "CAP_SYS_RESOURCE",
      "CAP_SYS_TIME",        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD",          "CAP_LEASE",          "CAP_AUDIT_WRITE",
      "CAP_AUDIT_CONTROL",   "CAP_SETFCAP",       "CAP_MAC_OVERRIDE",    "CAP_MAC_ADMIN",      "CAP_SYSLOG",
      "CAP_WAKE_ALARM",      "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",      "CAP_PERFMON",        "CAP_BPF",
      "CAP_CHECKPOINT_RESTORE"};
  if (cap < sizeof names / sizeof names[0]) return names[cap];
  snprintf(buf, len, "capability %u", cap);
  return buf;
}

int become_userns_root(struct berth_err *err) {
  if (setresgid(0, 0, 0) < 0)
    return berth_fail(err, BERTH_STAGE_IDS, errno, "setresgid 0 in the new user namespace (is gid 0 mapped?)");
  if (setresuid(0, 0, 0) < 0)
    return berth_fail(err, BERTH_STAGE_IDS, errno, "setresuid 0 in the new user namespace (is uid 0 mapped?)");
  return 0;
}

int caps_drop_bounding(const struct plan *p, struct berth_err *err) {
  /* PR_CAPBSET_READ fails with EINVAL past the kernel's last capability:
   * the same bound as /proc/sys/kernel/cap_last_cap, without needing /proc. */
  for (unsigned cap = 0; cap < 64; cap++) {
    int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    if (in < 0) break;
    if (in == 0 || (p->caps.bounding & (1ull << cap))) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      char b[32];
      return berth_fail(err, BERTH_STAGE_CAPS, errno, "drop %s from the bounding set", cap_name(cap, b, sizeof b));
    }
  }
  return 0;
}

int ids_apply(const struct plan *p, struct berth_err *err) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return berth_fail(err, BERTH_STAGE_IDS, errno, "prctl PR_SET_KEEPCAPS 1");
  if (!p->setgroups_deny) {
    size_t n = p->has_additional_gids ? p->n_additional_gids : 0;
    if (setgroups(n, n ? (const gid_t *)p->additional_gids : NULL) < 0)
      return berth_fail(err, BERTH_STAGE_IDS, errno, "setgroups (%zu additional gids)", n);
  }
  if (setresgid(p->gid, p->gid, p->gid) < 0) return berth_fail(err, BERTH_STAGE_IDS, errno, "setresgid %u", p->gid);
  if (setresuid(p->uid, p->uid, p->uid) < 0) return berth_fail(err, BERTH_STAGE_IDS, errno, "setresuid %u", p->uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return berth_fail(err, BERTH_STAGE_IDS, errno, "prctl PR_SET_KEEPCAPS 0");
  return 0;
}

int caps_apply(const struct plan *p, struct berth_err *err) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {
      {(uint32_t)p->caps.effective, (uint32_t)p->caps.permitted, (uint32_t)p->caps.inheritable},
      {(uint32_t)(p->caps.effective >> 32), (uint32_t)(p->caps.permitted >> 32), (uint32_t)(p->caps.inheritable >> 32)},
  };
  if (syscall(SYS_capset, &hdr, data) < 0)
    return berth_fail(err, BERTH_STAGE_CAPS, errno, "capset effective 0x%llx permitted 0x%llx inheritable 0x%llx",
                      (unsigned long long)p->caps.effective, (unsigned long long)p->caps.permitted,
                      (unsigned long long)p->caps.inheritable);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return berth_fail(err, BERTH_STAGE_CAPS, errno, "clear the ambient capabilities");
  for (unsigned cap = 0; cap < 64; cap++) {
    if (!(p->caps.ambient & (1ull << cap))) continue;
    /* Like runc: a cap the kernel lacks (EINVAL) or that is not in
     * permitted and inheritable (EPERM) is skipped, not fatal. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EINVAL && errno != EPERM) {
      char b[32];
      return berth_fail(err, BERTH_STAGE_CAPS, errno, "raise ambient %s", cap_name(cap, b, sizeof b));
    }
  }
  return 0;
}
