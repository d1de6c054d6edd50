#!/usr/bin/env bash
# Regenerates the hardware table of docs/hardware.md: synthesizes every design in hw/rtl with yosys
# (7-series LUTs/FFs/DSPs and a technology-independent gate and transistor count) and writes
# OUT/synthesis.csv, OUT/hardware_table.md and OUT/supply_share.svg (default OUT: build/hw-synth).
# Options go to hw/synth/hw_synth.py (--out DIR, --lanes 1,16,64,256, --r-bits 8, --jobs 2, --only TEXT).
# Results are cached per design in OUT/raw: delete it to synthesize again. The full table takes about
# two hours on 2 cores (`--lanes 1,16,64`: about one).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v yosys >/dev/null; then
  echo "scripts/hw.sh needs yosys: run scripts/install-deps.sh (Debian's yosys 0.23)" >&2
  exit 1
fi
exec python3 hw/synth/hw_synth.py "$@"
