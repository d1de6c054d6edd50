#!/usr/bin/env bash
# The README's main command: install what is missing, build, run the main job with its defaults.
# Extra arguments go to `rngfree reproduce` (e.g. --full).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/release/rngfree reproduce "$@"
