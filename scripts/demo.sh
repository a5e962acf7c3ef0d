#!/usr/bin/env bash
# berth's main job end to end: build, make a busybox bundle, write its config
# with the runtime's own `spec`, and run a container that says hello.
#
#   bash scripts/demo.sh                 with bin/berth-runtime
#   RUNTIME=runc bash scripts/demo.sh    the same steps with another runc-compatible runtime
#
# Environment: RUNTIME (default bin/berth-runtime), RUNTIME_ROOT (passed as
# --root when set), SKIP_SETUP=1 to skip scripts/setup.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD

RUNTIME=${RUNTIME:-bin/berth-runtime}
# A relative path to a runtime is relative to the repository.
if [[ "$RUNTIME" == */* && "$RUNTIME" != /* ]]; then RUNTIME="$repo/$RUNTIME"; fi
root_args=()
if [[ -n "${RUNTIME_ROOT:-}" ]]; then root_args=(--root "$RUNTIME_ROOT"); fi

if [[ "${SKIP_SETUP:-0}" != 1 ]]; then
  bash scripts/setup.sh
fi

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
id="demo-$$"
cleanup() {
  # `run` deletes the container when it exits; this is for an interrupted run.
  "$RUNTIME" "${root_args[@]}" delete --force "$id" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

bundle="$work/bundle"
echo "== bundle: $bundle"
node dist/test/helpers/make-bundle-cli.js "$bundle" --rootfs-only >/dev/null

echo "== $RUNTIME spec"
"$RUNTIME" spec --bundle "$bundle"
node -e '
  const fs = require("fs");
  const path = process.argv[1];
  const spec = JSON.parse(fs.readFileSync(path, "utf8"));
  spec.process.args = ["sh", "-c", "echo hello from berth; id; hostname; cat /proc/self/cgroup"];
  spec.process.terminal = false;
  spec.hostname = "berth-demo";
  fs.writeFileSync(path, JSON.stringify(spec, null, 2) + "\n");
' "$bundle/config.json"

echo "== $RUNTIME run --bundle $bundle $id"
"$RUNTIME" "${root_args[@]}" run --bundle "$bundle" "$id"
echo "== exit status 0"
