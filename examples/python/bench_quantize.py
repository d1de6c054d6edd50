#!/usr/bin/env python3
"""Throughput of rngfree.quantize from Python against the C++ kernel and a pure-PyTorch SR, measured
in the same run (issue 15 "Speed"). 2^24 float32 values, best of --repeats runs each:

- C++ kernel: `rngfree bench quantize --json` (the same kernels called from C++, words prefilled:
  its `given` rows), run as a subprocess right before the Python timings;
- rngfree.quantize(x, F, "stochastic:16", words=w) with int32 words (no conversion pass),
  and with source="philox" (fused generator), each allocating its result and with out= (a
  preallocated result, as the C++ benchmark has);
- pure PyTorch SR: fixed:8:4 as floor(x * 16 + rand) / 16 clamped, the "x + rand then floor"
  that users write by hand (torch.rand_like draws the randomness in the same timed region).

    PYTHONPATH=build/release/python python3 examples/python/bench_quantize.py [--program build/release/rngfree]
"""
import argparse
import json
import os
import subprocess
import time

import torch

import rngfree


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--program", default="build/release/rngfree")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--log2-elements", type=int, default=24)
    ap.add_argument("--threads", type=int, default=0,
                    help="threads for both sides (torch.set_num_threads, which sets OpenMP's count in this process, "
                         "and OMP_NUM_THREADS for the C++ benchmark); 0: torch's default")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()  # the OpenMP team size the library's kernels get in this process
    n = 1 << a.log2_elements
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    cpp = json.loads(subprocess.run([a.program, "bench", "quantize", "--json", "--repeats", str(a.repeats),
                                     "--log2-elements", str(a.log2_elements)],
                                    capture_output=True, text=True, check=True, env=env).stdout)
    cpp_rate = {(r["format"], r["rounding"], r["source"]): r["elems_per_s"] for r in cpp["runs"]}

    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, generator=g)
    w = torch.randint(-2**31, 2**31, (n,), generator=g, dtype=torch.int32)
    print("%d values, %d thread(s) on both sides; the C++ benchmark writes into a preallocated output; 'new': "
          "rngfree.quantize allocates its result, 'out=': writes into a preallocated tensor" % (n, threads))
    out = torch.zeros_like(x)
    print("%-12s %-13s %11s %11s %11s %9s %9s" % ("format", "words", "new Melem/s", "out= Melem/s", "C++ Melem/s",
                                                  "new/C++", "out=/C++"))
    for fmt in ["bf16", "e4m3", "fixed:8:dyn"]:
        for label, rounding, kw, key in [("nearest-even", "nearest-even", {}, "none"),
                                          ("given words", "stochastic:16", {"words": w}, "given"),
                                          ("philox", "stochastic:16", {"source": "philox", "seed": 1}, "philox")]:
            t = best(lambda: rngfree.quantize(x, fmt, rounding, **kw), a.repeats)
            t_out = best(lambda: rngfree.quantize(x, fmt, rounding, out=out, **kw), a.repeats)
            ref = cpp_rate[(fmt, rounding, key)]
            print("%-12s %-13s %11.1f %11.1f %11.1f %9.2f %9.2f" % (fmt, label, n / t / 1e6, n / t_out / 1e6, ref / 1e6,
                                                                 n / t / ref, n / t_out / ref))

    def torch_sr():
        y = torch.floor(x * 16 + torch.rand(x.shape, generator=g)) / 16
        return y.clamp_(-8, 127 / 16)

    t_torch = best(torch_sr, a.repeats)
    t_rng = best(lambda: rngfree.quantize(x, "fixed:8:4", "stochastic:16", source="philox", seed=1), a.repeats)
    t_words = best(lambda: rngfree.quantize(x, "fixed:8:4", "stochastic:16", words=w), a.repeats)
    # (both allocate their result, as the pure-PyTorch expression does)
    print("fixed:8:4 SR: pure PyTorch (floor(x*16 + rand)/16) %.1f Melem/s; rngfree philox %.1f (%.2fx); "
          "rngfree given words %.1f (%.2fx)" % (n / t_torch / 1e6, n / t_rng / 1e6, t_torch / t_rng,
                                                 n / t_words / 1e6, t_torch / t_words))


if __name__ == "__main__":
    main()
