#!/usr/bin/env bash
# Prepares a machine to build and test berth: system packages, npm packages,
# the build, and the test probe. Run as root on Debian 12; safe to run again
# (each step is skipped when already done).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# System packages, by what needs them. Add new needs here, with a reason
# (later: containernetworking-plugins for CNI networking).
APT_PACKAGES=(
  # Building the C programs (src/native) and the static test probe.
  gcc make libc6-dev pkg-config
  # The executor's seccomp filters.
  libseccomp-dev
  # The static busybox that test bundles are made of.
  busybox-static
  # Reference OCI runtimes, for differential tests and benchmarks.
  runc crun
  # Container managers that test/compat drives berth-runtime under in place of
  # runc: containerd 1.6 (ctr and its runc shim) and podman 4 with conmon.
  containerd podman conmon
  # Benchmarks (bench/runtime.sh). bench/shim.sh measures berth-shim against
  # conmon 2.1, installed above for podman.
  hyperfine
  # ip (network namespaces), unshare/mount/nsenter, ps/pgrep.
  iproute2 util-linux procps
  # Layer unpacking tests (src/image/unpack): getfattr to check xattrs, setcap
  # to give a file a real security.capability (the unpack itself uses
  # dist/native/berth-unpack-helper, built from src/native/unpack). The
  # copying snapshotter uses getfattr/setfattr too.
  attr libcap2-bin
  # Image tests (test/integration/image-*): a real registry (distribution 2.8)
  # and an independent client that pushes test images to it and pulls back
  # what berth pushes.
  docker-registry skopeo
  # The registry TLS test makes its own CA and server certificate.
  openssl
  # better-sqlite3 (the image store's metadata) builds its native addon with node-gyp.
  g++ python3
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
else
  echo "setup: system packages already installed"
fi

# npm packages: skipped when node_modules was installed from the same
# package.json and lock file (a stamp records their hash).
stamp=node_modules/.berth-setup-stamp
want=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "setup: node_modules up to date"
else
  if [[ -f package-lock.json ]]; then
    npm ci --no-audit --no-fund
  else
    npm install --no-audit --no-fund
  fi
  # npm install may have written a lock file; hash what is there now.
  cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1 > "$stamp"
fi

npm run build
make -s -C test/fixtures/probe
echo "setup: done"
