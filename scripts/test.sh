#!/usr/bin/env bash
# Sets the machine up, builds, and runs every test (or those matching the
# arguments, see scripts/run-tests.mjs). Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh
exec node scripts/run-tests.mjs "$@"
