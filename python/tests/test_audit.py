# rngfree.audit.run against the command: the same settings give the same report as
# `rngfree audit --json` (every site's verdict, NIST rows, bias, correlation, words; only the command
# line and the timings differ), and a bad setting raises rngfree.Error with the command's message.
import json
import os
import tempfile

import pytest

import rngfree
from conftest import run_cli

SMALL = dict(data="synthetic:1:28", train_limit=1280, steps=8, window=4, windows=("early", "late"), bits=100000,
             calibration=1, threads=1, train_threads=1)
FLAGS = ["--data", "synthetic:1:28", "--train-limit", "1280", "--steps", "8", "--window", "4", "--windows",
         "early,late", "--bits", "100000", "--calibration", "1", "--threads", "1", "--train-threads", "1"]


def without_timings(report):
    report = dict(report)
    report.pop("command")
    report.pop("run", None)
    report["sites"] = [{k: v for k, v in s.items() if k not in ("seconds", "dump")} for s in report["sites"]]
    return report


def test_audit_from_python_equals_the_command():
    r = rngfree.audit.run("int8-sr-harvest", **SMALL)
    with tempfile.TemporaryDirectory() as d:
        out, err, status = run_cli(["audit", "--preset", "int8-sr-harvest"] + FLAGS +
                                   ["--out", os.path.join(d, "report"), "--json", os.path.join(d, "a.json")])
        assert status == 0, err
        with open(os.path.join(d, "a.json")) as f:
            cli = json.load(f)
    assert without_timings(r.report) == without_timings(cli)
    assert len(r.sites) == len(cli["sites"]) > 0
    assert r.passed == sum(s["verdict"] == "pass" for s in cli["sites"])
    assert r.ok == (cli["verdict"] == "pass")
    assert r.steps == 8
    assert {s.site for s in r.sites} == {"E", "G", "U"}
    assert {s.window for s in r.sites} == {"early", "late"}


def test_bad_audit_setting_raises_the_commands_message():
    with pytest.raises(rngfree.Error, match="--window 0"):
        rngfree.audit.run("int8-sr-harvest", **dict(SMALL, window=0))
    with pytest.raises(rngfree.Error, match="preset"):
        rngfree.audit.run("int8-sr-nothing", **SMALL)
