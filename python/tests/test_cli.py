# rngfree.quantize and the generators against the command-line program on the same inputs: `rngfree
# quantize --random given --hex` (which parses its input with strtof and prints with to_chars: an
# independent path) and `rngfree random`. The program costs about a second per start (it loads
# libtorch), so these checks take a chosen sample; every table row is checked against its exact
# value in test_quantize.py.
import math

import pytest
import torch

import rngfree
from conftest import bits, parse_float, run_cli
from test_quantize import GROUPS, tensors


def cli_lines(x, w):
    return "".join("%s %d\n" % (v.hex() if math.isfinite(v) else repr(v), int(k)) for v, k in zip(x.tolist(), w.tolist()))


def format_kind(fmt):
    return "dyn" if fmt.endswith(":dyn") else fmt.split(":")[0] if fmt.split(":")[0] in ("fixed", "bfp") else "float"


def cli_groups():
    """One table group per rounding kind, each from the next format kind in turn (the program costs
    about a second per start: it loads libtorch)."""
    kinds = ["float", "fixed", "dyn", "bfp"]
    chosen, seen = [], set()
    for i, mode in enumerate(["nearest-even", "nearest-away", "toward-zero", "up", "down", "stochastic"]):
        for kind in kinds[i % 4:] + kinds[:i % 4]:
            g = next((g for g in GROUPS if format_kind(g[0]) == kind and g[1].split(":")[0] == mode), None)
            if g is not None and (g[0], g[1]) not in seen:
                chosen.append(g)
                seen.add((g[0], g[1]))
                break
    return chosen


def cli_quantize(x, w, fmt, rnd):
    out, err, status = run_cli(["quantize", "--format", fmt, "--rounding", rnd, "--random", "given", "--hex"],
                               cli_lines(x, w))
    assert status == 0, err
    return torch.tensor([parse_float(t) for t in out.split()], dtype=torch.float32)


def test_cli_agrees_on_table_groups():
    # The same inputs and words through `rngfree quantize --random given --hex`: bit for bit. (The
    # program parses its input with strtof and prints with to_chars: an independent path; every row
    # of the table is checked against its exact value above.)
    groups = cli_groups()
    assert len({format_kind(g[0]) for g in groups}) == 4 and len({g[1].split(":")[0] for g in groups}) == 6
    for fmt, rnd, rows in groups:
        x, w, _ = tensors(rows)
        assert torch.equal(bits(cli_quantize(x, w, fmt, rnd)), bits(rngfree.quantize(x, fmt, rnd, words=w))), (fmt, rnd)


def test_random_tensors_agree_with_cli():
    # Beyond the table: 4096 normal values spread over many binades, random words.
    g = torch.Generator().manual_seed(15)
    x = torch.randn(4096, generator=g) * torch.exp2(torch.randint(-20, 20, (4096,), generator=g).float())
    w = torch.randint(0, 2**32, (4096,), generator=g, dtype=torch.int64)
    for fmt, rnd in [("fixed:8:dyn", "stochastic:32")]:
        assert torch.equal(bits(cli_quantize(x, w, fmt, rnd)), bits(rngfree.quantize(x, fmt, rnd, words=w))), (fmt, rnd)


@pytest.mark.parametrize("source", ["philox", "lfsr:8:1"])
def test_generator_stream_is_rngfree_random(source):
    # `rngfree random` prints the single-lane stream (lfsr:W: the W-bit states of lane 0; with one lane
    # and W <= 32 the words are those states).
    cli_source = source[: -len(":1")] if source.startswith("lfsr") else source
    out, err, status = run_cli(["random", "--source", cli_source, "--seed", "12345", "--count", "1000"])
    assert status == 0, err
    expected = [int(v) for v in out.split()]
    assert rngfree.reference_sequence(cli_source, 12345, 1000) == expected
    assert rngfree.random_words(source, 12345, 0, 1000).tolist() == expected


def test_bad_format_message_is_the_clis():
    # The same error text as `rngfree quantize` prints for it.
    _, err, status = run_cli(["quantize", "--format", "float:9:3", "--rounding", "nearest-even"], "1\n")
    assert status != 0
    with pytest.raises(rngfree.Error) as e:
        rngfree.quantize(torch.ones(1), "float:9:3", "nearest-even")
    assert str(e.value) in err


