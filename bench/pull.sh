#!/usr/bin/env bash
# Cold pull + unpack of an image with a busybox layer and a 200 MiB layer
# (half random, half text) from a local docker-registry, by berth
# (pullAndUnpack: download, verify, decompress and unpack in one streaming
# pass per layer, one overlay lower directory per layer), ctr
# (containerd 1.6, when its daemon answers), podman (private --root) and
# skopeo (download only, no unpack). Each run starts from empty storage.
# The last line is
#
#   pull+unpack: berth X s, ctr Y s, podman Z s, skopeo-download W s
#
# (medians; n/a for a tool that is missing or failed).
#
# Environment: BENCH_RUNS (default 5), BENCH_OUT (default bench/.work/pull).
# Needs the TypeScript build (npm run build:ts).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${BENCH_RUNS:-5}
OUT=${BENCH_OUT:-bench/.work/pull}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d /var/tmp/berth-bench-pull.XXXXXX)
reg_pid=

cleanup() {
  if [[ -n "$reg_pid" ]]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

[[ -f dist/bench/pull/berth-pull.js ]] || { echo "pull.sh: run npm run build:ts first" >&2; exit 1; }

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
/usr/bin/docker-registry serve "$work/registry.yml" 2>"$OUT/registry.log" &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.1; done

ref=127.0.0.1:$port/bench:1
echo "pull.sh: building the image"
node dist/bench/pull/make-image.js "$work/layout" >/dev/null
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/layout:1" "docker://$ref"
echo "pull.sh: layer sizes (compressed): $(ls -l "$work"/layout/blobs/sha256 | awk 'NR>1{print $5}' | sort -n | tail -2 | tr '\n' ' ')"

now() { date +%s.%N; }
declare -A times
run_tool() { # name command...
  local name=$1; shift
  local t0 t1
  t0=$(now)
  if "$@" >>"$OUT/$name.log" 2>&1; then
    t1=$(now)
    times[$name]+="$(echo "$t1 - $t0" | bc) "
  else
    echo "pull.sh: $name failed (see $OUT/$name.log)" >&2
  fi
}

have_ctr=no
if command -v ctr >/dev/null && ctr version >/dev/null 2>&1; then have_ctr=yes; fi

for i in $(seq "$RUNS"); do
  rm -rf "$work/berth" "$work/skopeo" "$work/podman"
  sync
  run_tool berth node dist/bench/pull/berth-pull.js "$ref" "$work/berth/store" "$work/berth/layers"
  grep -h peak-rss "$OUT/berth.log" | tail -1 | sed "s/^/pull.sh: berth run $i /"
  run_tool skopeo skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$ref" "dir:$work/skopeo"
  if command -v podman >/dev/null; then
    run_tool podman podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay pull -q --tls-verify=false "$ref"
    podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay system reset -f >/dev/null 2>&1 || true
  fi
  if [[ $have_ctr == yes ]]; then
    run_tool ctr ctr -n berth-bench images pull --plain-http "$ref"
    ctr -n berth-bench images rm "$ref" >/dev/null 2>&1 || true
    ctr -n berth-bench content ls -q 2>/dev/null | xargs -r ctr -n berth-bench content rm >/dev/null 2>&1 || true
    ctr -n berth-bench snapshots ls 2>/dev/null | awk 'NR>1{print $1}' | tac | xargs -r -n1 ctr -n berth-bench snapshots rm >/dev/null 2>&1 || true
  fi
done

median() { # values...
  if (($# == 0)); then echo n/a; return; fi
  printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'
}
m_berth=$(median ${times[berth]:-})
m_ctr=$(median ${times[ctr]:-})
m_podman=$(median ${times[podman]:-})
m_skopeo=$(median ${times[skopeo]:-})
ratio() { if [[ $1 != n/a && $2 != n/a ]]; then echo "scale=2; $2 / $1" | bc; else echo n/a; fi; }
echo "pull.sh: ratios (other / berth): ctr $(ratio "$m_berth" "$m_ctr"), podman $(ratio "$m_berth" "$m_podman"), skopeo-download $(ratio "$m_berth" "$m_skopeo")"
echo "pull+unpack: berth $m_berth s, ctr $m_ctr s, podman $m_podman s, skopeo-download $m_skopeo s"
