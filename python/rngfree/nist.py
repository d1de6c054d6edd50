"""NIST SP 800-22 Rev 1a on bits from Python: the library's suite (docs/nist.md), the same results as
``rngfree nist --json``, as Python objects.

    >>> import torch, rngfree
    >>> bits = torch.randint(0, 2, (10**6,), dtype=torch.uint8)
    >>> report = rngfree.nist.run(bits, tests=["Frequency", "Runs"])
    >>> report.summary.ok, report.summary.rows_failed
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from . import _call, _ops

__all__ = ["run", "Report", "Summary", "Row", "TestVerdict", "TestResult"]


@dataclass
class TestResult:
    """One test on one sequence: P-values by sub-test (None where not applicable)."""
    test: str
    applicable: bool
    reason: str
    p_values: Dict[str, Optional[float]]
    statistics: Dict[str, float]
    warnings: List[str]


@dataclass
class Row:
    """One row of the suite report (one P-value over all sequences, STS's finalAnalysisReport)."""
    test: str
    sub_test: str
    sequences: int
    not_applicable: int
    passed: int
    proportion: float
    proportion_interval: Tuple[float, float]
    proportion_ok: bool
    bins: List[int]
    uniformity_p: Optional[float]
    uniformity_assessed: bool
    uniformity_ok: bool
    applicable: bool
    not_applicable_reason: str
    ok: bool


@dataclass
class TestVerdict:
    test: str
    rows: int
    rows_failed: int
    rows_not_applicable: int
    ok: bool


@dataclass
class Summary:
    rows: List[Row]
    tests: List[TestVerdict]
    rows_failed: int
    rows_judged: int
    rows_not_applicable: int
    expected_false_alarms: float
    chance_p_value: float
    decisive_failure: bool
    ok: bool
    note: str


@dataclass
class Report:
    n: int
    streams: int
    profile: str
    alpha: float
    sequences: List[List[TestResult]]  # [sequence][test]
    summary: Summary


def _report(j: dict) -> Report:
    seqs = [[TestResult(t["test"], t["applicable"], t.get("reason", ""),
                        {p["sub_test"]: p["p_value"] for p in t["p_values"]}, dict(t["statistics"]),
                        list(t["warnings"])) for t in s["tests"]] for s in j["sequences"]]
    s = j["summary"]
    rows = [Row(**{**r, "proportion_interval": tuple(r["proportion_interval"])}) for r in s["rows"]]
    tests = [TestVerdict(**v) for v in s["tests"]]
    summary = Summary(rows, tests, s["rows_failed"], s["rows_judged"], s["rows_not_applicable"],
                      s["expected_false_alarms"], s["chance_p_value"], s["decisive_failure"], s["ok"], s["note"])
    return Report(j["n"], j["streams"], j["profile"], j["alpha"], seqs, summary)


def run(bits: Union[torch.Tensor, bytes, bytearray, str], n: Optional[int] = None, streams: int = 1,
        profile: str = "sts-2.1.2", tests: Optional[Sequence[str]] = None, threads: int = 0,
        bit_count: Optional[int] = None) -> Report:
    """Run the SP 800-22 suite on ``bits`` and return a ``Report``.

    bits: a tensor of 0/1 values (bool or any integer dtype, flattened in C order); ``bytes`` read
        most significant bit first (``bit_count`` bits, default all), as ``rngfree nist --input
        binary`` reads a file; or a str of '0'/'1'.
    n, streams: cut the bits into ``streams`` consecutive sequences of ``n`` bits (n=None: all bits
        divided by streams), as ``--bits``/``--streams``.
    profile: ``sts-2.1.2`` (reproduce STS 2.1.2) or ``corrected``.
    tests: names ("Frequency", "Runs", ...) or 1-based STS numbers as strings; None: all 15.
    Raises ``rngfree.Error`` for bad input (too few bits, unknown test or profile).
    """
    if isinstance(bits, (bytes, bytearray)):
        data = torch.frombuffer(bytearray(bits), dtype=torch.uint8) if len(bits) else torch.empty(0, dtype=torch.uint8)
        packed, count = True, 8 * len(bits) if bit_count is None else int(bit_count)
    else:
        if isinstance(bits, str):
            bits = torch.tensor([1 if c == "1" else 0 for c in bits if not c.isspace()], dtype=torch.uint8)
        if not isinstance(bits, torch.Tensor):
            raise TypeError("bits: a tensor of 0/1, bytes or a str of '0'/'1'")
        data = bits.reshape(-1).to(torch.uint8) if bits.dtype == torch.bool else bits.reshape(-1)
        if data.dtype != torch.uint8:
            if data.numel() and (int(data.min()) < 0 or int(data.max()) > 1):
                from . import Error
                raise Error("bits: values outside 0..1; allowed: one bit per element")
            data = data.to(torch.uint8)
        packed, count = False, data.numel()
    text = _call(_ops.nist_run, data, packed, count, 0 if n is None else int(n), int(streams), profile,
                 [str(t) for t in (tests or [])], int(threads))
    return _report(json.loads(text))
