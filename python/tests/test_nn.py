# rngfree.nn against independent computations: with quantization off the gradients are torch's own;
# with int8 presets each site equals rngfree.quantize applied by hand to what torch's autograd
# computes (generator streams numbered as the engine: 1 + layer*6 + site; the default harvest pairing
# as docs/training.md defines it); the optimizer's U site; a short, reproducible training run.
import copy

import pytest
import torch
import torch.nn.functional as F

import rngfree
import rngfree.nn as rnn
from conftest import bits

INT8 = "fixed:8:dyn"  # W, A, G of the int8 presets
INT8_E = "bfp:7:32"  # their E: a scale per 32 values (docs/training.md)


class ConvNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 6, 3, stride=2)
        self.fc = torch.nn.Linear(6 * 3 * 3, 5)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(x.flatten(1))


def mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(20, 30), torch.nn.ReLU(), torch.nn.Linear(30, 10))


def grads(model):
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("preset", ["fp32", "int8-sr-harvest"])
def test_quantization_off_gives_torchs_gradients(preset):
    torch.manual_seed(1)
    ref = ConvNet()
    model = copy.deepcopy(ref)
    q = rnn.quantize_model(model, preset=preset)
    q.enabled = False  # fp32 has no active site anyway; int8-sr-harvest's sites are switched off
    x = torch.randn(3, 1, 7, 7, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    F.cross_entropy(model(x), torch.tensor([0, 3, 4])).backward()
    F.cross_entropy(ref(x_ref), torch.tensor([0, 3, 4])).backward()
    for g, h in zip(grads(model), grads(ref)):
        assert torch.equal(g, h)
    assert torch.equal(x.grad, x_ref.grad)


def test_int8_rne_sites_equal_hand_rounding():
    # One Linear layer: A and W round the forward operands, E rounds dL/dy before the layer's
    # backward, G rounds dL/dW; the input's gradient passes A straight through.
    torch.manual_seed(2)
    layer = torch.nn.Linear(16, 8)
    w0, b0 = layer.weight.detach().clone(), layer.bias.detach().clone()
    rnn.quantize_model(layer, preset="int8-rne")
    x = torch.randn(5, 16, requires_grad=True)
    r = torch.randn(5, 8)
    (layer(x) * r).sum().backward()

    q = lambda t: rngfree.quantize(t, INT8, "nearest-even")  # noqa: E731
    wq = q(w0).requires_grad_()
    b = b0.clone().requires_grad_()
    xr = x.detach().clone().requires_grad_()
    y = F.linear(q(xr.detach()) + (xr - xr.detach()), wq, b)  # straight through A
    y.register_hook(lambda g: rngfree.quantize(g, INT8_E, "nearest-even"))  # E
    (y * r).sum().backward()
    assert torch.equal(layer.weight.grad, q(wq.grad))  # G
    assert torch.equal(layer.bias.grad, b.grad)
    assert torch.equal(x.grad, xr.grad)


def forward_acts(model, x):
    """Layer 0's and layer 1's pre-quantization outputs of the int8 presets' forward (A, W nearest-even)."""
    q = lambda t: rngfree.quantize(t, INT8, "nearest-even")  # noqa: E731
    l0, l1 = model[0], model[2]
    act0 = F.linear(q(x), q(l0.weight.detach()), l0.bias.detach())
    act1 = F.linear(q(F.relu(act0)), q(l1.weight.detach()), l1.bias.detach())
    return act0, act1


def test_generator_sites_read_the_engines_streams():
    # int8-sr-philox: E of layer 1 reads philox stream 1 + 1*6 + 2 = 9, four 8-bit words per philox word
    # (philox/8); its bias gradient is the sum of the rounded error. G of layer 1 reads stream 1 + 6 + 3 = 10.
    model = mlp()
    rnn.quantize_model(model, preset="int8-sr-philox", seed=42)
    x, r = torch.randn(8, 20), torch.randn(8, 10)
    (model(x) * r).sum().backward()
    e = rngfree.quantize(r, INT8_E, "stochastic:8", source="philox/8", seed=42, site=9)
    assert torch.equal(model[2].bias.grad, e.sum(0))
    act0, _ = forward_acts(model, x)
    a1 = rngfree.quantize(F.relu(act0), INT8, "nearest-even")
    g = rngfree.quantize(e.t().mm(a1), INT8, "stochastic:8", source="philox/8", seed=42, site=10)
    assert torch.equal(model[2].weight.grad, g)


def test_default_harvest_pairing_of_E():
    # int8-sr-harvest, step 0, E of the last layer (layer 1; docs/training.md): its own act aligned,
    # XOR act@last-1 = layer 0's act (240 elements into 80 words: spread, k = 3, block = 80,
    # period = 80, offset = salt = site E (2) * floor(block / 6) = 26); @+1 taps are past the last
    # layer and dropped. Bits 8-23, field mix; E keeps the low 8 bits.
    model = mlp()
    q = rnn.quantize_model(model, preset="int8-sr-harvest")
    x, r = torch.randn(8, 20), torch.randn(8, 10)
    (model(x) * r).sum().backward()
    act0, act1 = forward_acts(model, x)
    h = rngfree.Harvest([act1, act0], ["aligned", "spread:3:26"], bits="8-23", mix="field")
    e = rngfree.quantize(r, INT8_E, "stochastic:8", words=rngfree.harvest_words(h, 80))
    assert torch.equal(model[2].bias.grad, e.sum(0))
    assert any("harvest" in line for line in q.describe())


def test_sgd_rounds_master_weights_with_U():
    # int8-sr-philox: U = fixed:16:8 stochastic:16 from stream 1 + layer*6 + 4 (philox/16: two words of
    # 16 bits per philox word); biases stay FP32.
    model = mlp()
    rnn.quantize_model(model, preset="int8-sr-philox", seed=3)
    opt = rnn.SGD(model, lr=0.1)
    before = [p.detach().clone() for p in model.parameters()]
    (model(torch.randn(8, 20)) * torch.randn(8, 10)).sum().backward()
    g = grads(model)
    opt.step()
    assert torch.equal(model[0].weight, rngfree.quantize(before[0].sub(g[0], alpha=0.1), "fixed:16:8", "stochastic:16",
                                                          source="philox/16", seed=3, site=5))
    assert torch.equal(model[2].weight, rngfree.quantize(before[2].sub(g[2], alpha=0.1), "fixed:16:8", "stochastic:16",
                                                          source="philox/16", seed=3, site=11))
    assert torch.equal(model[0].bias, before[1].sub(g[1], alpha=0.1))
    assert model.rngfree.step == 1


def train_once(preset, steps=40):
    torch.manual_seed(0)
    model = ConvNet()
    rnn.quantize_model(model, preset=preset, seed=1)
    opt = rnn.SGD(model, lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(5, 1, 7, 7, generator=g)
    losses = []
    for _ in range(steps):
        y = torch.randint(0, 5, (32,), generator=g)
        x = centers[y] + 0.5 * torch.randn(32, 1, 7, 7, generator=g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, losses


def test_short_training_run_learns_and_is_reproducible():
    model, losses = train_once("int8-sr-harvest")
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
    again, losses2 = train_once("int8-sr-harvest")
    assert losses == losses2
    for p, p2 in zip(model.parameters(), again.parameters()):
        assert torch.equal(bits(p.detach()), bits(p2.detach()))
    # U keeps the master weights on the fixed:16:8 grid.
    w = model.conv1.weight.detach()
    assert torch.equal(w * 256, torch.round(w * 256))


def test_bad_preset_and_config():
    with pytest.raises(rngfree.Error) as e:
        rnn.quantize_model(mlp(), preset="int4")
    assert "preset 'int4': unknown" in str(e.value)
    with pytest.raises(rngfree.Error) as e:
        rnn.quantize_model(mlp(), preset="int8-rne", config='[quant.E]\nformat = "fixed:99:1"\n')
    assert "99" in str(e.value)
    with pytest.raises(rngfree.Error):
        rnn.quantize_model(torch.nn.ReLU())


def test_sgd_rounds_the_momentum_buffer_with_M():
    # A config on top of the preset: M = bf16 stochastic:8 from philox stream 1 + layer*6 + 5; the first
    # step's buffer is d = g + weight_decay * x, rounded; the weight moves by lr times the rounded buffer.
    model = mlp()
    rnn.quantize_model(model, preset="int8-rne", seed=4,
                       config='[quant.M]\nformat = "bf16"\nrounding = "stochastic:8"\nsource = "philox"\n')
    opt = rnn.SGD(model, lr=0.1, momentum=0.9, weight_decay=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    (model(torch.randn(8, 20)) * torch.randn(8, 10)).sum().backward()
    g = grads(model)
    opt.step()
    d = g[2].add(before[2], alpha=0.01)
    buf = rngfree.quantize(d, "bf16", "stochastic:8", source="philox", seed=4, site=1 + 6 + 5)
    assert torch.equal(opt.state[model[2].weight]["momentum_buffer"], buf)
    assert not torch.equal(buf, d)
    # int8-rne's U rounds the result to fixed:16:8, nearest-even.
    assert torch.equal(model[2].weight, rngfree.quantize(before[2].sub(buf, alpha=0.1), "fixed:16:8", "nearest-even"))
