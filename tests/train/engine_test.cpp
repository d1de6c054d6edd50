// The libtorch engine against independent numbers: with quantization off, every layer and model's
// gradients match central finite differences (double precision); with it on, forward and backward
// results equal the core quantizer applied to libtorch's own results, bit for bit, for nearest-even,
// SR from a generator and SR from harvested taps; the optimizer's update rounds into U exactly.
#include <gtest/gtest.h>

#include <cstring>

#include "rngfree/harvest/harvest.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/train/optimizer.hpp"
#include "support/linear_net.hpp"

using namespace rngfree;
using namespace rngfree::train;

namespace {

std::span<const float> cspan(const torch::Tensor& t) {
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}

// Bitwise equality of two float tensors (NaN-safe, -0 != +0).
::testing::AssertionResult bits_equal(const torch::Tensor& a_in, const torch::Tensor& b_in) {
  torch::Tensor a = a_in.contiguous(), b = b_in.contiguous();
  if (a.sizes() != b.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  if (std::memcmp(a.data_ptr<float>(), b.data_ptr<float>(), static_cast<size_t>(a.numel()) * 4) != 0) {
    int64_t n = 0;
    for (int64_t i = 0; i < a.numel(); ++i) n += a.data_ptr<float>()[i] != b.data_ptr<float>()[i];
    return ::testing::AssertionFailure() << n << " of " << a.numel() << " elements differ";
  }
  return ::testing::AssertionSuccess();
}

torch::Tensor core_quantize(const torch::Tensor& t, const std::string& fmt, const std::string& rnd,
                            const std::vector<uint32_t>& words = {}) {
  torch::Tensor in = t.contiguous(), out = torch::empty_like(in);
  quantize(cspan(in), {out.data_ptr<float>(), static_cast<size_t>(out.numel())}, Format::parse(fmt),
           Rounding::parse(rnd), words);
  return out;
}

std::vector<uint32_t> generator_words(const std::string& spec, uint64_t seed, int layer, Site site, int64_t n) {
  auto g = random::make_generator(spec, seed, site_stream(layer, site));
  std::vector<uint32_t> w(static_cast<size_t>(n));
  g->fill(w);
  return w;
}

// Training's `auto` pairing (docs/training.md): aligned, strided when the tap is smaller, and
// folded with at most 4 copies when it is larger.
// The default harvest words of site `site` at step 0 (docs/training.md "Default generator-free
// pairing"): the config's default extractor; aligned if the tap has m elements, spread over the
// tap in k = min(n/m, 4) blocks of floor(n/k) starting site·floor(block/6) elements in if it has
// more, strided (reusing elements) if fewer; the reference implementation computes them.
std::vector<uint32_t> harvested(const torch::Tensor& tap, int64_t m, Site site) {
  torch::Tensor c = tap.contiguous();
  const HarvestConfig defaults;
  harvest::Extractor ex = harvest::Extractor::parse_bits(defaults.bits);
  ex.mix = harvest::parse_mix(defaults.mix);
  const int64_t n = c.numel();
  // docs/training.md, step 0: E reads a tap of its size aligned, a smaller one from its start; G and U
  // read a tap no larger than the site from site·floor(n/6), wrapping.
  harvest::Pairing p{n == m ? harvest::PairingKind::kAligned : harvest::PairingKind::kStrided, 0, 1, 0};
  if (n <= m && site != Site::kErrors) {
    p = harvest::Pairing{harvest::PairingKind::kStrided, 0, 1, (static_cast<int64_t>(site) * (n / 6)) % n};
  }
  if (n > m) {
    const int64_t k = std::min<int64_t>(n / m, 4), block = n / k;
    p = harvest::Pairing{harvest::PairingKind::kSpread, k, 1, static_cast<int64_t>(site) * (block / 6)};
  }
  return harvest::harvest_words_reference(cspan(c), ex, p, m);
}

// Central finite differences of f at a few coordinates of p, in double precision.
void check_gradient(const std::function<torch::Tensor()>& f, torch::Tensor p, const torch::Tensor& grad, int samples,
                    const std::string& what) {
  torch::NoGradGuard guard;
  torch::Tensor flat = p.view(-1), gflat = grad.reshape(-1);
  const int64_t n = flat.numel();
  for (int k = 0; k < samples; ++k) {
    const int64_t i = (k * 7919 + 13) % n;
    const double orig = flat[i].item<double>(), h = 1e-6;
    flat[i] = orig + h;
    const double fp = f().item<double>();
    flat[i] = orig - h;
    const double fm = f().item<double>();
    flat[i] = orig;
    const double fd = (fp - fm) / (2 * h), an = gflat[i].item<double>();
    EXPECT_NEAR(an, fd, 1e-6 + 1e-5 * std::abs(fd)) << what << " element " << i;
  }
}

QuantConfig sites_config(const std::string& fmt, const std::string& backward_rounding, const std::string& source) {
  QuantConfig q;
  for (Site s : {Site::kWeights, Site::kActivations, Site::kErrors, Site::kGradients}) {
    auto& sc = q.sites[static_cast<int>(s)];
    sc.format = fmt;
    if (s == Site::kErrors || s == Site::kGradients) {
      sc.rounding = backward_rounding;
      sc.source = source;
    }
  }
  return q;
}

}  // namespace

// EvaluationScope: inside it the engine records no taps and the module is in eval mode; a libtorch
// error thrown from a forward pass inside it (a wrong input shape) leaves both as they were before,
// and a scope entered while not recording (nested evaluation) leaves recording off.
TEST(TrainEngine, EvaluationScopeRestoresFlagsWhenAnExceptionEscapes) {
  Engine e;
  QLinear lin(5, 4, &e.add_layer("lin"));
  QuantConfig q;
  q.sites[static_cast<int>(Site::kActivations)].format = "bf16";
  e.configure(q, 1);
  int taps = 0;
  e.callback = [&](const TapEvent&) { ++taps; };
  lin->forward(torch::randn({2, 5}));
  const int taps_training = taps;
  EXPECT_GT(taps_training, 0) << "a training forward pass records its taps";
  ASSERT_TRUE(e.recording);
  ASSERT_TRUE(lin->is_training());
  bool threw = false;
  try {
    EvaluationScope scope(e, *lin);
    EXPECT_FALSE(e.recording);
    EXPECT_FALSE(lin->is_training());
    lin->forward(torch::randn({2, 5}));
    EXPECT_EQ(taps, taps_training) << "no taps during evaluation";
    lin->forward(torch::randn({2, 3}));  // (2, 3) x (5, 4)^T: libtorch throws
  } catch (const c10::Error&) {
    threw = true;
  }
  EXPECT_TRUE(threw);
  EXPECT_TRUE(e.recording);
  EXPECT_TRUE(lin->is_training());
  lin->forward(torch::randn({2, 5}));
  EXPECT_GT(taps, taps_training) << "recording again after the scope";
  // Nested: a scope entered while not recording / in eval mode restores exactly that.
  e.recording = false;
  lin->eval();
  try {
    EvaluationScope scope(e, *lin);
    throw std::runtime_error("escape");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(e.recording);
  EXPECT_FALSE(lin->is_training());
}

// Quantization off: QLinear and QConv2d gradients (input, weight, bias) equal finite differences.
TEST(TrainEngine, LayerGradientsMatchFiniteDifferences) {
  torch::manual_seed(3);
  Engine e;
  QLinear lin(5, 4, &e.add_layer("lin"));
  QConv2d conv(3, 2, 3, 2, 1, &e.add_layer("conv"));
  e.configure(QuantConfig{}, 1);
  lin->to(torch::kFloat64);
  conv->to(torch::kFloat64);
  {
    torch::Tensor x = torch::randn({3, 5}, torch::kFloat64).requires_grad_(true);
    torch::Tensor r = torch::randn({3, 4}, torch::kFloat64);
    auto f = [&] { return (lin->forward(x) * r).pow(2).sum(); };
    f().backward();
    check_gradient(f, x, x.grad(), 15, "linear input");
    check_gradient(f, lin->weight, lin->weight.grad(), 20, "linear weight");
    check_gradient(f, lin->bias, lin->bias.grad(), 4, "linear bias");
  }
  {
    torch::Tensor x = torch::randn({2, 3, 7, 7}, torch::kFloat64).requires_grad_(true);
    torch::Tensor r = torch::randn({2, 2, 4, 4}, torch::kFloat64);
    auto f = [&] { return (conv->forward(x) * r).pow(2).sum(); };
    f().backward();
    check_gradient(f, x, x.grad(), 20, "conv input");
    check_gradient(f, conv->weight, conv->weight.grad(), 20, "conv weight");
    check_gradient(f, conv->bias, conv->bias.grad(), 2, "conv bias");
  }
}

// Quantization off: every model's loss gradient equals finite differences (parameters sampled).
TEST(TrainEngine, ModelGradientsMatchFiniteDifferences) {
  struct Case {
    std::string model;
    int channels, size, width;
  };
  for (const Case& c : {Case{"mlp", 1, 28, 0}, Case{"lenet5", 1, 28, 0}, Case{"vgg7", 3, 32, 4}, Case{"resnet20", 3, 32, 0}}) {
    torch::manual_seed(5);
    Engine e;
    auto net = make_model(c.model, c.width, c.channels, c.size, 10, e);
    e.configure(QuantConfig{}, 1);
    net->to(torch::kFloat64);
    net->eval();  // BatchNorm with fixed statistics: a deterministic function of the parameters
    torch::Tensor x = torch::randn({2, c.channels, c.size, c.size}, torch::kFloat64);
    torch::Tensor y = torch::tensor({3, 7}, torch::kInt64);
    auto f = [&] { return torch::nn::functional::cross_entropy(net->forward(x), y); };
    f().backward();
    int checked = 0;
    for (auto& p : net->named_parameters()) {
      if (p.key().find("bn") != std::string::npos) continue;
      check_gradient(f, p.value(), p.value().grad(), 3, c.model + " " + p.key());
      if (++checked == 6) break;
    }
  }
}

namespace {
// One quantized layer step: the layer's forward output, input gradient and weight gradient against
// libtorch run by hand on core-quantized tensors.
void check_bit_exact(bool conv, const std::string& rounding, const std::string& source) {
  SCOPED_TRACE((conv ? "conv " : "linear ") + rounding + " " + source);
  torch::manual_seed(11);
  const uint64_t seed = 42;
  Engine e;
  QLayer& l = e.add_layer("layer");
  QLinear lin{nullptr};
  QConv2d cv{nullptr};
  torch::Tensor weight, bias;
  if (conv) {
    cv = QConv2d(3, 4, 3, 1, 1, &l);
    weight = cv->weight;
    bias = cv->bias;
  } else {
    lin = QLinear(20, 7, &l);
    weight = lin->weight;
    bias = lin->bias;
  }
  const std::string fmt = "fixed:8:dyn";
  e.configure(sites_config(fmt, rounding, source), seed);
  torch::Tensor x = conv ? torch::randn({2, 3, 12, 12}) : torch::randn({5, 20});  // conv: err 1152 = 10.7 x W (108)
  x.requires_grad_(true);
  torch::Tensor y = conv ? cv->forward(x) : lin->forward(x);
  torch::Tensor g = torch::randn(y.sizes());
  y.backward(g);

  // Reference: libtorch on core-quantized tensors.
  torch::Tensor xa = core_quantize(x.detach(), fmt, "nearest-even").requires_grad_(true);
  torch::Tensor wq = core_quantize(weight.detach(), fmt, "nearest-even").requires_grad_(true);
  torch::Tensor b = bias.detach().clone().requires_grad_(true);
  torch::Tensor act = conv ? torch::conv2d(xa, wq, b, 1, 1) : torch::linear(xa, wq, b);
  EXPECT_TRUE(bits_equal(y.detach(), act.detach())) << "forward";
  std::vector<uint32_t> we, wg;
  if (source != "harvest" && !source.empty()) {
    we = generator_words(source, seed, 0, Site::kErrors, g.numel());
    wg = generator_words(source, seed, 0, Site::kGradients, weight.numel());
  } else if (source == "harvest") {
    we = harvested(act.detach(), g.numel(), Site::kErrors);         // E <- act, aligned
    wg = harvested(act.detach(), weight.numel(), Site::kGradients);  // G <- act, spread to W's size
  }
  torch::Tensor eq = core_quantize(g, fmt, rounding, we);
  act.backward(eq);
  EXPECT_TRUE(bits_equal(x.grad(), xa.grad())) << "input gradient";
  EXPECT_TRUE(bits_equal(bias.grad(), b.grad())) << "bias gradient";
  EXPECT_TRUE(bits_equal(weight.grad(), core_quantize(wq.grad(), fmt, rounding, wg))) << "weight gradient";
  // The quantizer did something: the weight gradient is on the 8-bit grid but the raw one is not.
  EXPECT_FALSE(bits_equal(weight.grad(), wq.grad()));
}
}  // namespace

TEST(TrainEngine, QuantizedLayersBitExactNearestEven) {
  check_bit_exact(false, "nearest-even", "");
  check_bit_exact(true, "nearest-even", "");
}
// philox and xoshiro128pp give their words to the quantize threads by index (RandomSource::take),
// lfsr:32 writes them first: the same words either way.
TEST(TrainEngine, QuantizedLayersBitExactStochasticGenerator) {
  for (const char* spec : {"philox", "xoshiro128pp", "lfsr:32"}) {
    check_bit_exact(false, "stochastic:8", spec);
    check_bit_exact(true, "stochastic:8", spec);
  }
}
TEST(TrainEngine, QuantizedLayersBitExactStochasticHarvest) {
  check_bit_exact(false, "stochastic:8", "harvest");
  check_bit_exact(true, "stochastic:8", "harvest");
}

// U: x <- Q_U(x - lr·(g + wd·x)) on the first step (momentum buffer = d), words from U's stream;
// with nearest-even an update below half a step leaves the weights unchanged (the stall).
TEST(TrainEngine, OptimizerRoundsIntoUpdateFormat) {
  for (const std::string rounding : {"nearest-even", "stochastic:16"}) {
    torch::manual_seed(2);
    Engine e;
    QLayer& l = e.add_layer("fc");
    auto net = std::make_shared<torch::nn::Module>();
    QLinear lin(6, 3, &l, false);
    QuantConfig q;
    auto& u = q.sites[static_cast<int>(Site::kUpdate)];
    u.format = "fixed:16:14";
    u.rounding = rounding;
    u.source = rounding == "nearest-even" ? "" : "philox";
    e.configure(q, 9);
    // Weights start on the U grid (multiples of 2^-14).
    torch::Tensor w0 = lin->weight.detach().clone();
    EXPECT_TRUE(bits_equal(w0, core_quantize(w0, "fixed:16:14", "nearest-even")));
    rngfree::testing::LinearNet wrap(lin);
    QSgd opt(wrap, e, 0.9, 0.0);
    const double lr = 0.1;
    lin->weight.mutable_grad() = torch::full({3, 6}, 1e-4f);  // lr·g = 1e-5 < 2^-15: below half a step
    opt.step(lr);
    torch::Tensor expect_in = (w0 - lr * torch::full({3, 6}, 1e-4f)).contiguous();
    std::vector<uint32_t> words;
    if (rounding != "nearest-even") words = generator_words("philox", 9, 0, Site::kUpdate, 18);
    EXPECT_TRUE(bits_equal(lin->weight.detach(), core_quantize(expect_in, "fixed:16:14", rounding, words)));
    if (rounding == "nearest-even") {
      EXPECT_TRUE(bits_equal(lin->weight.detach(), w0)) << "nearest-even must stall";
    } else {
      EXPECT_FALSE(bits_equal(lin->weight.detach(), w0)) << "SR must move some weights";
    }
  }
}

// A tap's recorded values are the pre-quantization tensors, in the documented order.
TEST(TrainEngine, TapEventsInProductionOrder) {
  torch::manual_seed(4);
  Engine e;
  auto net = make_model("mlp", 0, 1, 28, 10, e);
  e.configure(sites_config("fixed:8:dyn", "nearest-even", ""), 1);
  std::vector<std::string> seen;
  e.callback = [&](const TapEvent& ev) {
    seen.push_back(std::to_string(ev.layer) + std::string(tap_name(ev.kind)));
    EXPECT_EQ(ev.step, 0);
    EXPECT_GT(ev.values.size(), 0u);
  };
  torch::Tensor x = torch::randn({4, 1, 28, 28});
  torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(x), torch::tensor({1, 2, 3, 4}));
  loss.backward();
  const std::vector<std::string> expect = {"0input", "0weights", "0act", "1weights", "1act", "2weights", "2act",
                                           "2err",   "2grad",    "1err", "1grad",    "0err",  "0grad"};
  EXPECT_EQ(seen, expect);
}
