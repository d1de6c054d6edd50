"""Quantization sites W, A, E, G (and U, M, V in the optimizer) on any ``torch.nn.Module``'s Linear and
Conv2d layers, with the C++ engine's site plan, word sources and default generator-free pairing
(docs/training.md; docs/python.md says precisely what differs from ``rngfree train``).

    model = MyNet()
    plan = rngfree.nn.quantize_model(model, preset="int8-sr-harvest", seed=1)
    opt = rngfree.nn.SGD(model, lr=0.05, momentum=0.9, weight_decay=5e-4)
    ... loss.backward(); opt.step(); opt.zero_grad()

Per quantized layer L (in ``named_modules()`` order): A rounds the layer's input and W its weight in
the forward pass; E rounds dL/d(output) and G dL/d(weight) in the backward pass (straight-through:
the rounding is the identity for autograd); U rounds the weight after each ``SGD.step`` and M the
momentum buffer. Each rounding is ``torch.classes.rngfree.SitePlan.quantize``: the library's format,
rounding and word source for that (layer, site), with the taps the layers recorded this step.
"""
from __future__ import annotations

import math
import types
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F

from . import Error, _call, _seed
from . import quantize as _quantize

__all__ = ["quantize_model", "QuantizedModel", "SGD", "AdamW", "SITES", "TAPS"]

SITES = {"W": 0, "A": 1, "E": 2, "G": 3, "U": 4, "M": 5, "V": 6}
TAPS = {"input": 0, "weights": 1, "act": 2, "err": 3, "grad": 4}
_W, _A, _E, _G, _U, _M, _V = range(7)
_INPUT, _WEIGHTS, _ACT, _ERR, _GRAD = range(5)


class _Site(torch.autograd.Function):
    """Forward: record a tap, round with the forward site; backward: record a tap, round with the
    backward site (-1: none). The engine's QuantizeFn (src/train/quantize_op.cpp), in Python."""

    @staticmethod
    def forward(ctx, x, plan, layer, fwd_site, bwd_site, fwd_tap, bwd_tap):
        ctx.plan, ctx.layer, ctx.bwd_site, ctx.bwd_tap = plan, layer, bwd_site, bwd_tap
        if fwd_tap >= 0:
            plan.record(layer, fwd_tap, x)
        if fwd_site >= 0:
            return plan.quantize(layer, fwd_site, x)
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        if ctx.bwd_tap >= 0:
            ctx.plan.record(ctx.layer, ctx.bwd_tap, g)
        if ctx.bwd_site >= 0:
            g = ctx.plan.quantize(ctx.layer, ctx.bwd_site, g)
        return g, None, None, None, None, None, None


class QuantizedModel:
    """What ``quantize_model`` attached to the model (``model.rngfree``): the plan and the layers."""

    def __init__(self, model: torch.nn.Module, preset: str, config: str, seed: int):
        self.layers = [(name, m) for name, m in model.named_modules()
                       if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
        if not self.layers:
            raise Error("quantize_model: the model has no torch.nn.Linear or torch.nn.Conv2d layer to quantize")
        names = [name for name, _ in self.layers]
        try:
            self.plan = torch.classes.rngfree.SitePlan(preset, config, names, int(seed))
        except (RuntimeError, ValueError) as e:
            raise Error(str(e).strip()) from None
        self.model = model
        self.enabled = True
        self.layer_of = {id(m.weight): i for i, (_, m) in enumerate(self.layers)}

    def describe(self) -> List[str]:
        """One line per active site: layer, site, format, rounding and source (as ``rngfree train --layers``)."""
        return list(self.plan.describe())

    @property
    def step(self) -> int:
        """The optimizer step the harvested pairings use (``SGD.step`` advances it)."""
        return self.plan.step()

    @step.setter
    def step(self, value: int) -> None:
        _call(self.plan.set_step, int(value))

    def state_dict(self) -> Dict[str, object]:
        """What a resumed run needs besides the model's and the optimizer's state dicts: the step (the
        harvested pairings' offsets), every generator site's position, and the recorded taps (a
        harvested site may read the previous step's, e.g. W <- grad). ``torch.save``-able."""
        taps = {}
        for layer in range(self.plan.num_layers()):
            for kind in range(len(TAPS)):
                t = self.plan.tap(layer, kind)
                if t is not None:
                    taps["%d.%d" % (layer, kind)] = t.clone()
        return {"step": self.plan.step(), "generators": list(self.plan.generator_states()), "taps": taps}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        """Restore ``state_dict()``'s result (of a plan with the same preset, config and layers):
        the run continues bit-identically. Raises ``rngfree.Error`` for a state of another plan."""
        _call(self.plan.load_generator_states, list(state["generators"]))
        self.plan.clear_taps()
        for key, t in state["taps"].items():
            layer, kind = (int(v) for v in key.split("."))
            _call(self.plan.record, layer, kind, t)
        self.step = int(state["step"])

    def _wants(self, layer: int, tap: int) -> int:
        return tap if self.model.training and self.plan.reads(layer, tap) else -1

    def _site(self, layer: int, site: int) -> int:
        return site if self.enabled and self.plan.active(layer, site) else -1

    def _forward(self, layer: int, module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        if layer == 0 and self._wants(0, _INPUT) >= 0:
            self.plan.record(0, _INPUT, x.detach())
        a_site = self._site(layer, _A)
        a = _Site.apply(x, self.plan, layer, a_site, -1, -1, -1) if a_site >= 0 else x
        w_site, g_site = self._site(layer, _W), self._site(layer, _G)
        w_tap, g_tap = self._wants(layer, _WEIGHTS), self._wants(layer, _GRAD)
        w = module.weight
        if w_site >= 0 or g_site >= 0 or w_tap >= 0 or g_tap >= 0:
            w = _Site.apply(w, self.plan, layer, w_site, g_site, w_tap, g_tap)
        if isinstance(module, torch.nn.Linear):
            y = F.linear(a, w, module.bias)
        else:
            y = module._conv_forward(a, w, module.bias)
        e_site, a_tap, e_tap = self._site(layer, _E), self._wants(layer, _ACT), self._wants(layer, _ERR)
        if e_site >= 0 or a_tap >= 0 or e_tap >= 0:
            y = _Site.apply(y, self.plan, layer, -1, e_site, a_tap, e_tap)
        return y


def quantize_model(model: torch.nn.Module, preset: str = "int8-sr-harvest", seed: int = 1,
                   config: str = "") -> QuantizedModel:
    """Put the quantization sites of ``preset`` on every Linear and Conv2d layer of ``model`` (in place).

    preset: one of ``rngfree.presets()`` (``fp32``, ``int8-rne``, ``int8-sr-lfsr``,
        ``int8-sr-xoshiro``, ``int8-sr-philox``, ``int8-sr-harvest``, the ``int8-dyn-*`` and ``bf16-*``
        master-weight presets), as ``rngfree train --preset``.
    config: optional TOML text with ``[quant.*]`` overrides, as a ``rngfree train`` config file
        (e.g. ``'[quant.E]\\nsource = "harvest:err@+1"'``); the preset is applied first.
    seed: the seed of the generator sources (stream of (layer, site) = 1 + layer*6 + site, as the engine).
    Layers are numbered in ``model.named_modules()`` order, which should be the order the forward pass
    runs them (harvest taps such as ``act@+1`` and ``act@-1`` name neighbours by that number).
    Returns the ``QuantizedModel`` (also ``model.rngfree``). Raises ``rngfree.Error`` for a bad preset
    or config, with the library's message.
    """
    q = QuantizedModel(model, preset, config, _seed_ok(seed))
    for index, (_, module) in enumerate(q.layers):
        module.forward = types.MethodType(lambda self, x, _i=index: q._forward(_i, self, x), module)
    model.rngfree = q
    return q


def _seed_ok(seed: int) -> int:
    from . import _seed
    return _seed(seed)


class SGD(torch.optim.Optimizer):
    """SGD with momentum and weight decay, rounding the momentum buffer (site M) and the master
    weights (site U, ``x <- Q_U(x - lr * step)``) of quantized layers, as the engine's QSgd
    (src/train/optimizer.cpp): d = g + weight_decay * x; buf = d (first step) or momentum * buf + d;
    step = buf (or d without momentum). After each step the plan's step counter advances (the
    harvested pairings' offsets move). Parameters that are not a quantized layer's weight (biases)
    are updated in FP32, as in the engine.
    """

    def __init__(self, model: torch.nn.Module, lr: float, momentum: float = 0.0, weight_decay: float = 0.0):
        if not hasattr(model, "rngfree"):
            raise Error("SGD: call rngfree.nn.quantize_model(model, ...) first")
        super().__init__(model.parameters(), dict(lr=lr, momentum=momentum, weight_decay=weight_decay))
        self.q: QuantizedModel = model.rngfree

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        plan = self.q.plan
        for group in self.param_groups:
            lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                layer: Optional[int] = self.q.layer_of.get(id(p))
                d = p.grad.add(p, alpha=wd) if wd != 0 else p.grad
                step = d
                if momentum != 0:
                    state = self.state[p]
                    buf = state.get("momentum_buffer")
                    if buf is None:
                        buf = state["momentum_buffer"] = d.clone().contiguous()
                    else:
                        buf.mul_(momentum).add_(d)
                    if layer is not None and self.q.enabled and plan.active(layer, _M):
                        buf.copy_(plan.quantize(layer, _M, buf))
                    step = buf
                if layer is not None and self.q.enabled and plan.active(layer, _U):
                    p.copy_(plan.quantize(layer, _U, p.sub(step, alpha=lr)))
                else:
                    p.sub_(step, alpha=lr)
        plan.set_step(plan.step() + 1)
        return loss


class AdamW(torch.optim.Optimizer):
    """AdamW (Loshchilov & Hutter; torch.optim.AdamW's update) whose master weights and moments are
    rounded with stochastic rounding:

        p <- p - lr * weight_decay * p                 (decoupled weight decay)
        m <- Q_M(beta1 * m + (1 - beta1) * g)
        v <- Q_V(beta2 * v + (1 - beta2) * g^2)
        p <- Q_U(p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps))

    Q_U is the plan's U site of a quantized layer's weight (its format, rounding and word source,
    harvested or a generator, as ``SGD``); other parameters (biases) are updated in FP32. Q_M and Q_V
    of a quantized layer's weight are the plan's M and V sites where the config turns them on
    (``[quant.M]``, ``[quant.V]``: exactly the engine's ``--optimizer adamw`` rounding of its moments;
    the presets leave them off). Every other moment (all of them with a preset) is rounded by
    Q_state = ``rngfree.quantize(x, state_format, state_rounding, source=state_source, seed=seed, site=S)``,
    with a Philox-style stream per (step, parameter, moment):
    S = 2^40 + (t * n_params + index) * 2 + moment (far from the plan's own streams 1 + layer*6 +
    site), so the moments' words need no state beyond the step and a resumed run draws the same
    words. ``state_format=None`` keeps the moments in FP32. The default ``bf16`` with
    ``stochastic:16`` keeps v's range (a per-tensor fixed-point scale would flush small squares to 0).
    The moments are not harvested: they are computed from g itself, so a harvest of g would feed a
    moment's rounding with its own bits (the library's own-bits rule, docs/training.md).

    ``params``: the parameters or param groups to optimize, as torch.optim's first argument (default
    ``model.parameters()``, one group); every one must be a parameter of ``model``. A group's keys
    (``lr``, ``betas``, ``eps``, ``weight_decay``) override the keyword defaults, e.g. the engine's
    ``rngfree train --optimizer adamw``, which decays only tensors of two or more dimensions:
    ``params=[{"params": [p for p in model.parameters() if p.dim() >= 2]},
    {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}]``.

    ``state_dict()``/``load_state_dict()`` (torch's) carry m, v and the step; with
    ``model.rngfree.state_dict()`` a resumed run continues bit-identically (docs/python.md).
    """

    def __init__(self, model: torch.nn.Module, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, state_format: Optional[str] = "bf16",
                 state_rounding: str = "stochastic:16", state_source: str = "philox", seed: int = 1,
                 params=None):
        if not hasattr(model, "rngfree"):
            raise Error("AdamW: call rngfree.nn.quantize_model(model, ...) first")
        if not 0.0 <= betas[0] < 1.0 or not 0.0 <= betas[1] < 1.0:
            raise Error("betas = %r: allowed 0 <= beta < 1 for both" % (betas,))
        if lr < 0 or eps < 0 or weight_decay < 0:
            raise Error("lr = %r, eps = %r, weight_decay = %r: allowed >= 0" % (lr, eps, weight_decay))
        if state_format is not None:  # checked once here, with the library's messages
            _quantize(torch.zeros(1), state_format, state_rounding,
                      source=state_source if "stochastic" in state_rounding else None,
                      seed=seed if "stochastic" in state_rounding else None)
        super().__init__(model.parameters() if params is None else params,
                         dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))
        self.q: QuantizedModel = model.rngfree
        self.state_format, self.state_rounding, self.state_source = state_format, state_rounding, state_source
        self.seed = _seed(seed) % (1 << 64)
        # the moments' streams number parameters in model.parameters() order, whatever the groups
        self.index = {id(p): i for i, p in enumerate(model.parameters())}
        for group in self.param_groups:
            b = group["betas"]
            if not 0.0 <= b[0] < 1.0 or not 0.0 <= b[1] < 1.0:
                raise Error("param group betas = %r: allowed 0 <= beta < 1 for both" % (b,))
            if group["lr"] < 0 or group["eps"] < 0 or group["weight_decay"] < 0:
                raise Error("param group lr = %r, eps = %r, weight_decay = %r: allowed >= 0"
                            % (group["lr"], group["eps"], group["weight_decay"]))
            for p in group["params"]:
                if id(p) not in self.index:
                    raise Error("AdamW: params holds a tensor of shape %s that is not a parameter of model"
                                % (tuple(p.shape),))

    def _round_state(self, x: torch.Tensor, t: int, index: int, moment: int) -> torch.Tensor:
        if self.state_format is None:
            return x
        if "stochastic" not in self.state_rounding:
            return _quantize(x, self.state_format, self.state_rounding, out=x)
        site = (1 << 40) + (t * len(self.index) + index) * 2 + moment
        return _quantize(x, self.state_format, self.state_rounding, source=self.state_source, seed=self.seed,
                         site=site, out=x)

    def _round_moment(self, x: torch.Tensor, layer: Optional[int], site: int, t: int, index: int) -> None:
        """Moment x (in place): the plan's M or V site of a quantized layer where it is on, else Q_state."""
        if layer is not None and self.q.enabled and self.q.plan.active(layer, site):
            x.copy_(self.q.plan.quantize(layer, site, x))
        else:
            self._round_state(x, t, index, 0 if site == _M else 1)

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        plan = self.q.plan
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.contiguous_format)
                state["step"] += 1
                t = state["step"]
                index = self.index[id(p)]
                m, v, g = state["exp_avg"], state["exp_avg_sq"], p.grad
                layer: Optional[int] = self.q.layer_of.get(id(p))
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                self._round_moment(m, layer, _M, t, index)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                self._round_moment(v, layer, _V, t, index)
                # torch.optim.AdamW's arithmetic, operation for operation (equal to it bit for bit
                # when nothing is rounded: python/tests/test_optim.py)
                denom = (v.sqrt() / math.sqrt(1 - beta2 ** t)).add_(eps)
                new = p.mul(1 - lr * wd).addcdiv_(m, denom, value=-lr / (1 - beta1 ** t))
                if layer is not None and self.q.enabled and plan.active(layer, _U):
                    p.copy_(plan.quantize(layer, _U, new))
                else:
                    p.copy_(new)
        plan.set_step(plan.step() + 1)
        return loss
