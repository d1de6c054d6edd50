#!/usr/bin/env bash
# The README's test command: install what is missing, build, run the default test tier.
# RNGFREE_TEST_EXHAUSTIVE=1 also runs the exhaustive tier (label "exhaustive"). The default tier
# includes the Verilator co-simulation of hw/ (label "hw"), built because install-deps installs verilator.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
ctest --preset release
if [ "${RNGFREE_TEST_EXHAUSTIVE:-0}" = 1 ]; then
  ctest --preset exhaustive
fi
