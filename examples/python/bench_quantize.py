#!/usr/bin/env python3
"""Throughput of rngfree.quantize from Python against the C++ kernel and against plain PyTorch,
measured in the same process on the same tensors (issue 15 "Speed"; docs/python.md, "Speed").

2^24 float32 values by default. Every comparison is interleaved: the timed calls alternate A B, B A,
A B, ... (--repeats pairs), so that a change of load during the run hits both sides alike. Each
row prints the median throughput of each side with its spread (min-max over the repeats) and the
ratio, computed per pair and summarised by its median and its quartiles.

1. `out=` against the C++ kernel (one row per format, rounding and word source, per thread count):
   - Python: `rngfree.quantize(x, F, R, ..., out=y)` timed around the whole Python call
     (time.perf_counter): the Python wrapper, the dispatcher, parsing the specs, the tensor checks
     and the kernel;
   - C++: `torch.ops.rngfree._kernel_seconds(...)`, the library's kernel call that rngfree.quantize
     makes (and `rngfree bench quantize` times) on the same x, words and a second preallocated
     output, timed in C++ (steady_clock) around that call alone.
   Both run the library's OpenMP kernels in this process with torch.set_num_threads(T) threads
   (the op reports the count it ran with; checked). The two outputs are compared bit for bit.
   "within 10 %" is judged on the median of the per-pair ratios Python / C++ (>= 0.90).
2. Allocating calls: `rngfree.quantize(x, "bf16", "nearest-even")` (a new 64 MiB result, which the
   binding asks the kernel to back with huge pages) against the same kernel into a preallocated
   output (C++), against the same call into `torch.empty_like(x)` (a new result without that hint)
   and against torch's own allocating elementwise ops `x.clone()` and `torch.round(x)`: every new
   large tensor is page-faulted in on first touch.
3. SR against pure PyTorch: fixed:8:4, stochastic, as users write it by hand,
   `floor(x * 16 + torch.rand(...)) / 16` clamped to [-8, 127/16] (allocating), and the same with
   preallocated buffers (`out=` / in-place ops), against rngfree.quantize with Philox words
   (allocating and `out=`).

4. The fixed cost of a call: 1024 values, 1000 calls per round, rngfree.quantize(out=) against the
   kernel call alone (timed in C++) and torch.round(out=).

--cli also runs `rngfree bench quantize --json` (a separate process, OMP_NUM_THREADS=T, best of 5,
not interleaved) after the in-process rows, as a cross-check of the in-process baseline.

    PYTHONPATH=build/release/python python3 examples/python/bench_quantize.py [--threads 1,2] [--repeats 21]
"""
import argparse
import gc
import json
import os
import statistics
import subprocess
import time

import torch

import rngfree

_ops = torch.ops.rngfree

# (format, rounding, word source): "none" for a deterministic rounding, "words" for int32 words
# given by the caller, "philox" for the fused Philox stream.
ROWS = [
    ("bf16", "nearest-even", "none"),
    ("bf16", "stochastic:16", "words"),
    ("bf16", "stochastic:16", "philox"),
    ("e4m3", "nearest-even", "none"),
    ("e4m3", "stochastic:16", "words"),
    ("e4m3", "stochastic:16", "philox"),
    ("fixed:8:4", "stochastic:16", "words"),
    ("fixed:8:dyn", "nearest-even", "none"),
    ("fixed:8:dyn", "stochastic:16", "philox"),
]


def timed(fn):
    """Seconds of one call of fn (perf_counter around it), or fn's own answer if it returns a float."""
    t0 = time.perf_counter()
    r = fn()
    t = time.perf_counter() - t0
    return r if isinstance(r, float) else t


def interleaved(fns, repeats):
    """Times each of fns once per round, rotating the order every round (A B C, B C A, C A B, ...).
    One untimed warm-up call each first. Returns one list of seconds per fn."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    gc.disable()
    try:
        for r in range(repeats):
            k = len(fns)
            for j in range(k):
                i = (r + j) % k
                times[i].append(timed(fns[i]))
    finally:
        gc.enable()
    return times


def quartiles(v):
    q = statistics.quantiles(v, n=4, method="inclusive")
    return q[0], q[1], q[2]


def rate_text(n, secs):
    """Median Melem/s and the min-max range over the repeats."""
    return "%7.0f [%4.0f-%4.0f]" % (n / statistics.median(secs) / 1e6, n / max(secs) / 1e6, n / min(secs) / 1e6)


def ratio_text(num_secs, den_secs):
    """Throughput ratio num/den per pair (= den time / num time): median [q1-q3]."""
    ratios = [d / m for m, d in zip(num_secs, den_secs)]
    q1, med, q3 = quartiles(ratios)
    return med, "%5.2f [%4.2f-%4.2f]" % (med, q1, q3)


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def kwargs_of(source, w):
    if source == "words":
        return {"words": w}
    if source == "philox":
        return {"source": "philox", "seed": 1}
    return {}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (torch.set_num_threads)")
    ap.add_argument("--repeats", type=int, default=21, help="timed rounds per comparison (pairs or rotations)")
    ap.add_argument("--log2-elements", type=int, default=24)
    ap.add_argument("--cli", action="store_true", help="also run `rngfree bench quantize --json` (separate process)")
    ap.add_argument("--program", default="build/release/rngfree", help="the rngfree program for --cli")
    a = ap.parse_args()
    thread_counts = [int(t) for t in a.threads.split(",")]
    n = 1 << a.log2_elements
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, generator=g)
    w = torch.randint(-2**31, 2**31, (n,), generator=g, dtype=torch.int32)
    y_py = torch.zeros_like(x)
    y_cpp = torch.zeros_like(x)
    print("%d float32 values; %d interleaved rounds per comparison; median Melem/s [min-max over rounds]; "
          "ratios per round: median [q1-q3]" % (n, a.repeats))
    print("start %s UTC, load average %s, nice %d, %d CPUs" % (time.strftime("%H:%M:%S", time.gmtime()), loadavg(),
                                                              os.nice(0), os.cpu_count()))

    verdicts = []
    for threads in thread_counts:
        torch.set_num_threads(threads)
        print("\n== %d thread(s): rngfree.quantize(..., out=y) vs the C++ kernel call on the same tensors "
              "(load %s)" % (threads, loadavg()))
        print("%-12s %-13s %-7s %-20s %-20s %-19s %s" % ("format", "rounding", "words", "Python out= Melem/s",
                                                      "C++ kernel Melem/s", "Python/C++", "within 10 %"))
        for fmt, rounding, source in ROWS:
            kw = kwargs_of(source, w)
            used = []

            def py():
                rngfree.quantize(x, fmt, rounding, out=y_py, **kw)

            def cpp():
                s, t = _ops._kernel_seconds(x, fmt, rounding, w if source == "words" else None,
                                            "philox" if source == "philox" else "", 1, 0, y_cpp)
                used.append(t)
                return s

            t_py, t_cpp = interleaved([py, cpp], a.repeats)
            if set(used) != {threads}:
                raise SystemExit("the C++ kernel ran with %s threads, not %d" % (sorted(set(used)), threads))
            if not torch.equal(y_py.view(torch.int32), y_cpp.view(torch.int32)):
                raise SystemExit("%s %s %s: Python and C++ outputs differ" % (fmt, rounding, source))
            med, text = ratio_text(t_py, t_cpp)
            verdicts.append(med >= 0.90)
            print("%-12s %-13s %-7s %-20s %-20s %-19s %s" % (fmt, rounding, source, rate_text(n, t_py),
                                                          rate_text(n, t_cpp), text, "yes" if med >= 0.90 else "NO"))

        print("\n-- %d thread(s): allocating calls (a new %d MiB result each call; load %s)" %
              (threads, n * 4 >> 20, loadavg()))

        def cpp_bf16():
            return _ops._kernel_seconds(x, "bf16", "nearest-even", None, "", 1, 0, y_cpp)[0]

        fns = {"C++ kernel bf16 nearest-even into a preallocated output": cpp_bf16,
               "rngfree.quantize(x, 'bf16', 'nearest-even') (allocates)": lambda: rngfree.quantize(x, "bf16", "nearest-even"),
               "torch.empty_like(x) + the same with out= (no huge-page hint)": lambda: rngfree.quantize(
                   x, "bf16", "nearest-even", out=torch.empty_like(x)),
               "x.clone() (allocates)": lambda: x.clone(),
               "torch.round(x) (allocates)": lambda: torch.round(x),
               "torch.round(x, out=y) (preallocated)": lambda: torch.round(x, out=y_py)}
        times = interleaved(list(fns.values()), a.repeats)
        base_cpp, base_clone = times[0], times[3]
        print("%-62s %-20s %-19s %s" % ("", "Melem/s", "/ C++ kernel", "/ x.clone()"))
        for name, t in zip(fns, times):
            print("%-62s %-20s %-19s %s" % (name, rate_text(n, t), ratio_text(t, base_cpp)[1],
                                            ratio_text(t, base_clone)[1]))

        print("\n-- %d thread(s): fixed:8:4 stochastic rounding, rngfree vs pure PyTorch (load %s)" % (threads, loadavg()))
        r_buf = torch.empty_like(x)
        t_buf = torch.empty_like(x)

        def torch_sr():
            y = torch.floor(x * 16 + torch.rand(x.shape, generator=g)) / 16
            return y.clamp_(-8, 127 / 16)

        def torch_sr_out():
            torch.rand(x.shape, generator=g, out=r_buf)
            torch.mul(x, 16, out=t_buf)
            t_buf.add_(r_buf).floor_().div_(16).clamp_(-8, 127 / 16)

        fns = {"pure PyTorch floor(x*16 + rand)/16, clamped (allocates)": torch_sr,
               "pure PyTorch, the same with preallocated buffers": torch_sr_out,
               "rngfree.quantize(x, 'fixed:8:4', 'stochastic:16', source='philox', seed=1)": lambda: rngfree.quantize(
                   x, "fixed:8:4", "stochastic:16", source="philox", seed=1),
               "the same with out=y": lambda: rngfree.quantize(x, "fixed:8:4", "stochastic:16", source="philox", seed=1,
                                                              out=y_py)}
        times = interleaved(list(fns.values()), a.repeats)
        print("%-76s %-20s %s" % ("", "Melem/s", "/ pure PyTorch (allocating)"))
        for name, t in zip(fns, times):
            print("%-76s %-20s %s" % (name, rate_text(n, t), ratio_text(t, times[0])[1]))

    print("\n-- fixed cost per call: 1024 values, bf16 nearest-even, %d thread(s), %d rounds of 1000 calls (load %s)" %
          (thread_counts[-1], a.repeats, loadavg()))
    xs, ys = x[:1024].clone(), torch.empty(1024)
    k = 1000

    def calls(fn):
        def run():
            for _ in range(k):
                fn()
        return run

    def kernel_only():
        return sum(_ops._kernel_seconds(xs, "bf16", "nearest-even", None, "", 1, 0, ys)[0] for _ in range(k))

    fns = {"rngfree.quantize(xs, 'bf16', 'nearest-even', out=ys)": calls(
               lambda: rngfree.quantize(xs, "bf16", "nearest-even", out=ys)),
           "the C++ kernel call alone (timed in C++)": kernel_only,
           "torch.round(xs, out=ys)": calls(lambda: torch.round(xs, out=ys))}
    times = interleaved(list(fns.values()), a.repeats)
    for name, t in zip(fns, times):
        print("%-62s %7.1f us per call [%.1f-%.1f]" % (name, statistics.median(t) / k * 1e6, min(t) / k * 1e6,
                                                       max(t) / k * 1e6))

    print("\nout= within 10 %% of the C++ kernel (median per-round ratio >= 0.90): %d of %d rows" %
          (sum(verdicts), len(verdicts)))
    print("end %s UTC, load average %s" % (time.strftime("%H:%M:%S", time.gmtime()), loadavg()))

    if a.cli:
        print("\n== cross-check: `rngfree bench quantize --json --repeats 5` (a separate process: its own input and "
              "buffers, best of 5, not interleaved with the rows above)")
        for threads in thread_counts:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            cpp = json.loads(subprocess.run([a.program, "bench", "quantize", "--json", "--repeats", "5",
                                             "--log2-elements", str(a.log2_elements)],
                                            capture_output=True, text=True, check=True, env=env).stdout)
            rate = {(r["format"], r["rounding"], r["source"]): r["elems_per_s"] for r in cpp["runs"]}
            for fmt, rounding, source in ROWS:
                key = (fmt, rounding, {"none": "none", "words": "given", "philox": "philox"}[source])
                if key in rate:
                    print("%d thread(s) %-12s %-13s %-7s %8.0f Melem/s" % (threads, fmt, rounding, source, rate[key] / 1e6))
        print("end %s UTC, load average %s" % (time.strftime("%H:%M:%S", time.gmtime()), loadavg()))


if __name__ == "__main__":
    main()
