"""rngfree for PyTorch: low-precision rounding with stochastic rounding (SR) whose random bits come
from the network itself ("harvest") or from a seeded generator, computed by the C++ library's own
kernels (docs/python.md).

The extension ``_ops.so`` registers TorchScript ops under ``torch.ops.rngfree`` (TORCH_LIBRARY), so
they also work inside ``torch.jit.script``. Every result is bit-identical to the C++ library and to
the command-line program: ``rngfree.quantize`` equals ``rngfree quantize``, ``rngfree.random_words``
with one lane equals ``rngfree random``.

Quick start::

    import torch, rngfree
    x = torch.randn(1000)
    y = rngfree.quantize(x, "bf16", "nearest-even")
    z = rngfree.quantize(x, "fixed:8:dyn", "stochastic:8", source="philox", seed=1)
    h = rngfree.quantize(x, "e4m3", "stochastic:16", source=rngfree.Harvest(torch.randn(1000)))

Errors in user input (a bad format, a missing seed, too few words) raise ``rngfree.Error`` (a
``ValueError``) carrying the library's message, which names the parameter, the value and what is
allowed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Union

import torch

__all__ = [
    "Error", "Harvest", "quantize", "random_words", "reference_sequence", "harvest_words",
    "format_name", "rounding_name", "generator_specs", "presets", "audit", "nist", "nn",
]

_LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ops.so")
torch.ops.load_library(_LIBRARY)
_ops = torch.ops.rngfree


class Error(ValueError):
    """Bad user input, with the library's message (it names the parameter, the value and what is allowed)."""


def _call(op, *args):
    try:
        return op(*args)
    except (ValueError, RuntimeError) as e:  # c10::ValueError arrives as ValueError
        raise Error(str(e).strip()) from None


@dataclass
class Harvest:
    """A generator-free source of SR words: the raw FP32 bits of one or more tap tensors.

    Word i of the rounded tensor is ``mix(XOR over taps t of field(tap_t[j]) for j in S_t(i))``
    (docs/random.md, "The harvester"): ``bits`` is the field ``"LO-HI"`` of the IEEE-754 pattern,
    ``mix`` one of ``"field"`` (a bijection on the field, 0 -> nonzero), ``"whiten32"``, ``"none"``;
    ``pairing`` (one per tap, or one for all) one of ``"auto"``, ``"aligned"``, ``"folded[:K]"``,
    ``"spread[:K[:OFFSET]]"``, ``"strided[:STRIDE[:OFFSET]]"`` or ``"self"`` (element i reads element
    (i + floor(m/2)) mod m: the pairing for a tap that is the rounded tensor itself).
    ``skip_zeros`` removes exact zeros from each tap before pairing.

    The defaults are training's extractor (bits 8-23, mix field), as ``rngfree harvest`` has them.
    Tap tensors are read as float32 in C order (``.contiguous()``), flattened.
    """

    taps: Union[torch.Tensor, Sequence[torch.Tensor]]
    pairing: Union[str, Sequence[str]] = "auto"
    bits: str = "8-23"
    mix: str = "field"
    skip_zeros: bool = False

    def tap_list(self) -> List[torch.Tensor]:
        return [self.taps] if isinstance(self.taps, torch.Tensor) else list(self.taps)

    def pairing_list(self) -> List[str]:
        taps = self.tap_list()
        if isinstance(self.pairing, str):
            return [self.pairing] * len(taps)
        return list(self.pairing)


def quantize(x: torch.Tensor, format: str, rounding: str, words: Optional[torch.Tensor] = None,
             source: Union[None, str, Harvest] = None, seed: Optional[int] = None,
             site: int = 0, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Round every element of the float32 tensor ``x`` to ``format`` with ``rounding``.

    format: ``float:E:M[:ieee]``, ``fp16``, ``bf16``, ``tf32``, ``e5m2``, ``e4m3`` (aliases take
        ``:ieee``), ``fixed:WL:FL``, ``fixed:WL:dyn`` (one power-of-two scale for the whole tensor),
        ``bfp:M:B`` (a shared exponent per block of B consecutive elements in C order).
    rounding: ``nearest-even``, ``nearest-away``, ``toward-zero``, ``up``, ``down``, ``stochastic:R``
        (R = 1..32 random bits; docs/formats.md defines SR bit-exactly).
    For stochastic rounding give exactly one source of random words:
      words: a tensor with one word per element (int32: its 32 bits; int64: 0..2^32-1); element i
          reads the low R bits of words[i] (C order). Same words -> the same result as
          ``rngfree quantize --random given``.
      source: a generator spec (``philox``, ``mt19937``, ``xoshiro128pp[:L]``, ``xorshift32[:L]``,
          ``lfsr:W[:L]``, or any of them as ``GEN/R``: 32/R words of R bits from each word) with
          ``seed`` (required) and ``site`` (the stream, default 0): element i
          reads word i of the stream, ``random_words(source, seed, site, x.numel())``.
          ``"self"``: harvest from x itself (``Harvest(x, "self")``).
          A ``Harvest``: words harvested from its tap tensors.
    Returns a new contiguous float32 tensor of x's shape, or ``out`` (a contiguous float32 tensor of
    x's shape, or x itself: in place) filled with the result — allocating a large result costs more
    than rounding it (docs/python.md, "Speed"). NaN stays NaN; saturating formats clamp.
    Not differentiable (use ``rngfree.nn`` for autograd with straight-through rounding).
    Raises ``rngfree.Error`` for a bad format, rounding, source, seed or word tensor.
    """
    if not isinstance(x, torch.Tensor):
        raise Error("x: a torch.Tensor of dtype float32 is needed, got %s" % type(x).__name__)
    if words is not None and source is not None:
        raise Error("words= and source= given; allowed: one source of random words")
    if source is None:
        if seed is not None:
            raise Error("seed=%r without source=; allowed: seed with a generator source" % (seed,))
        return _call(_ops.quantize, x, format, rounding, words, out)
    if isinstance(source, str) and source == "self":
        source = Harvest(x, "self")
    if isinstance(source, Harvest):
        if seed is not None:
            raise Error("seed=%r with a harvested source; a harvested source has no seed" % (seed,))
        return _call(_ops.quantize_harvest, x, format, rounding, source.tap_list(), source.pairing_list(),
                     source.bits, source.mix, bool(source.skip_zeros), out)
    if isinstance(source, str):
        if seed is None:
            raise Error("source=%r needs seed= (an unsigned 64-bit integer); rngfree has no hidden, unseeded "
                        "generator" % source)
        return _call(_ops.quantize_generator, x, format, rounding, source, _seed(seed), int(site), out)
    raise Error("source: %r; allowed: a generator spec (str), 'self' or rngfree.Harvest" % (source,))


def _seed(seed: int) -> int:
    seed = int(seed)
    if seed < 0 or seed >= 1 << 64:
        raise Error("seed = %d: allowed 0..2^64-1" % seed)
    return seed - (1 << 64) if seed >= 1 << 63 else seed  # the same 64 bits in TorchScript's int64


def random_words(source: str, seed: int, site: int = 0, count: int = 1) -> torch.Tensor:
    """The first ``count`` 32-bit words of generator ``source``'s stream for (seed, site), as int64
    (0..2^32-1): the words ``quantize(..., source=source, seed=seed, site=site)`` reads."""
    return _call(_ops.generator_words, source, _seed(seed), int(site), int(count))


def reference_sequence(source: str, seed: int, count: int) -> List[int]:
    """Exactly what ``rngfree random --source S --seed SEED --count N`` prints: the single-lane stream
    of site 0 (for ``lfsr:W`` the successive W-bit states of lane 0), as Python ints."""
    t = _call(_ops.reference_sequence, source, _seed(seed), int(count))
    return [v & 0xFFFFFFFFFFFFFFFF for v in t.tolist()]


def harvest_words(harvest: Harvest, m: int) -> torch.Tensor:
    """The m words (int64, 0..2^32-1) that a site of m elements reads from ``harvest``."""
    return _call(_ops.harvest_words, harvest.tap_list(), harvest.pairing_list(), int(m), harvest.bits,
                 harvest.mix, bool(harvest.skip_zeros))


def format_name(spec: str) -> str:
    """The canonical spelling of a format spec (raises rngfree.Error for a bad one)."""
    return _call(_ops.format_name, spec)


def rounding_name(spec: str) -> str:
    """The canonical spelling of a rounding spec (raises rngfree.Error for a bad one)."""
    return _call(_ops.rounding_name, spec)


def generator_specs() -> List[str]:
    """The generator specs ``source=`` accepts."""
    return list(_ops.generator_specs())


def presets() -> List[str]:
    """The training presets of ``rngfree train`` (and ``rngfree.nn.quantize_model``)."""
    return list(_ops.preset_names())


from . import audit  # noqa: E402
from . import nist  # noqa: E402
from . import nn  # noqa: E402
