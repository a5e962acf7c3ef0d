#!/usr/bin/env bash
# Cold pull + unpack of an image with a busybox layer and a 200 MiB layer
# (half random, half text) from a local docker-registry, by berth
# (pullAndUnpack: download, verify, decompress and unpack in one streaming
# pass per layer, one overlay lower directory per layer), ctr (a private
# containerd 1.6 started by this script: its own config, root, state and
# socket under the work directory, restarted on an empty root for each run
# and stopped by its PID), podman (private --root) and skopeo (download
# only, no unpack). Each run starts from empty storage. A reference line
# gives `gzip -dc` and `tar -xzf` of the big layer alone, in the same run.
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
ctrd_pid=

stop_containerd() {
  if [[ -n "$ctrd_pid" ]]; then kill "$ctrd_pid" 2>/dev/null || true; wait "$ctrd_pid" 2>/dev/null || true; fi
  ctrd_pid=
}
cleanup() {
  stop_containerd
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

# A private containerd: nothing of the host's /var/lib/containerd or
# /run/containerd is used. CRI and the plugins a pull does not need are off.
ctrd_dir=$work/containerd
ctrd_sock=$ctrd_dir/containerd.sock
cat >"$work/containerd.toml" <<TOML
version = 2
root = "$ctrd_dir/root"
state = "$ctrd_dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt", "io.containerd.internal.v1.restart", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$ctrd_sock"
[ttrpc]
  address = "$ctrd_sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
ctr_() { ctr --address "$ctrd_sock" -n berth-bench "$@"; }
start_containerd() { # on an empty root; fails when it does not serve
  rm -rf "$ctrd_dir"
  mkdir -p "$ctrd_dir"
  containerd --config "$work/containerd.toml" >>"$OUT/containerd.log" 2>&1 &
  ctrd_pid=$!
  for _ in $(seq 100); do
    if [[ -S $ctrd_sock ]] && ctr_ version >/dev/null 2>&1; then return 0; fi
    kill -0 "$ctrd_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "pull.sh: containerd did not start (see $OUT/containerd.log)" >&2
  stop_containerd
  return 1
}
: >"$OUT/containerd.log"
have_ctr=no
if command -v ctr >/dev/null && command -v containerd >/dev/null; then have_ctr=yes; fi

# The decompression limit: the big layer alone, same machine, same run.
big=$(ls -S "$work"/layout/blobs/sha256/* | head -1)
t_gzip=()
t_tar=()
for i in $(seq "$RUNS"); do
  t0=$(now); gzip -dc "$big" >/dev/null; t1=$(now); t_gzip+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/untar"; mkdir "$work/untar"; sync
  t0=$(now); tar -xzf "$big" -C "$work/untar"; t1=$(now); t_tar+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/untar"
done

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
  if [[ $have_ctr == yes ]] && start_containerd; then
    sync
    run_tool ctr ctr_ images pull --plain-http "$ref"
    stop_containerd
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
echo "pull.sh: reference (the big layer alone, medians): gzip -dc $(median "${t_gzip[@]}") s, tar -xzf $(median "${t_tar[@]}") s"
ratio() { if [[ $1 != n/a && $2 != n/a ]]; then echo "scale=2; $2 / $1" | bc; else echo n/a; fi; }
echo "pull.sh: ratios (other / berth): ctr $(ratio "$m_berth" "$m_ctr"), podman $(ratio "$m_berth" "$m_podman"), skopeo-download $(ratio "$m_berth" "$m_skopeo")"
echo "pull+unpack: berth $m_berth s, ctr $m_ctr s, podman $m_podman s, skopeo-download $m_skopeo s"
