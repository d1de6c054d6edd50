# examples/python/train_fashion_mnist.py against the engine it mirrors: an epoch has as many steps as
# `rngfree train`'s (the last partial batch dropped, unless --keep-last-batch), so the learning rate
# of every epoch's last step equals the lr the engine's metrics.csv reports for the same settings,
# for SGD and AdamW; and the script's AdamW is configured as the engine's (betas, decay on 2+-dim
# tensors only). Needs Debian's dataset-fashion-mnist (scripts/install-deps.sh installs it; without
# it the tests fail, as the project's other tests whose data is missing).
import csv
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import SOURCE_DIR, run_cli

DATA = "/usr/share/datasets/fashion-mnist"
SCRIPT = os.path.join(SOURCE_DIR, "examples", "python", "train_fashion_mnist.py")


def setup_module():
    assert os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")), \
        "Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist: scripts/install-deps.sh)"


COMMON = ["--preset", "int8-sr-harvest", "--epochs", "2", "--train-limit", "600", "--test-limit", "100",
          "--batch", "128", "--threads", "1"]


def run_script(args):
    r = subprocess.run([sys.executable, SCRIPT] + COMMON + args, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    lrs = [float(m.group(1)) for m in (re.search(r", lr ([^,]+), ", line) for line in lines) if m]
    return lrs, json.loads(lines[-1])


def engine_lrs(args, tmp_path):
    out = str(tmp_path / "run")
    _, err, status = run_cli(["train", "--model", "lenet5", "--quiet", "--out", out] + COMMON + args)
    assert status == 0, err
    with open(os.path.join(out, "metrics.csv")) as f:
        return [float(row["lr"]) for row in csv.DictReader(f)]


@pytest.mark.parametrize("optimizer", [[], ["--optimizer", "adamw", "--lr", "0.001"]])
def test_epochs_and_schedule_are_the_engines(optimizer, tmp_path):
    lrs, summary = run_script(optimizer)
    assert summary["steps_per_epoch"] == 4  # 600 // 128: the 88 images left over are dropped
    expected = engine_lrs(optimizer, tmp_path)
    assert len(lrs) == len(expected) == 2
    for got, want in zip(lrs, expected):
        assert got == pytest.approx(want, rel=1e-5, abs=1e-12)  # metrics.csv prints 6 digits


def test_keep_last_batch_trains_on_it(tmp_path):
    lrs, summary = run_script(["--keep-last-batch"])
    assert summary["steps_per_epoch"] == 5  # ceil(600 / 128)
    # step 4 of 10 ends epoch 1: 0.5 * 0.05 * (1 + cos(pi * 4 / 10)), not the engine's 3 of 8
    assert lrs[0] == pytest.approx(0.025 * (1 + 0.30901699437494745), rel=1e-8)  # printed with 9 digits
    assert lrs[0] != pytest.approx(engine_lrs([], tmp_path)[0], rel=1e-5)
