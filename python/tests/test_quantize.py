# rngfree.quantize against independent numbers: the exact-rational quantize table (every format
# family and rounding mode), the `rngfree quantize` program on the same inputs and words, and the
# `rngfree random` program's streams; the harvested source against its definition (docs/random.md).
import itertools
import math
import os
import subprocess
import sys

import pytest
import torch

import rngfree
from conftest import SOURCE_DIR, bits, load_table

TABLE = load_table()


def whole_tensor_format(fmt):
    """fixed:WL:dyn scales over the whole tensor and bfp blocks run across rows: one call per row."""
    return fmt.endswith(":dyn") or fmt.startswith("bfp:")


def groups():
    """Rows merged into one tensor per (format, rounding) where the format is elementwise."""
    out = []
    for (fmt, rnd), rows in itertools.groupby(TABLE, key=lambda r: (r["format"], r["rounding"])):
        rows = list(rows)
        if whole_tensor_format(fmt):
            out.extend([(fmt, rnd, [r]) for r in rows])
        else:
            out.append((fmt, rnd, rows))
    return out


GROUPS = groups()


def tensors(rows):
    x = torch.tensor([v for r in rows for v in r["inputs"]], dtype=torch.float32)
    w = torch.tensor([v for r in rows for v in r["words"]], dtype=torch.int64)
    e = torch.tensor([v for r in rows for v in r["expected"]], dtype=torch.float32)
    return x, w, e


def test_table_covers_every_family_and_mode():
    kinds = {(r["format"].split(":")[0], r["rounding"].split(":")[0]) for r in TABLE}
    assert len(TABLE) > 10000
    assert {"stochastic", "nearest-even", "nearest-away", "toward-zero", "up", "down"} <= {k[1] for k in kinds}
    assert {"fixed", "bfp", "float", "bf16", "e4m3"} <= {k[0] for k in kinds}


def test_every_table_row_bit_exact():
    failures = []
    for fmt, rnd, rows in GROUPS:
        x, w, e = tensors(rows)
        y = rngfree.quantize(x, fmt, rnd, words=w)
        bad = (bits(y) != bits(e)).nonzero().reshape(-1).tolist()
        failures += [(fmt, rnd, x[i].item(), w[i].item(), y[i].item(), e[i].item()) for i in bad[:3]]
    assert failures == []


def test_int32_words_are_the_same_bits_as_int64():
    fmt, rnd, rows = next(g for g in GROUPS if g[0] == "bf16" and g[1] == "stochastic:16")
    x, w, e = tensors(rows)
    w32 = torch.where(w >= 2**31, w - 2**32, w).to(torch.int32)
    assert torch.equal(bits(rngfree.quantize(x, fmt, rnd, words=w32)), bits(e))


def test_shapes_and_layouts_are_kept():
    # The span is the tensor in C order: a transposed (non-contiguous) view rounds as its contiguous copy.
    x = torch.randn(64, 48)
    w = torch.randint(0, 2**32, (48, 64), dtype=torch.int64)
    y = rngfree.quantize(x.t(), "fixed:8:dyn", "stochastic:8", words=w)
    assert y.shape == (48, 64)
    assert torch.equal(bits(y), bits(rngfree.quantize(x.t().contiguous(), "fixed:8:dyn", "stochastic:8", words=w)))


def test_generator_source_reads_the_stream():
    # quantize(source=S, seed, site) == quantize(words = the first numel words of (S, seed, site)).
    x = torch.randn(3, 1000)
    for source in ["philox", "xoshiro128pp:16", "lfsr:16", "mt19937"]:
        for site in [0, 7]:
            w = rngfree.random_words(source, 99, site, x.numel())
            expected = rngfree.quantize(x, "e4m3", "stochastic:8", words=w)
            got = rngfree.quantize(x, "e4m3", "stochastic:8", source=source, seed=99, site=site)
            assert torch.equal(bits(got), bits(expected)), (source, site)


def test_mt19937_known_answer():
    # The C++ standard's check: std::mt19937 with seed 5489, the 10000th output is 4123659995.
    assert rngfree.random_words("mt19937", 5489, 0, 10000)[-1].item() == 4123659995


def test_xoshiro128pp_and_xorshift32_streams():
    # docs/random.md: `rngfree random --source xoshiro128pp --seed 0 --count 3` prints these; xorshift32
    # from its definition (state = low 32 bits of SplitMix64(seed)'s first output, shifts 13, 17, 5).
    assert rngfree.reference_sequence("xoshiro128pp", 0, 3) == [1179900579, 1938959192, 3089844957]
    assert rngfree.random_words("xoshiro128pp", 0, 0, 3).tolist() == [1179900579, 1938959192, 3089844957]
    x = 0xE220A8397B1DCDAF & 0xFFFFFFFF  # SplitMix64(0)'s first output (docs/random.md)
    expected = []
    for _ in range(1000):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        expected.append(x)
    assert rngfree.random_words("xorshift32", 0, 0, 1000).tolist() == expected


def test_philox_known_answer():
    # Random123's key (0,0), counter 0: 6627e8d5 e169c58d bc57ac4c 9b00dbd8 (docs/random.md).
    assert rngfree.random_words("philox", 0, 0, 4).tolist() == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]


def test_packed_words_split_each_word_lowest_bits_first():
    # GEN/R (docs/random.md): word i = bits R*(i mod 32/R) .. of GEN's word i // (32/R).
    assert rngfree.random_words("philox/8", 0, 0, 5).tolist() == [0xD5, 0xE8, 0x27, 0x66, 0x8D]
    assert rngfree.random_words("philox/16", 0, 0, 3).tolist() == [0xE8D5, 0x6627, 0xC58D]
    x = torch.linspace(-3, 3, 4099)
    words = rngfree.random_words("xoshiro128pp/8", 7, 3, x.numel())
    assert torch.equal(rngfree.quantize(x, "fixed:8:4", "stochastic:8", source="xoshiro128pp/8", seed=7, site=3),
                       rngfree.quantize(x, "fixed:8:4", "stochastic:8", words=words))


def field_mix(w, width):
    # docs/random.md, the field mix, written out from its definition.
    mask = (1 << width) - 1
    w = (w ^ (0x9E3779B9 & mask)) & mask
    w ^= w >> ((width + 1) // 2)
    w = (w * (0x7FEB352D & mask)) & mask
    w ^= w >> max(1, width // 2)
    return w


def test_harvest_words_follow_the_definition():
    # Fields of 0.1f, pi, 1/3, 1.5, -2 at bits 0-15: CCCD 0FDB AAAB 0000 0000 (docs/random.md examples).
    tap = torch.tensor([0.1, math.pi, 1 / 3, 1.5, -2.0, 0.1, math.pi], dtype=torch.float32)
    # folded:3, n = 7, m = 2: S_i = {i, i+2, i+4} (the definition in harvest.hpp and docs/random.md's table).
    h = rngfree.Harvest(tap, "folded:3", bits="0-15", mix="none")
    assert rngfree.harvest_words(h, 2).tolist() == [0xCCCD ^ 0xAAAB ^ 0x0000, 0x0FDB ^ 0x0000 ^ 0xCCCD]
    h = rngfree.Harvest(tap, "spread", bits="0-15", mix="none")
    assert rngfree.harvest_words(h, 2).tolist() == [0xCCCD ^ 0xAAAB ^ 0x0000, 0x0FDB ^ 0x0000 ^ 0xCCCD]
    assert field_mix(0, 16) == 0x26E6 and field_mix(0xCCCD, 16) == 0xE70A  # the values docs/random.md gives
    h = rngfree.Harvest(tap[:5], "strided:2:3", bits="0-15", mix="field")
    fields = [0xCCCD, 0x0FDB, 0xAAAB, 0, 0]
    assert rngfree.harvest_words(h, 12).tolist() == [field_mix(fields[(3 + 2 * i) % 5], 16) for i in range(12)]


def test_harvest_source_reads_the_harvested_words():
    g = torch.Generator().manual_seed(3)
    x, a, b = torch.randn(5000, generator=g), torch.randn(5000, generator=g), torch.randn(20000, generator=g)
    h = rngfree.Harvest([a, b], ["aligned", "spread:0:123"])
    expected = rngfree.quantize(x, "bf16", "stochastic:16", words=rngfree.harvest_words(h, x.numel()))
    assert torch.equal(bits(rngfree.quantize(x, "bf16", "stochastic:16", source=h)), bits(expected))
    # "self": element i reads element (i + floor(m/2)) mod m of x itself.
    idx = (torch.arange(5000) + 2500) % 5000
    w = rngfree.harvest_words(rngfree.Harvest(x[idx].contiguous(), "aligned"), 5000)
    assert torch.equal(bits(rngfree.quantize(x, "fixed:8:dyn", "stochastic:8", source="self")),
                       bits(rngfree.quantize(x, "fixed:8:dyn", "stochastic:8", words=w)))


def test_sr_is_unbiased_on_average():
    # SR of 1 + q/4 in bf16 (q = 2^-7) with philox words rounds up with probability 1/4 (binomial bound).
    x = torch.full((200000,), 1 + 2**-9, dtype=torch.float32)
    y = rngfree.quantize(x, "bf16", "stochastic:16", source="philox", seed=5)
    assert set(torch.unique(y).tolist()) <= {1.0, 1 + 2**-7}
    p = (y > 1).double().mean().item()
    assert abs(p - 0.25) < 6 * math.sqrt(0.25 * 0.75 / x.numel())


@pytest.mark.parametrize("call,message", [
    (lambda: rngfree.quantize(torch.ones(3), "float:9:3", "nearest-even"), "float:9:3"),
    (lambda: rngfree.quantize(torch.ones(3), "bogus", "nearest-even"), "bogus"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "nearest"), "nearest"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:33"), "33"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8"), "needs random bits"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8", words=torch.zeros(2, dtype=torch.int64)), "one word per element"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8", words=torch.full((3,), -1, dtype=torch.int64)), "0..4294967295"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8", source="philox"), "seed"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8", source="pcg", seed=1), "pcg"),
    (lambda: rngfree.quantize(torch.ones(3, dtype=torch.float64), "bf16", "up"), "float32"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8", source=rngfree.Harvest(torch.ones(3), bits="9-40")), "9-40"),
    (lambda: rngfree.quantize(torch.ones(3), "bf16", "stochastic:8", source=rngfree.Harvest(torch.ones(2), "aligned")), "aligned"),
])
def test_bad_input_raises_the_library_message(call, message):
    with pytest.raises(rngfree.Error) as e:
        call()
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_ops_work_from_torchscript():
    @torch.jit.script
    def q(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return torch.ops.rngfree.quantize(x, "e4m3", "stochastic:8", w)

    x = torch.randn(100)
    w = torch.randint(0, 2**32, (100,), dtype=torch.int64)
    assert torch.equal(bits(q(x, w)), bits(rngfree.quantize(x, "e4m3", "stochastic:8", words=w)))


def test_help_is_useful():
    doc = rngfree.quantize.__doc__
    for word in ["format", "rounding", "stochastic:R", "words", "source", "seed", "Harvest"]:
        assert word in doc
    assert "philox" in rngfree.generator_specs() and "int8-sr-harvest" in rngfree.presets()
    assert rngfree.format_name("fp16") == "fp16" and rngfree.rounding_name("stochastic:8") == "stochastic:8"


def test_out_and_in_place_equal_a_new_result():
    g = torch.Generator().manual_seed(8)
    x, tap = torch.randn(3000, generator=g), torch.randn(3000, generator=g)
    w = torch.randint(0, 2**32, (3000,), generator=g, dtype=torch.int64)
    for kw in [dict(words=w), dict(source="philox", seed=2), dict(source=rngfree.Harvest(tap, "aligned"))]:
        expected = rngfree.quantize(x, "e5m2", "stochastic:12", **kw)
        out = torch.full_like(x, 7.0)
        assert rngfree.quantize(x, "e5m2", "stochastic:12", out=out, **kw) is out
        assert torch.equal(bits(out), bits(expected))
        y = x.clone()
        rngfree.quantize(y, "e5m2", "stochastic:12", out=y, **kw)
        assert torch.equal(bits(y), bits(expected))
    with pytest.raises(rngfree.Error, match="shares memory with a tap"):
        y = x.clone()
        rngfree.quantize(y, "bf16", "stochastic:8", source="self", out=y)
    with pytest.raises(rngfree.Error, match="x's shape"):
        rngfree.quantize(x, "bf16", "nearest-even", out=torch.empty(2999))
    with pytest.raises(rngfree.Error, match="overlaps x partly"):
        buf = torch.randn(3001)
        rngfree.quantize(buf[1:], "bf16", "nearest-even", out=buf[:3000])


def test_large_new_result_equals_out_and_the_kernel_baseline():
    # 2^22 values (16 MiB): a new result this large gets the huge-page hint (ops.cpp new_result);
    # its values are those of out= and of the benchmark's in-process C++ baseline
    # (torch.ops.rngfree._kernel_seconds, examples/python/bench_quantize.py), which reports the
    # OpenMP thread count it ran with: torch's, as rngfree.quantize's.
    g = torch.Generator().manual_seed(9)
    n = 1 << 22
    x = torch.randn(n, generator=g)
    w = torch.randint(-2**31, 2**31, (n,), generator=g, dtype=torch.int32)
    for fmt, rounding, kw, words, source in [("bf16", "nearest-even", {}, None, ""),
                                             ("e4m3", "stochastic:16", dict(words=w), w, ""),
                                             ("fixed:8:dyn", "stochastic:16", dict(source="philox", seed=1), None,
                                              "philox")]:
        new = rngfree.quantize(x, fmt, rounding, **kw)
        out = torch.full_like(x, 7.0)
        rngfree.quantize(x, fmt, rounding, out=out, **kw)
        assert torch.equal(bits(new), bits(out))
        base = torch.full_like(x, 7.0)
        seconds, threads = torch.ops.rngfree._kernel_seconds(x, fmt, rounding, words, source, 1, 0, base)
        assert seconds > 0 and threads == torch.get_num_threads()
        assert torch.equal(bits(base), bits(out))
    with pytest.raises(ValueError, match="words= or source 'philox'"):
        torch.ops.rngfree._kernel_seconds(x, "bf16", "stochastic:8", None, "mt19937", 1, 0, torch.empty_like(x))


def test_benchmark_script_runs():
    # examples/python/bench_quantize.py on 2^16 values, 3 rounds, one thread: it runs, its Python and
    # C++ outputs agree bit for bit (it checks them) and it prints its summary. No timing is judged.
    script = os.path.join(SOURCE_DIR, "examples", "python", "bench_quantize.py")
    r = subprocess.run([sys.executable, script, "--log2-elements", "16", "--repeats", "3", "--threads", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "out= within 10 % of the C++ kernel" in r.stdout and "pure PyTorch" in r.stdout
