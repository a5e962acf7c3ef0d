#!/usr/bin/env bash
# Times berth-runtime against runc and crun through the same command line,
# with hyperfine, on one busybox bundle whose process is /bin/true:
#
#   run      create + start + wait + delete in one command
#   create   create alone (the previous container is deleted in --prepare)
#   start    start of a created container
#   state    state of a created container
#   kill     signal 0 to a created container's init (kill ID 0)
#   delete   delete of a stopped container
#
# Each runtime has its own --root and its own container ids. A runtime whose
# `--version` or `spec` fails is skipped and shown as n/a. The last line is
#
#   run: berth-runtime X ms, runc Y ms, crun Z ms
#
# (medians). hyperfine's JSON goes to $BENCH_OUT (default bench/.work/runtime).
#
# Environment: BENCH_RUNS (default 20), BENCH_WARMUP (default 3),
# BENCH_RUNTIMES (default "berth-runtime runc crun"), BENCH_OUT,
# BENCH_EXTRA_ROWS_CMD (see EXTRA_ROW_CMDS below), BENCH_CALLGRIND=1 (also
# count the instructions of berth-runtime's own process against node's, with
# valgrind: repeatable on a noisy machine where milliseconds are not).
#
# On a hybrid cgroup host (v1 hierarchies plus /sys/fs/cgroup/unified) crun
# refuses to run ("cgroups in hybrid mode not supported"), so the whole
# benchmark re-executes itself in a private mount namespace with the unified
# hierarchy unmounted; all three runtimes then see the same v1-only layout.
set -euo pipefail

# ---- phase helpers, run by hyperfine's --setup/--prepare/--cleanup ---------
# bash bench/runtime.sh --helper reset|created|stopped BIN ROOT BUNDLE ID
if [[ "${1:-}" == --helper ]]; then
  action=$2 bin=$3 root=$4 bundle=$5 id=$6
  "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
  case "$action" in
    reset) ;;
    created)
      "$bin" --root "$root" create --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1
      ;;
    stopped)
      "$bin" --root "$root" create --bundle "$bundle" "$id" </dev/null >/dev/null 2>&1
      "$bin" --root "$root" start "$id" >/dev/null
      for _ in $(seq 1 500); do
        state=$("$bin" --root "$root" state "$id" 2>/dev/null || true)
        if [[ $state =~ \"status\":\ *\"stopped\" ]]; then exit 0; fi
        sleep 0.01
      done
      echo "bench: container $id of $bin never stopped" >&2
      exit 1
      ;;
    *) echo "bench: unknown helper $action" >&2; exit 2 ;;
  esac
  exit 0
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
self="$repo/bench/runtime.sh"

if [[ -z "${BENCH_IN_NS:-}" ]] && mountpoint -q /sys/fs/cgroup/unified 2>/dev/null; then
  export BENCH_IN_NS=1
  exec unshare --mount --propagation private bash "$self" "$@"
fi
if [[ -n "${BENCH_IN_NS:-}" ]]; then
  umount /sys/fs/cgroup/unified
fi

command -v hyperfine >/dev/null || { echo "bench: hyperfine is missing (scripts/setup.sh installs it)" >&2; exit 1; }

RUNS=${BENCH_RUNS:-20}
WARMUP=${BENCH_WARMUP:-3}
read -r -a RUNTIMES <<<"${BENCH_RUNTIMES:-berth-runtime runc crun}"
PHASES=(run create start state kill delete)
OUT=${BENCH_OUT:-$repo/bench/.work/runtime}

# Extra rows for the table, from commands that measure something hyperfine
# cannot (the in-process runtime library, say). Each command prints lines
#   PHASE<TAB>NAME<TAB>MEDIAN_MS
# and is run with bash -c after the runtimes are timed.
EXTRA_ROW_CMDS=()
if [[ -n "${BENCH_EXTRA_ROWS_CMD:-}" ]]; then EXTRA_ROW_CMDS+=("$BENCH_EXTRA_ROWS_CMD"); fi

runtime_bin() {
  if [[ $1 == berth-runtime ]]; then echo "$repo/bin/berth-runtime"; else command -v "$1" || echo "$1"; fi
}

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
available=()
cleanup() {
  for rt in "${available[@]}"; do
    for phase in "${PHASES[@]}"; do
      "$(runtime_bin "$rt")" --root "$work/root-$rt" delete --force "bench-$phase-$rt-$$" >/dev/null 2>&1 || true
    done
  done
  rm -rf "$work"
}
trap cleanup EXIT

# ---- which runtimes work -------------------------------------------------
for rt in "${RUNTIMES[@]}"; do
  bin=$(runtime_bin "$rt")
  mkdir -p "$work/spec-$rt"
  if "$bin" --version >/dev/null 2>&1 && (cd "$work/spec-$rt" && "$bin" spec >/dev/null 2>&1) && [[ -s "$work/spec-$rt/config.json" ]]; then
    available+=("$rt")
  else
    echo "bench: skipping $rt ($bin --version or spec failed)" >&2
  fi
done
((${#available[@]})) || { echo "bench: no runtime works" >&2; exit 1; }

# ---- the bundle: busybox /bin/true, one config.json for all runtimes --------
# The config is the reference runtime's `spec` where it works: the oldest
# runtime-spec version, which every runtime accepts (crun 1.8 rejects 1.3.0).
spec_from=${available[0]}
for rt in crun runc; do
  if [[ " ${available[*]} " == *" $rt "* ]]; then spec_from=$rt; fi
done
bundle="$work/bundle"
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/proc" "$bundle/rootfs/sys" "$bundle/rootfs/dev" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/busybox"
for applet in sh true; do ln -s busybox "$bundle/rootfs/bin/$applet"; done
node -e '
  const fs = require("fs");
  const [from, to] = process.argv.slice(1);
  const spec = JSON.parse(fs.readFileSync(from, "utf8"));
  spec.process.args = ["/bin/true"];
  spec.process.terminal = false;
  fs.writeFileSync(to, JSON.stringify(spec, null, 2) + "\n");
' "$work/spec-$spec_from/config.json" "$bundle/config.json"

mkdir -p "$OUT"
rm -f "$OUT"/*.json
echo "bench: ${available[*]}; config.json from $spec_from spec; $RUNS runs after $WARMUP warmups; JSON in $OUT"

# ---- timing ----------------------------------------------------------------
# One hyperfine per phase and runtime, so one failing runtime costs only its own rows.
for phase in "${PHASES[@]}"; do
  for rt in "${available[@]}"; do
    bin=$(runtime_bin "$rt")
    root="$work/root-$rt"
    id="bench-$phase-$rt-$$"
    helper="bash $self --helper"
    args=(-N --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$OUT/$phase-$rt.json" --command-name "$rt $phase")
    case "$phase" in
      run)
        args+=(--cleanup "$helper reset $bin $root $bundle $id" "$bin --root $root run --bundle $bundle $id") ;;
      create)
        args+=(--prepare "$helper reset $bin $root $bundle $id" --cleanup "$helper reset $bin $root $bundle $id"
          "$bin --root $root create --bundle $bundle $id") ;;
      start)
        args+=(--prepare "$helper created $bin $root $bundle $id" --cleanup "$helper reset $bin $root $bundle $id"
          "$bin --root $root start $id") ;;
      state)
        args+=(--setup "$helper created $bin $root $bundle $id" --cleanup "$helper reset $bin $root $bundle $id"
          "$bin --root $root state $id") ;;
      kill)
        args+=(--setup "$helper created $bin $root $bundle $id" --cleanup "$helper reset $bin $root $bundle $id"
          "$bin --root $root kill $id 0") ;;
      delete)
        args+=(--prepare "$helper stopped $bin $root $bundle $id" --cleanup "$helper reset $bin $root $bundle $id"
          "$bin --root $root delete $id") ;;
    esac
    echo
    echo "== $phase: $rt"
    if ! hyperfine "${args[@]}" </dev/null; then
      echo "bench: $rt $phase failed" >&2
      rm -f "$OUT/$phase-$rt.json"
    fi
  done
done

extra="$work/extra.tsv"
: >"$extra"
# Node's own start-up: the floor under every berth-runtime command, measured
# the way bin/berth-runtime starts Node (without NODE_EXTRA_CA_CERTS, which
# makes Node parse a certificate file first); with it too when it is set.
floor_row() { # NAME COMMAND...
  local name=$1
  shift
  if hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/node.json" "$*" >/dev/null; then
    node -e 'const m = require(process.argv[1]).results[0].median * 1000;
      for (const p of ["state", "kill", "run"]) console.log(`${p}\t${process.argv[2]}\t${m}`);' "$work/node.json" "$name" >>"$extra"
  fi
}
floor_row 'node -e 0 (start-up floor)' env -u NODE_EXTRA_CA_CERTS node -e 0
if [[ -n "${NODE_EXTRA_CA_CERTS:-}" ]]; then
  floor_row 'node -e 0 with NODE_EXTRA_CA_CERTS (not berth-runtime'"'"'s floor)' node -e 0
fi
# state and kill against the floor measured right beside them: on a noisy
# machine the floor drifts by several ms between the phases above. One
# hyperfine times floor, state, kill, floor, in that order, on one created
# container; the floor is the mean of its two medians.
paired=""
if [[ " ${available[*]} " == *" berth-runtime "* ]]; then
  bin=$(runtime_bin berth-runtime)
  root="$work/root-paired"
  id="bench-paired-$$"
  if bash "$self" --helper created "$bin" "$root" "$bundle" "$id" &&
    hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/paired.json" \
      'env -u NODE_EXTRA_CA_CERTS node -e 0' "$bin --root $root state $id" "$bin --root $root kill $id 0" \
      'env -u NODE_EXTRA_CA_CERTS node -e 0' >/dev/null; then
    paired=$(node -e 'const r = require(process.argv[1]).results.map((x) => x.median * 1000);
      const floor = (r[0] + r[3]) / 2, f = (v) => `${v - floor >= 0 ? "+" : ""}${(v - floor).toFixed(1)} ms`;
      console.log(`berth-runtime over node -e 0 measured beside it (${floor.toFixed(1)} ms): state ${f(r[1])}, kill ${f(r[2])}`);' "$work/paired.json")
  fi
  bash "$self" --helper reset "$bin" "$root" "$bundle" "$id" || true
fi
# The runtime as a library: create+start+wait+delete in one process, no Node start-up per call.
if [[ " ${available[*]} " == *" berth-runtime "* ]]; then
  node "$repo/bench/runtime-library.mjs" "$bundle" "$RUNS" --tsv >>"$extra" || echo "bench: the library benchmark failed" >&2
fi
for cmd in "${EXTRA_ROW_CMDS[@]}"; do
  bash -c "$cmd" >>"$extra" || echo "bench: extra row command failed: $cmd" >&2
done

# ---- instructions (BENCH_CALLGRIND=1) ---------------------------------------
# callgrind counts the user-space instructions of the one process it runs
# (not the kernel, not berth-init or the container): the same count for the
# same build on a loaded or an idle machine.
if [[ -n "${BENCH_CALLGRIND:-}" && " ${available[*]} " == *" berth-runtime "* ]] && command -v valgrind >/dev/null; then
  # Without NODE_EXTRA_CA_CERTS, as bin/berth-runtime's shebang starts Node.
  ir() { env -u NODE_EXTRA_CA_CERTS valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/Collected/ {print $4}'; }
  bin=$(runtime_bin berth-runtime)
  root="$work/root-callgrind"
  base=$(ir node -e 0)
  node_ir_state=$( "$bin" --root "$root" create --bundle "$bundle" ir-$$ </dev/null >/dev/null 2>&1; ir node "$bin" --root "$root" state ir-$$ )
  node_ir_kill=$(ir node "$bin" --root "$root" kill ir-$$ 0)
  "$bin" --root "$root" delete --force ir-$$ >/dev/null 2>&1 || true
  node_ir_run=$(ir node "$bin" --root "$root" run --bundle "$bundle" ir-run-$$ </dev/null)
  echo
  echo "instructions (callgrind, berth-runtime's own process): node -e 0 $base"
  for pair in "state $node_ir_state" "kill $node_ir_kill" "run $node_ir_run"; do
    set -- $pair
    [[ -n "${2:-}" && -n "$base" ]] && echo "  $1 $2 (+$(( ($2 - base) * 1000 / base / 10 )).$(( ($2 - base) * 1000 / base % 10 ))% over node -e 0)"
  done
fi

# ---- the table -------------------------------------------------------------
echo
node - "$OUT" "$extra" "${RUNTIMES[*]}" "${PHASES[*]}" "$paired" <<'EOF'
const fs = require('fs');
const [out, extraFile, runtimesArg, phasesArg, paired] = process.argv.slice(2);
const runtimes = runtimesArg.split(' ');
const phases = phasesArg.split(' ');
const median = (phase, rt) => {
  try {
    const j = JSON.parse(fs.readFileSync(`${out}/${phase}-${rt}.json`, 'utf8'));
    return j.results[0].median * 1000;
  } catch {
    return undefined;
  }
};
const fmt = (v) => (v === undefined ? 'n/a' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (v, base) => (v === undefined || base === undefined ? 'n/a' : `${(v / base).toFixed(2)}x`);
const others = runtimes.filter((r) => r !== 'runc');
const header = ['phase', ...runtimes.map((r) => `${r} ms`), ...others.map((r) => `${r}/runc`)];
const rows = [header];
for (const phase of phases) {
  const m = Object.fromEntries(runtimes.map((r) => [r, median(phase, r)]));
  rows.push([phase, ...runtimes.map((r) => fmt(m[r])), ...others.map((r) => ratio(m[r], m.runc))]);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
console.log('medians (ms) and ratios against runc');
for (const r of rows) console.log(line(r));

const extra = fs.readFileSync(extraFile, 'utf8').split('\n').filter(Boolean);
if (extra.length) {
  console.log('\nextra rows');
  for (const l of extra) {
    const [phase, name, ms] = l.split('\t');
    const v = Number(ms);
    console.log(`${phase}  ${name}  ${fmt(v)} ms  ${ratio(v, median(phase, 'runc'))} of runc`);
  }
}
const floorLine = extra.map((l) => l.split('\t')).find(([, name]) => name === 'node -e 0 (start-up floor)');
if (floorLine && runtimes.includes('berth-runtime')) {
  const floor = Number(floorLine[2]);
  const over = (phase) => {
    const v = median(phase, 'berth-runtime');
    return v === undefined ? 'n/a' : `${v - floor >= 0 ? '+' : ''}${(v - floor).toFixed(1)} ms`;
  };
  console.log(`\nberth-runtime over node -e 0 (${fmt(floor)} ms): state ${over('state')}, kill ${over('kill')}`);
}
if (paired) console.log(paired);
const run = (rt) => (runtimes.includes(rt) ? fmt(median('run', rt)) : 'n/a');
console.log(`run: berth-runtime ${run('berth-runtime')} ms, runc ${run('runc')} ms, crun ${run('crun')} ms`);
EOF
