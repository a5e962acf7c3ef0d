/*
 * The cgroup v2 device filter, generated from the plan's rules the way
 * runc's libcontainer/cgroups/devices/devicefilter.go (after crun's ebpf.c)
 * generates it, loaded with BPF_PROG_LOAD and attached to the container's
 * cgroup with BPF_PROG_ATTACH (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI).
 *
 * The program, for rules 0..n-1 (the last matching rule decides, so the
 * blocks are emitted from rule n-1 down to rule 0 and the first block that
 * matches returns):
 *
 *   r2 = ctx->access_type & 0xffff     device type, BPF_DEVCG_DEV_*
 *   r3 = ctx->access_type >> 16        requested access, BPF_DEVCG_ACC_*
 *   r4 = ctx->major
 *   r5 = ctx->minor
 *   block of rule i:
 *     if r2 != type goto next                       (not for type 'a')
 *     r1 = r3 & access                              (not when access is rwm)
 *     allow: if r1 != r3 goto next   every requested bit must be granted
 *     deny:  if r1 == 0 goto next    any requested bit is refused
 *     if r4 != major goto next                      (not for any)
 *     if r5 != minor goto next                      (not for any)
 *     return allow ? 1 : 0
 *   next: ...
 *   return 0                                        nothing matched: deny
 *
 * The allow/deny asymmetry is the v1 devices controller's
 * (security/device_cgroup.c: match_exception for grants,
 * match_exception_partial for denials). berth-runtime sends runc's
 * normalized rule set (one 'a' rule with the default verdict, then
 * exceptions with the other), for which this is exactly runc's program.
 */
#include "devfilter.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#define DEV_ANY UINT64_MAX
#define ACC_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)
/* The name berth's programs carry, so that `update` replaces only its own. */
#define PROG_NAME "berth_devices"
/* Verifier output kept when a load fails; the message quotes its last line. */
#define LOG_BYTES (64 * 1024)

/* Registers, as in the comment above (r1 holds the context on entry). */
enum { R_RET = BPF_REG_0, R_CTX = BPF_REG_1, R_TMP = BPF_REG_1, R_TYPE = BPF_REG_2, R_ACCESS = BPF_REG_3, R_MAJOR = BPF_REG_4, R_MINOR = BPF_REG_5 };

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  struct bpf_insn i;
  memset(&i, 0, sizeof i);
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

static size_t rule_len(const struct plan_device_rule *r) {
  return (r->type != 'a' ? 1 : 0) + (r->access != ACC_ALL ? 3 : 0) + (r->major != DEV_ANY ? 1 : 0) +
         (r->minor != DEV_ANY ? 1 : 0) + 2;
}

/* The block of one rule into out[0..rule_len(r)). A jump's offset counts
 * the instructions after it, so "goto next" from out[k] is len - k - 1. */
static size_t emit_rule(struct bpf_insn *out, const struct plan_device_rule *r) {
  const size_t len = rule_len(r);
  size_t n = 0;
#define GOTO_NEXT(op, src_kind, dst, src, imm) \
  (out[n] = insn(BPF_JMP | (op) | (src_kind), (dst), (src), (int16_t)(len - n - 1), (imm)), n++)
  if (r->type != 'a')
    GOTO_NEXT(BPF_JNE, BPF_K, R_TYPE, 0, r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
  if (r->access != ACC_ALL) {
    out[n++] = insn(BPF_ALU | BPF_MOV | BPF_X, R_TMP, R_ACCESS, 0, 0);
    out[n++] = insn(BPF_ALU | BPF_AND | BPF_K, R_TMP, 0, 0, (int32_t)r->access);
    if (r->allow) GOTO_NEXT(BPF_JNE, BPF_X, R_TMP, R_ACCESS, 0);
    else GOTO_NEXT(BPF_JEQ, BPF_K, R_TMP, 0, 0);
  }
  /* plan_validate keeps majors and minors within a signed 32-bit
   * immediate, which the kernel sign-extends before comparing. */
  if (r->major != DEV_ANY) GOTO_NEXT(BPF_JNE, BPF_K, R_MAJOR, 0, (int32_t)r->major);
  if (r->minor != DEV_ANY) GOTO_NEXT(BPF_JNE, BPF_K, R_MINOR, 0, (int32_t)r->minor);
#undef GOTO_NEXT
  out[n++] = insn(BPF_ALU | BPF_MOV | BPF_K, R_RET, 0, 0, r->allow ? 1 : 0);
  out[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  return n;
}

/* The whole program (malloc'ed) and its length. */
static struct bpf_insn *build_program(const struct plan *p, size_t *count) {
  size_t total = 6 + 2;
  for (size_t i = 0; i < p->n_device_rules; i++) total += rule_len(&p->device_rules[i]);
  struct bpf_insn *prog = calloc(total, sizeof *prog);
  if (prog == NULL) return NULL;
  size_t n = 0;
  prog[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_TYPE, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
  prog[n++] = insn(BPF_ALU | BPF_AND | BPF_K, R_TYPE, 0, 0, 0xffff);
  prog[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_ACCESS, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
  prog[n++] = insn(BPF_ALU | BPF_RSH | BPF_K, R_ACCESS, 0, 0, 16);
  prog[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_MAJOR, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
  prog[n++] = insn(BPF_LDX | BPF_MEM | BPF_W, R_MINOR, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
  /* A rule that matches every access (type 'a', rwm, any major and minor)
   * returns unconditionally: the rules before it can never decide, and the
   * verifier refuses the unreachable code their blocks would be. */
  bool returned = false;
  for (size_t i = p->n_device_rules; i-- > 0 && !returned;) {
    n += emit_rule(prog + n, &p->device_rules[i]);
    returned = rule_len(&p->device_rules[i]) == 2;
  }
  if (!returned) {
    prog[n++] = insn(BPF_ALU | BPF_MOV | BPF_K, R_RET, 0, 0, 0);
    prog[n++] = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }
  *count = n;
  return prog;
}

static int sys_bpf(int cmd, union bpf_attr *attr) {
  return (int)syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

static int prog_load(const struct bpf_insn *prog, size_t count, char *log, size_t log_size) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)prog;
  attr.insn_cnt = (uint32_t)count;
  /* The kernel's MODULE_LICENSE form; runc uses the same. */
  attr.license = (uint64_t)(uintptr_t) "Apache";
  /* Names the program in bpftool and BPF_OBJ_GET_INFO_BY_FD, so that a
   * later `update` can tell berth's filter from others. */
  strncpy(attr.prog_name, PROG_NAME, sizeof attr.prog_name - 1);
  if (log != NULL) {
    attr.log_level = 1;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = (uint32_t)log_size;
  }
  return sys_bpf(BPF_PROG_LOAD, &attr);
}

/* The verifier's complaint: the last non-empty line of its log that is not
 * one of the statistics lines it ends with ("processed N insns ...",
 * "verification time ..."). Cuts the log in place. */
static const char *verifier_reason(char *log) {
  log[LOG_BYTES - 1] = '\0';
  for (;;) {
    size_t len = strlen(log);
    while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' ')) log[--len] = '\0';
    char *nl = strrchr(log, '\n');
    char *line = nl != NULL ? nl + 1 : log;
    if (nl == NULL || (strncmp(line, "processed ", 10) != 0 && strncmp(line, "verification time", 17) != 0)) return line;
    *nl = '\0';
  }
}

/* Load the program. Kernels before 5.11 charge BPF memory to
 * RLIMIT_MEMLOCK, often 64 KiB (runc raises it too, #2167); the old limit is
 * put back at once because the container process would inherit ours. */
static int load(const struct plan *p, const struct bpf_insn *prog, size_t count, struct berth_err *err) {
  struct rlimit old, unlimited = {RLIM_INFINITY, RLIM_INFINITY};
  bool restore = getrlimit(RLIMIT_MEMLOCK, &old) == 0 && setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0;
  int fd = prog_load(prog, count, NULL, 0);
  int e = errno;
  if (fd < 0) {
    /* Again with the verifier's log, only to explain the failure. */
    cleanup_free char *log = calloc(1, LOG_BYTES);
    int again = log != NULL ? prog_load(prog, count, log, LOG_BYTES) : -1;
    if (again >= 0) close(again);
    if (restore) setrlimit(RLIMIT_MEMLOCK, &old);
    const char *why = log != NULL && log[0] != '\0' ? verifier_reason(log) : "";
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e, "load the device filter for cgroup %s (%zu rules, %zu instructions)%s%.512s",
                      p->device_cgroup, p->n_device_rules, count, why[0] != '\0' ? ": verifier: " : "", why);
  }
  if (restore && setrlimit(RLIMIT_MEMLOCK, &old) < 0) {
    e = errno;
    close(fd);
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e, "restore RLIMIT_MEMLOCK after loading the device filter");
  }
  return fd;
}

/* The container's cgroup v2 directory, opened. */
static int open_cgroup(const struct plan *p, struct berth_err *err) {
  cleanup_close int dir = open(p->device_cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, errno, "open cgroup %s for the device filter", p->device_cgroup);
  struct statfs sfs;
  if (fstatfs(dir, &sfs) < 0) return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, errno, "statfs cgroup %s", p->device_cgroup);
  if (sfs.f_type != CGROUP2_SUPER_MAGIC)
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, ENOTDIR, "%s is not a cgroup v2 directory (filesystem type 0x%lx)",
                      p->device_cgroup, (unsigned long)sfs.f_type);
  return take_fd(&dir);
}

/* The program of p->device_rules, built and loaded: its fd. */
static int build_and_load(const struct plan *p, struct berth_err *err) {
  size_t count = 0;
  cleanup_free struct bpf_insn *prog = build_program(p, &count);
  if (prog == NULL)
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, ENOMEM, "build the device filter (%zu rules)", p->n_device_rules);
  return load(p, prog, count, err);
}

/* BPF_PROG_ATTACH of prog to the cgroup dir. ALLOW_MULTI: programs of
 * ancestor cgroups, and others on this one, keep running as well, and an
 * access must pass all of them (bpf(2), BPF_PROG_ATTACH). With replace >= 0,
 * BPF_F_REPLACE swaps prog in for that attached program in one step. The
 * attachment holds the program; the caller's fd can go. */
static int attach(int dir, int prog, int replace) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.target_fd = (uint32_t)dir;
  attr.attach_bpf_fd = (uint32_t)prog;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (replace >= 0) {
    attr.attach_flags |= BPF_F_REPLACE;
    attr.replace_bpf_fd = (uint32_t)replace;
  }
  return sys_bpf(BPF_PROG_ATTACH, &attr);
}

int devfilter_attach(const struct plan *p, struct berth_err *err) {
  if (p->device_cgroup == NULL) return 0;
  cleanup_close int dir = open_cgroup(p, err);
  if (dir < 0) return -1;
  cleanup_close int fd = build_and_load(p, err);
  if (fd < 0) return -1;
  if (attach(dir, fd, -1) < 0)
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, errno, "attach the device filter to cgroup %s (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)",
                      p->device_cgroup);
  return 0;
}

/* ---- replacing the filter of a running container (`update`) ------------ */

/* The kernel keeps at most this many programs of one attach type on a
 * cgroup (BPF_CGROUP_MAX_PROGS, kernel/bpf/cgroup.c). */
#define MAX_PROGS 64

/* The fds of berth's programs attached to a cgroup. */
struct progs {
  int fd[MAX_PROGS];
  size_t n;
};

static void progs_close(struct progs *ps) {
  for (size_t i = 0; i < ps->n; i++) close(ps->fd[i]);
  ps->n = 0;
}

/* Querying, reaching a program by id and loading need CAP_SYS_ADMIN (or
 * CAP_BPF with CAP_NET_ADMIN) in the initial user namespace: a rootless
 * runtime gets EPERM, and runc's update cannot change the filter either. */
static const char *privilege_hint(int e) {
  return e == EPERM ? "; changing cgroup v2 device rules needs CAP_SYS_ADMIN in the initial user namespace, which a rootless runtime lacks: run update as root"
                    : "";
}

/* The ids of the programs attached directly to dir (not its ancestors':
 * query_flags 0). */
static int query_ids(const char *path, int dir, uint32_t ids[MAX_PROGS], uint32_t *n, struct berth_err *err) {
  union bpf_attr q;
  memset(&q, 0, sizeof q);
  q.query.target_fd = (uint32_t)dir;
  q.query.attach_type = BPF_CGROUP_DEVICE;
  q.query.prog_ids = (uint64_t)(uintptr_t)ids;
  q.query.prog_cnt = MAX_PROGS;
  if (sys_bpf(BPF_PROG_QUERY, &q) < 0) {
    int e = errno;
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e, "query the device filters of cgroup %s (BPF_PROG_QUERY)%s", path, privilege_hint(e));
  }
  *n = q.query.prog_cnt < MAX_PROGS ? q.query.prog_cnt : MAX_PROGS;
  return 0;
}

/* An fd of program id and its name (BPF_OBJ_NAME_LEN bytes); 0 with
 * *fd = -1 when it is gone (detached and freed since the query). */
static int open_program(const char *path, uint32_t id, int *fd, char name[BPF_OBJ_NAME_LEN], struct berth_err *err) {
  union bpf_attr g;
  memset(&g, 0, sizeof g);
  g.prog_id = id;
  cleanup_close int pfd = sys_bpf(BPF_PROG_GET_FD_BY_ID, &g);
  *fd = -1;
  if (pfd < 0 && errno == ENOENT) return 0;
  if (pfd < 0) {
    int e = errno;
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e, "open device filter program %u of cgroup %s (BPF_PROG_GET_FD_BY_ID)%s", id, path,
                      privilege_hint(e));
  }
  struct bpf_prog_info info;
  memset(&info, 0, sizeof info);
  union bpf_attr o;
  memset(&o, 0, sizeof o);
  o.info.bpf_fd = (uint32_t)pfd;
  o.info.info_len = sizeof info;
  o.info.info = (uint64_t)(uintptr_t)&info;
  if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &o) < 0)
    return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, errno, "read the name of device filter program %u of cgroup %s", id, path);
  memcpy(name, info.name, BPF_OBJ_NAME_LEN);
  name[BPF_OBJ_NAME_LEN - 1] = '\0';
  *fd = take_fd(&pfd);
  return 0;
}

/* berth's filters on dir: those named PROG_NAME. Programs that others
 * attached (systemd's for DeviceAllow=) are left alone; they keep
 * restricting, since every attached program must allow an access. */
static int find_berth_programs(const struct plan *p, int dir, struct progs *out, struct berth_err *err) {
  uint32_t ids[MAX_PROGS], n;
  if (query_ids(p->device_cgroup, dir, ids, &n, err) < 0) return -1;
  out->n = 0;
  for (uint32_t i = 0; i < n; i++) {
    int fd;
    char name[BPF_OBJ_NAME_LEN];
    if (open_program(p->device_cgroup, ids[i], &fd, name, err) < 0) return -1;
    if (fd < 0) continue;
    if (strcmp(name, PROG_NAME) == 0) out->fd[out->n++] = fd;
    else close(fd);
  }
  return 0;
}

int devfilter_list(const char *path, FILE *out, struct berth_err *err) {
  cleanup_close int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, errno, "open cgroup %s", path);
  uint32_t ids[MAX_PROGS], n;
  if (query_ids(path, dir, ids, &n, err) < 0) return -1;
  fputc('[', out);
  bool first = true;
  for (uint32_t i = 0; i < n; i++) {
    int fd;
    char name[BPF_OBJ_NAME_LEN];
    if (open_program(path, ids[i], &fd, name, err) < 0) return -1;
    if (fd < 0) continue;
    close(fd);
    /* Kernel program names are [A-Za-z0-9_.]: nothing to escape. */
    fprintf(out, "%s{\"id\":%u,\"name\":\"%s\"}", first ? "" : ",", ids[i], name);
    first = false;
  }
  fputs("]\n", out);
  return fflush(out) == 0 ? 0 : berth_fail(err, BERTH_STAGE_DEVICE_FILTER, errno, "write the device filter list");
}

/* Never a moment without a filter, nor one that allows more than both the
 * old rules and the new: with exactly one old program BPF_F_REPLACE swaps
 * them atomically; otherwise (kernels before 5.6, several old programs) the
 * new program is attached first, so that while both run an access must pass
 * both, and only then are the old ones detached (runc's
 * LoadAttachCgroupDeviceFilter). Without rules the new state allows every
 * device, and the old filters are only detached. */
int devfilter_replace(const struct plan *p, struct berth_err *err) {
  cleanup_close int dir = open_cgroup(p, err);
  if (dir < 0) return -1;
  __attribute__((cleanup(progs_close))) struct progs old = {.n = 0};
  if (find_berth_programs(p, dir, &old, err) < 0) return -1;
  if (p->n_device_rules != 0) {
    cleanup_close int fd = build_and_load(p, err);
    if (fd < 0) {
      if (err->errnum == EPERM) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        berth_fail(err, BERTH_STAGE_DEVICE_FILTER, EPERM, "%s%s", why, privilege_hint(EPERM));
      }
      return -1;
    }
    bool replaced = false;
    if (old.n == 1) {
      replaced = attach(dir, fd, old.fd[0]) == 0;
      /* EINVAL: the kernel predates BPF_F_REPLACE; attach, then detach. */
      if (!replaced && errno != EINVAL) {
        int e = errno;
        return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e, "replace the device filter of cgroup %s (BPF_F_ALLOW_MULTI|BPF_F_REPLACE)%s",
                          p->device_cgroup, privilege_hint(e));
      }
    }
    if (replaced) return 0;
    if (attach(dir, fd, -1) < 0) {
      int e = errno;
      return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e, "attach the new device filter to cgroup %s (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI)%s",
                        p->device_cgroup, privilege_hint(e));
    }
  }
  for (size_t i = 0; i < old.n; i++) {
    union bpf_attr d;
    memset(&d, 0, sizeof d);
    d.target_fd = (uint32_t)dir;
    d.attach_bpf_fd = (uint32_t)old.fd[i];
    d.attach_type = BPF_CGROUP_DEVICE;
    /* ENOENT: someone detached it meanwhile, which is what we want. */
    if (sys_bpf(BPF_PROG_DETACH, &d) < 0 && errno != ENOENT) {
      int e = errno;
      return berth_fail(err, BERTH_STAGE_DEVICE_FILTER, e,
                        "detach old device filter %zu of %zu from cgroup %s%s; it stays attached and keeps restricting the container",
                        i + 1, old.n, p->device_cgroup, p->n_device_rules != 0 ? " after attaching the new one" : "");
    }
  }
  return 0;
}
