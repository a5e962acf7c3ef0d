#!/usr/bin/env bash
# The shim benchmark: N long-running containers (busybox `sleep`) started one
# after another through berth-shim, then through conmon (Debian's conmon 2.1,
# where it is installed), with the same OCI runtime and a shared read-only
# busybox rootfs; then, in rounds where the shims take turns, one container
# writing 100-byte lines as fast as it can (`yes`), its log file's growth
# measured over a few seconds (the median round is reported).
#
# For each shim it prints the total start time (shim launch + runtime create +
# runtime start, sequential), the average RSS, PSS and private memory per shim
# (Private_Clean + Private_Dirty from /proc/PID/smaps_rollup, read while all N
# run), and the log throughput in MiB/s into the log file. The last line is
#
#   shim: berth-shim N containers, start S s, private P KiB each, log L MiB/s; conmon N containers, start S s, private P KiB each, log L MiB/s
#
# Environment: BENCH_N (default 50; up to 1000 where the machine allows),
# BENCH_RUNTIME (default runc; berth-runtime or crun work too), BENCH_SHIMS
# (default "berth-shim conmon"), BENCH_LOG_SECONDS (default 3),
# BENCH_LOG_ROUNDS (default 3), BENCH_WORK
# (default bench/.work; a temp directory under it is removed at the end).
# Needs root. Every container it starts is killed and deleted at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "bench/shim.sh: needs root (it runs containers)" >&2
  exit 1
fi
[[ -x dist/native/berth-shim ]] || make -s -C src/native
if [[ ! -f dist/bench/shim/run.js || bench/shim/run.ts -nt dist/bench/shim/run.js ]]; then
  # The whole tree compiles together; an error elsewhere does not stop the emit.
  npx tsc -p tsconfig.json >/dev/null || [[ -f dist/bench/shim/run.js ]]
fi
ulimit -n 65536 2>/dev/null || true
exec node dist/bench/shim/run.js "$@"
