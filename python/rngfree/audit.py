"""``rngfree audit`` from Python: train a configuration with the C++ engine, record exactly the words
every stochastic rounding site consumes in early/middle/late windows, and judge each (site, window)
beside a Philox generator fed the same values (NIST SP 800-22, r = 0 share, distinct words, SR bias,
correlation with the rounded fraction) — the same code and the same report as the command
(docs/audit.md), returned as Python objects.

    r = rngfree.audit.run(preset="int8-sr-harvest", quick=True)
    r.ok, r.passed, len(r.sites)
    [s for s in r.sites if not s.ok]

It audits the library's own models (``model="lenet5"``, ...), not a ``torch.nn.Module``: the
audit's proof is about the engine's sites, and ``rngfree.nn`` uses the same site plan and word
sources (docs/python.md says what differs).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from . import _call, _ops

__all__ = ["run", "AuditResult", "SiteResult"]


@dataclass
class SiteResult:
    """One (layer, site, window) of the audit: its verdict and the report's fields for it."""

    layer: int
    layer_name: str
    site: str
    window: str
    ok: bool
    failures: List[str]
    fields: Dict[str, Any] = field(repr=False)  # every key of the report's entry (audit.json)


@dataclass
class AuditResult:
    """The audit's verdict and its (site, window) results, as ``rngfree audit --json`` writes them."""

    ok: bool
    passed: int
    sites: List[SiteResult]
    steps: int
    test_accuracy: float
    seconds: float
    windows: str
    report: Dict[str, Any] = field(repr=False)  # the whole JSON report ("run" added)


def run(preset: str = "int8-sr-harvest", *, config: str = "", task: str = "", model: str = "", data: str = "",
        epochs: Optional[int] = None, steps: Optional[int] = None, window: Optional[int] = None,
        windows: Sequence[str] = ("early", "middle", "late"), bits: Optional[int] = None,
        sequences: Optional[int] = None, calibration: Optional[int] = None, seed: Optional[int] = None,
        train_limit: Optional[int] = None, train_threads: Optional[int] = None, threads: int = 2,
        quick: bool = False, dump_dir: str = "") -> AuditResult:
    """Run the audit as ``rngfree audit`` does with the same settings (each keyword is the flag of the
    same name; ``config`` is TOML text, as a ``--config`` file holds). Returns an ``AuditResult``.
    Takes as long as the command (minutes for the default sizes; ``quick=True``: 2,560 images, 24
    steps of 4-step windows, 200,000 bits). Raises ``rngfree.Error`` for a bad setting."""
    request = dict(preset=preset, config=config, task=task, model=model, data=data, epochs=epochs, steps=steps,
                   window=window, windows=list(windows), bits=bits, sequences=sequences, calibration=calibration,
                   seed=seed, train_limit=train_limit, train_threads=train_threads, threads=threads, quick=quick,
                   dump_dir=dump_dir)
    report = json.loads(_call(_ops.audit_run, json.dumps(request)))
    sites = [SiteResult(layer=s["layer"], layer_name=s["layer_name"], site=s["site"], window=s["window"],
                        ok=s["verdict"] == "pass", failures=list(s["failures"]), fields=s)
             for s in report.get("sites", [])]
    r = report["run"]
    return AuditResult(ok=report["verdict"] == "pass", passed=sum(s.ok for s in sites),
                       sites=sites, steps=int(r["steps"]), test_accuracy=float(r["test_accuracy"]),
                       seconds=float(r["seconds"]), windows=r["windows"], report=report)
