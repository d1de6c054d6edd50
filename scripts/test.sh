#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the default test tier, and print
# how many tests were skipped (a skip is allowed only for a CPU feature this machine lacks). The default
# tier includes the Verilator co-simulation of hw/ (label "hw"), built because install-deps installs verilator.
# RNGFREE_TEST_EXHAUSTIVE=1 also runs the exhaustive tier (label "exhaustive").
# RNGFREE_TEST_SANITIZE=1 also builds the asan preset (clang, AddressSanitizer + UBSan, libtorch)
#   and runs the default tier under the sanitizers.
# RNGFREE_TEST_FUZZ=1 also builds the asan preset and runs every fuzz target for
#   RNGFREE_FUZZ_SECONDS (default 30) seconds (label "fuzz"; docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# stage NAME: prints how long the step since the previous stage took (where CI's time goes).
stage_start=$SECONDS
stage() {
  echo "== $1: $((SECONDS - stage_start)) s (total $SECONDS s)"
  stage_start=$SECONDS
}
scripts/install-deps.sh
stage "install"
scripts/build.sh
stage "release build"

skipped_total=0
# run_tier PRESET: ctest --preset PRESET, then its skipped tests by name.
run_tier() {
  local log status skipped
  log=$(mktemp)
  set +e
  ctest --preset "$1" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  skipped=$(grep -c -- '\*\*\*Skipped' "$log" || true)
  skipped_total=$((skipped_total + skipped))
  echo "ctest --preset $1: ${skipped} test(s) skipped"
  grep -- '\*\*\*Skipped' "$log" | sed 's/^/  skipped: /' || true
  rm -f "$log"
  stage "ctest --preset $1"
  return "$status"
}

run_tier release
if [ "${RNGFREE_TEST_EXHAUSTIVE:-0}" = 1 ]; then
  run_tier exhaustive
fi
if [ "${RNGFREE_TEST_SANITIZE:-0}" = 1 ] || [ "${RNGFREE_TEST_FUZZ:-0}" = 1 ]; then
  cmake --preset asan -DRNGFREE_FUZZ_SECONDS="${RNGFREE_FUZZ_SECONDS:-30}" >/dev/null
  cmake --build --preset asan -j"$(nproc)"
  stage "asan build"
fi
if [ "${RNGFREE_TEST_SANITIZE:-0}" = 1 ]; then
  run_tier asan
fi
if [ "${RNGFREE_TEST_FUZZ:-0}" = 1 ]; then
  run_tier fuzz
fi
echo "Skipped in all tiers run: ${skipped_total} (only for CPU features this machine lacks)"
