#!/usr/bin/env bash
# Data-parallel throughput on this machine, as ratios against a baseline measured in the same
# repetition (docs/distributed.md, "Measurements"): for each preset, R repetitions of
#   base  1 process x 2 threads, batch 2B
#   dp    2 processes x 1 thread, batch B each          (same global batch, same images per step)
#   dpG   2 processes x 1 thread, --allreduce G
# each row with its training images/s, its ratio to the repetition's base, rank 0's collective time
# and bytes written per step, the test accuracy, and the load average before the run.
#   scripts/bench_distributed.sh [PROGRAM] [PRESETS] [TRAIN_LIMIT] [REPEATS] [BATCH]
# e.g. scripts/bench_distributed.sh build/release/rngfree "fp32 int8-sr-harvest" 19200 2 64
set -euo pipefail
prog=${1:-build/release/rngfree}
presets=${2:-"fp32 int8-sr-harvest"}
limit=${3:-19200}
repeats=${4:-2}
batch=${5:-64}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
field() { /usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print(j.get(sys.argv[2], -1))" "$1" "$2"; }
printf '%-16s %-3s %-5s %10s %7s %9s %11s %9s  %s\n' preset rep run img/s ratio coll_ms coll_KB/step test_acc "load (1 min) before"
for preset in $presets; do
  for rep in $(seq 1 "$repeats"); do
    base=""
    for run in base dp dpG; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      dir="$out/$preset-$rep-$run"
      common=(train --preset "$preset" --epochs 1 --train-limit "$limit" --quiet --out "$dir")
      case $run in
        base) "$prog" "${common[@]}" --batch $((2 * batch)) --threads 2 > /dev/null ;;
        dp) "$prog" "${common[@]}" --nproc 2 --batch "$batch" --threads 1 > /dev/null ;;
        dpG) "$prog" "${common[@]}" --nproc 2 --batch "$batch" --threads 1 --allreduce G > /dev/null ;;
      esac
      ips=$(field "$dir/summary.json" images_per_s)
      acc=$(field "$dir/summary.json" test_accuracy)
      ms=$(field "$dir/summary.json" collective_ms_per_step)
      bytes=$(field "$dir/summary.json" collective_bytes_written_per_step)
      [ -z "$base" ] && base=$ips
      /usr/bin/python3 -c "
import sys
p, r, run, ips, base, ms, b, acc, load = sys.argv[1:]
kb = float(b) / 1000 if float(b) >= 0 else float('nan')
print('%-16s %-3s %-5s %10.0f %7.2f %9.2f %11.1f %9.4f  %s' % (p, r, run, float(ips), float(ips) / float(base), float(ms), kb, float(acc), load))
" "$preset" "$rep" "$run" "$ips" "$base" "$ms" "$bytes" "$acc" "$load"
    done
  done
done
echo "machine: $(nproc) cores; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
