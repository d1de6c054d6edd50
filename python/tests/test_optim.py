# rngfree.nn.AdamW and the state a resumed Python run needs, against independent computations:
# with nothing rounded AdamW is torch.optim.AdamW bit for bit; with a preset, U and the moments equal
# rngfree.quantize applied by hand to the FP32 update (the streams the docstring names); a run saved
# after k steps (model, optimizer and plan state dicts) and resumed in fresh objects ends bit-identical
# to an uninterrupted one, and without the plan's state it does not (so the state is what matters).
import io
import math

import pytest
import torch
import torch.nn.functional as F

import rngfree
import rngfree.nn as rnn
from conftest import bits


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.fc1 = torch.nn.Linear(4 * 6 * 6, 12)
        self.fc2 = torch.nn.Linear(12, 5)

    def forward(self, x):
        x = F.relu(self.conv(x))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def batches(n, seed=7):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(8, 1, 6, 6, generator=g), torch.randint(0, 5, (8,), generator=g)) for _ in range(n)]


def train(model, opt, data):
    for x, y in data:
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


def test_adamw_without_rounding_is_torchs_adamw():
    torch.manual_seed(3)
    model, ref = Net(), Net()
    ref.load_state_dict(model.state_dict())
    q = rnn.quantize_model(model, preset="int8-sr-harvest")
    q.enabled = False
    opt = rnn.AdamW(model, lr=0.01, weight_decay=0.05, state_format=None)
    ref_opt = torch.optim.AdamW(ref.parameters(), lr=0.01, weight_decay=0.05)
    data = batches(4)
    train(model, opt, data)
    train(ref, ref_opt, data)
    for p, r in zip(model.parameters(), ref.parameters()):
        assert torch.equal(bits(p.detach()), bits(r.detach()))


def test_adamw_param_groups_are_torchs_param_groups():
    # the engine's rule (decay only tensors of 2+ dimensions) as param groups: with nothing rounded,
    # bit for bit torch.optim.AdamW given the same groups; the biases differ from a run that decays them
    torch.manual_seed(6)
    model, ref, decayed = Net(), Net(), Net()
    ref.load_state_dict(model.state_dict())
    decayed.load_state_dict(model.state_dict())

    def groups(m):
        return [{"params": [p for p in m.parameters() if p.dim() >= 2]},
                {"params": [p for p in m.parameters() if p.dim() < 2], "weight_decay": 0.0}]

    for m in (model, decayed):
        rnn.quantize_model(m, preset="int8-sr-harvest").enabled = False
    opt = rnn.AdamW(model, lr=0.01, weight_decay=0.05, state_format=None, params=groups(model))
    decayed_opt = rnn.AdamW(decayed, lr=0.01, weight_decay=0.05, state_format=None)
    ref_opt = torch.optim.AdamW(groups(ref), lr=0.01, weight_decay=0.05)
    data = batches(4)
    train(decayed, decayed_opt, data[:1])
    train(model, opt, data[:1])
    for p, d in zip(model.parameters(), decayed.parameters()):  # the first step: only the biases differ
        assert torch.equal(p, d) == (p.dim() >= 2)
    train(model, opt, data[1:])
    train(ref, ref_opt, data)
    for p, r in zip(model.parameters(), ref.parameters()):
        assert torch.equal(bits(p.detach()), bits(r.detach()))


def test_adamw_rounds_the_moments_with_the_plans_m_and_v_sites():
    # [quant.M] / [quant.V] on: a quantized layer's moments are rounded as the engine's AdamW rounds
    # them, with the streams docs/training.md names (M: 1 + layer*6 + 5, V: 2^32 + layer); the
    # biases' moments follow state_format (None: FP32, exactly torch's arithmetic)
    torch.manual_seed(8)
    model = Net()
    config = ('[quant.M]\nformat = "bf16"\nrounding = "stochastic:16"\nsource = "philox"\n'
              '[quant.V]\nformat = "bf16"\nrounding = "stochastic:16"\nsource = "philox"\n')
    q = rnn.quantize_model(model, preset="int8-sr-philox", seed=5, config=config)
    opt = rnn.AdamW(model, lr=0.01, betas=(0.9, 0.99), weight_decay=0.0, state_format=None)
    x, y = batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    grads = {id(p): p.grad.clone() for p in model.parameters()}
    opt.step()
    for p in model.parameters():
        g, state = grads[id(p)], opt.state[p]
        m = torch.zeros_like(g).mul_(0.9).add_(g, alpha=1 - 0.9)
        v = torch.zeros_like(g).mul_(0.99).addcmul_(g, g, value=1 - 0.99)
        layer = q.layer_of.get(id(p))
        if layer is not None:
            m = rngfree.quantize(m, "bf16", "stochastic:16", source="philox", seed=5, site=1 + layer * 6 + 5)
            v = rngfree.quantize(v, "bf16", "stochastic:16", source="philox", seed=5, site=(1 << 32) + layer)
            assert not torch.equal(state["exp_avg"], torch.zeros_like(g).mul_(0.9).add_(g, alpha=1 - 0.9))
        assert torch.equal(bits(state["exp_avg"]), bits(m))
        assert torch.equal(bits(state["exp_avg_sq"]), bits(v))


def test_adamw_rounds_u_and_the_moments_as_documented():
    torch.manual_seed(4)
    model = Net()
    q = rnn.quantize_model(model, preset="int8-sr-philox", seed=5)
    opt = rnn.AdamW(model, lr=0.01, weight_decay=0.0, seed=9)
    params = list(model.parameters())
    before = [p.detach().clone() for p in params]
    x, y = batches(1)[0]
    F.cross_entropy(model(x), y).backward()
    grads = [p.grad.clone() for p in params]
    opt.step()
    n = len(params)
    for index, (p, p0, g) in enumerate(zip(params, before, grads)):
        # the moments: FP32 arithmetic, then bf16 SR with the stream 2^40 + (t*n + index)*2 + moment (t = 1)
        m = rngfree.quantize(torch.zeros_like(g).mul_(0.9).add_(g, alpha=1 - 0.9), "bf16", "stochastic:16",
                             source="philox", seed=9, site=(1 << 40) + (n + index) * 2)
        v = rngfree.quantize(torch.zeros_like(g).mul_(0.999).addcmul_(g, g, value=1 - 0.999), "bf16",
                             "stochastic:16", source="philox", seed=9, site=(1 << 40) + (n + index) * 2 + 1)
        assert torch.equal(bits(opt.state[p]["exp_avg"]), bits(m))
        assert torch.equal(bits(opt.state[p]["exp_avg_sq"]), bits(v))
        new = p0.mul(1.0).addcdiv_(m, (v.sqrt() / math.sqrt(1 - 0.999)).add_(1e-8), value=-0.01 / (1 - 0.9))
        layer = q.layer_of.get(id(p))
        if layer is None:  # a bias: FP32
            assert torch.equal(bits(p.detach()), bits(new))
        else:  # U: fixed:16:8 stochastic:16, the plan's stream 1 + layer*6 + 4 (first words; philox/16)
            expect = rngfree.quantize(new, "fixed:16:8", "stochastic:16", source="philox/16", seed=5,
                                      site=1 + layer * 6 + 4)
            assert torch.equal(bits(p.detach()), bits(expect))
            assert not torch.equal(bits(p.detach()), bits(new))  # U did round


W_HARVEST = '[quant.W]\nformat = "fixed:8:dyn"\nrounding = "stochastic:8"\nsource = "harvest"\n'


@pytest.mark.parametrize("preset,config,optimizer", [
    ("int8-sr-philox", "", "adamw"),          # generator positions
    ("int8-sr-harvest", W_HARVEST, "adamw"),  # W <- the previous step's grad tap
    ("int8-sr-harvest", W_HARVEST, "sgd"),
])
def test_resumed_run_is_bit_identical(preset, config, optimizer):
    data = batches(6)

    def fresh():
        torch.manual_seed(11)
        model = Net()
        rnn.quantize_model(model, preset=preset, config=config, seed=2)
        opt = (rnn.AdamW(model, lr=0.01) if optimizer == "adamw"
               else rnn.SGD(model, lr=0.05, momentum=0.9, weight_decay=5e-4))
        return model, opt

    whole, whole_opt = fresh()
    train(whole, whole_opt, data)

    first, first_opt = fresh()
    train(first, first_opt, data[:3])
    saved = io.BytesIO()
    torch.save({"model": first.state_dict(), "opt": first_opt.state_dict(), "plan": first.rngfree.state_dict()}, saved)

    def resumed(with_plan):
        saved.seek(0)
        state = torch.load(saved)
        model, opt = fresh()
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        if with_plan:
            model.rngfree.load_state_dict(state["plan"])
        train(model, opt, data[3:])
        return model

    same = resumed(True)
    for p, r in zip(same.parameters(), whole.parameters()):
        assert torch.equal(bits(p.detach()), bits(r.detach()))
    other = resumed(False)
    assert any(not torch.equal(bits(p.detach()), bits(r.detach())) for p, r in zip(other.parameters(), whole.parameters()))


def test_plan_state_of_another_preset_is_refused():
    a, b = Net(), Net()
    rnn.quantize_model(a, preset="int8-sr-philox")
    rnn.quantize_model(b, preset="int8-sr-harvest")
    with pytest.raises(rngfree.Error, match="another preset or config"):
        b.rngfree.load_state_dict(a.rngfree.state_dict())


def test_adamw_bad_settings_are_refused():
    model = Net()
    rnn.quantize_model(model, preset="int8-sr-philox")
    with pytest.raises(rngfree.Error, match="betas"):
        rnn.AdamW(model, betas=(1.0, 0.999))
    with pytest.raises(rngfree.Error, match="float:9"):
        rnn.AdamW(model, state_format="float:9:3")
    with pytest.raises(rngfree.Error, match="not a parameter of model"):
        rnn.AdamW(model, params=[torch.nn.Parameter(torch.zeros(3))])
    with pytest.raises(rngfree.Error, match="param group betas"):
        rnn.AdamW(model, params=[{"params": list(model.parameters()), "betas": (0.9, 1.5)}])
