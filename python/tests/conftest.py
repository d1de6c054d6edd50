# Shared helpers of the pytest suites (run from ctest: PYTHONPATH=build/.../python, RNGFREE_PROGRAM =
# the built `rngfree` program, RNGFREE_SOURCE_DIR = the source tree).
import math
import os
import subprocess

import pytest
import torch

SOURCE_DIR = os.environ.get("RNGFREE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
PROGRAM = os.environ.get("RNGFREE_PROGRAM", os.path.join(SOURCE_DIR, "build", "release", "rngfree"))


def run_cli(args, stdin=""):
    """Runs the rngfree program; returns (stdout, stderr, exit status)."""
    if not os.path.exists(PROGRAM):
        pytest.fail(PROGRAM + " is not built (ctest builds it; set RNGFREE_PROGRAM)")
    r = subprocess.run([PROGRAM] + args, input=stdin, capture_output=True, text=True)
    return r.stdout, r.stderr, r.returncode


def parse_float(token):
    """A C99 hex float, 'inf', 'nan' with their signs, as a Python float (the table's and --hex's spelling)."""
    t = token.strip()
    if t.lstrip("-+") == "nan":
        return math.copysign(math.nan, -1.0 if t.startswith("-") else 1.0)
    return float.fromhex(t)


def bits(t):
    """The raw FP32 bit patterns of a float32 tensor (NaNs compared by pattern too, via their sign)."""
    t = t.contiguous().reshape(-1)
    b = t.view(torch.int32).clone()
    nan = torch.isnan(t)
    b[nan] = torch.where(torch.signbit(t[nan]), torch.tensor(-1, dtype=torch.int32),
                         torch.tensor(0x7FC00000, dtype=torch.int32))
    return b


def load_table():
    """Rows of tests/core/data/quantize_table.tsv (exact rationals, tests/tools/gen_quantize_table.py)."""
    path = os.path.join(SOURCE_DIR, "tests", "core", "data", "quantize_table.tsv")
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fmt, rnd, inputs, words, expected, case = line.rstrip("\n").split("\t")
            rows.append(dict(line=number, format=fmt, rounding=rnd, case=case,
                             inputs=[parse_float(v) for v in inputs.split(" ")],
                             words=[int(w) for w in words.split(" ")],
                             expected=[parse_float(v) for v in expected.split(" ")]))
    return rows
