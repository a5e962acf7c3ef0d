/**
 * Docker's default seccomp profile and its conversion to the OCI
 * `linux.seccomp` of one container, as moby's profiles/seccomp does
 * (`setupSeccomp` in seccomp_linux.go).
 *
 * The profile is moby's profiles/seccomp/default.json as of commit
 * 00f3d189e420d485e42d15fe494f96d272284e0e (Docker 26/27: AF_VSOCK sockets
 * refused, `name_to_handle_at` and the `pkey_*` calls allowed, CAP_BPF and
 * CAP_PERFMON rules), copied rule for rule: an allowlist with
 * SCMP_ACT_ERRNO / EPERM as the default action. A rule may be limited to
 * some architectures, to containers that hold some capabilities, or to a
 * minimum kernel (`includes`), or skipped for them (`excludes`); those are
 * resolved here for the host's architecture, the spec's bounding set and
 * the running kernel, so the runtime receives plain rules.
 */
import { release } from 'node:os';

import { BerthError } from '../../errors/index.js';
import { kernelAtLeast } from '../../util/kernel-version.js';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSyscall } from '../../oci/runtime-spec.js';

/** Conditions of one profile rule; every listed condition must hold. */
export interface ProfileFilter {
  /** Architectures in moby's (libseccomp's native) spelling: amd64, x86, arm64, s390x ... */
  arches?: string[];
  caps?: string[];
  minKernel?: string;
}

/** One rule of a moby seccomp profile. */
export interface ProfileRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: LinuxSeccompArg[];
  includes?: ProfileFilter;
  excludes?: ProfileFilter;
}

/** A moby seccomp profile (the JSON Docker's `--security-opt seccomp=FILE` reads). */
export interface SeccompProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap: Array<{ architecture: string; subArchitectures: string[] | null }>;
  syscalls: ProfileRule[];
}

const words = (s: string): string[] => s.trim().split(/\s+/);

const ALWAYS_ALLOWED = words(`
  accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
  clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2
  dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait
  epoll_wait_old eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64
  fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchown fchown32 fchownat fcntl
  fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64
  fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_time64 futex_waitv
  futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid
  getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid
  getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list
  getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32
  getxattr inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl
  io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup
  io_submit io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
  landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen
  listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise membarrier
  memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
  mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
  mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall
  munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open
  pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl
  pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev
  pwritev2 read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64
  recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
  rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr
  sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
  sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr
  sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop
  semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
  setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority
  setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
  set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr
  shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
  socketcall socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
  sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun
  timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime
  timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit
  umask uname unlink unlinkat utime utimensat utimensat_time64 utimes vfork vmsplice wait4
  waitid waitpid write writev
`);

const ALLOW = 'SCMP_ACT_ALLOW';
const personality = (value: number): ProfileRule => ({ names: ['personality'], action: ALLOW, args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }] });
const withCap = (cap: string, names: string): ProfileRule => ({ names: words(names), action: ALLOW, includes: { caps: [cap] } });
/** The namespace flags of clone(2) (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET): a clone without CAP_SYS_ADMIN may set none of them. */
const CLONE_NAMESPACE_FLAGS = 2114060288;

/** moby's profiles/seccomp/default.json. */
export const DOCKER_DEFAULT_PROFILE: SeccompProfile = {
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrnoRet: 1,
  archMap: [
    { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
    { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
    { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
    { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
    { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
    { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
    { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
    { architecture: 'SCMP_ARCH_RISCV64', subArchitectures: null },
  ],
  syscalls: [
    { names: ALWAYS_ALLOWED, action: ALLOW },
    { names: ['process_vm_readv', 'process_vm_writev', 'ptrace'], action: ALLOW, includes: { minKernel: '4.8' } },
    // AF_VSOCK (40) sockets reach the hypervisor host; every other family is allowed.
    { names: ['socket'], action: ALLOW, args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }] },
    personality(0),
    personality(8),
    personality(131072),
    personality(131080),
    personality(4294967295),
    { names: ['sync_file_range2', 'swapcontext'], action: ALLOW, includes: { arches: ['ppc64le'] } },
    {
      names: words('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls'),
      action: ALLOW,
      includes: { arches: ['arm', 'arm64'] },
    },
    { names: ['arch_prctl'], action: ALLOW, includes: { arches: ['amd64', 'x32'] } },
    { names: ['modify_ldt'], action: ALLOW, includes: { arches: ['amd64', 'x32', 'x86'] } },
    { names: words('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr'), action: ALLOW, includes: { arches: ['s390', 's390x'] } },
    { names: ['riscv_flush_icache'], action: ALLOW, includes: { arches: ['riscv64'] } },
    withCap('CAP_DAC_READ_SEARCH', 'open_by_handle_at'),
    withCap(
      'CAP_SYS_ADMIN',
      `bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr
       move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns
       syslog umount umount2 unshare`,
    ),
    {
      names: ['clone'],
      action: ALLOW,
      args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }],
      excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] },
    },
    {
      // s390 passes clone's flags as the second argument.
      names: ['clone'],
      action: ALLOW,
      args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }],
      includes: { arches: ['s390', 's390x'] },
      excludes: { caps: ['CAP_SYS_ADMIN'] },
    },
    // clone3 passes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone.
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    withCap('CAP_SYS_BOOT', 'reboot'),
    withCap('CAP_SYS_CHROOT', 'chroot'),
    withCap('CAP_SYS_MODULE', 'delete_module init_module finit_module'),
    withCap('CAP_SYS_PACCT', 'acct'),
    withCap('CAP_SYS_PTRACE', 'kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace'),
    withCap('CAP_SYS_RAWIO', 'iopl ioperm'),
    withCap('CAP_SYS_TIME', 'settimeofday stime clock_settime clock_settime64'),
    withCap('CAP_SYS_TTY_CONFIG', 'vhangup'),
    withCap('CAP_SYS_NICE', 'get_mempolicy mbind set_mempolicy set_mempolicy_home_node'),
    withCap('CAP_SYSLOG', 'syslog'),
    withCap('CAP_BPF', 'bpf'),
    withCap('CAP_PERFMON', 'perf_event_open'),
  ],
};

/** Node's `process.arch` → moby's native architecture name. */
const NODE_TO_NATIVE: Readonly<Record<string, string>> = {
  x64: 'amd64',
  ia32: 'x86',
  arm: 'arm',
  arm64: 'arm64',
  mips: 'mips',
  mipsel: 'mipsel',
  ppc: 'ppc',
  ppc64: 'ppc64',
  s390: 's390',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** moby's native architecture name → the SCMP_ARCH_* of the archMap. */
const NATIVE_TO_SECCOMP: Readonly<Record<string, string>> = {
  x86: 'SCMP_ARCH_X86',
  amd64: 'SCMP_ARCH_X86_64',
  arm: 'SCMP_ARCH_ARM',
  arm64: 'SCMP_ARCH_AARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mipsel: 'SCMP_ARCH_MIPSEL',
  ppc: 'SCMP_ARCH_PPC',
  ppc64: 'SCMP_ARCH_PPC64',
  ppc64le: 'SCMP_ARCH_PPC64LE',
  s390: 'SCMP_ARCH_S390',
  s390x: 'SCMP_ARCH_S390X',
  riscv64: 'SCMP_ARCH_RISCV64',
};

export interface SeccompSetupOptions {
  /** Architecture in moby's spelling (amd64, arm64 ...); default the host's. */
  arch?: string;
  /** Kernel release such as `6.1.0-13-amd64`; default the running kernel's. */
  kernel?: string;
}

function atLeast(kernel: string, min: string): boolean {
  const yes = kernelAtLeast(min, kernel);
  if (yes === undefined) throw new BerthError('INTERNAL', `seccomp profile: cannot compare kernel \`${kernel}\` with minKernel \`${min}\``);
  return yes;
}

/**
 * The OCI `linux.seccomp` for a container whose bounding capability set is
 * `boundingCaps`: the architectures of the host's archMap entry, and the
 * rules whose conditions hold (moby's `setupSeccomp`).
 */
export function seccompFromProfile(profile: SeccompProfile, boundingCaps: readonly string[], options: SeccompSetupOptions = {}): LinuxSeccomp {
  const arch = options.arch ?? NODE_TO_NATIVE[process.arch] ?? process.arch;
  const kernel = options.kernel ?? release();
  const out: LinuxSeccomp = { defaultAction: profile.defaultAction };
  if (profile.defaultErrnoRet !== undefined) out.defaultErrnoRet = profile.defaultErrnoRet;
  const seccompArch = NATIVE_TO_SECCOMP[arch];
  const entry = profile.archMap.find((a) => a.architecture === seccompArch);
  if (entry) out.architectures = [entry.architecture, ...(entry.subArchitectures ?? [])];
  // moby: a rule is kept only when every include condition holds, and skipped when any exclude condition does.
  const included = (f: ProfileFilter | undefined): boolean =>
    (!f?.arches?.length || f.arches.includes(arch)) &&
    (f?.caps ?? []).every((c) => boundingCaps.includes(c)) &&
    (!f?.minKernel || atLeast(kernel, f.minKernel));
  const excluded = (f: ProfileFilter | undefined): boolean =>
    (f?.arches ?? []).includes(arch) || (f?.caps ?? []).some((c) => boundingCaps.includes(c)) || (!!f?.minKernel && atLeast(kernel, f.minKernel));
  out.syscalls = [];
  for (const rule of profile.syscalls) {
    if (excluded(rule.excludes) || !included(rule.includes)) continue;
    const call: LinuxSyscall = { names: [...rule.names], action: rule.action };
    if (rule.errnoRet !== undefined) call.errnoRet = rule.errnoRet;
    if (rule.args?.length) call.args = rule.args.map((a) => ({ ...a }));
    out.syscalls.push(call);
  }
  return out;
}

/** Docker's default seccomp filter for a container with this bounding set, on this host. */
export function defaultSeccomp(boundingCaps: readonly string[], options: SeccompSetupOptions = {}): LinuxSeccomp {
  return seccompFromProfile(DOCKER_DEFAULT_PROFILE, boundingCaps, options);
}
