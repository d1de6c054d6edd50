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

namespace {
// Two conv layers read one input and their outputs are added, so the addition's backward hands one
// gradient tensor to both E sites. `test_holds`: the test passes that gradient to backward itself
// (it keeps a reference: nothing may be rounded in place); else (s·g).sum() makes it inside the
// graph, and only the autograd engine holds it.
struct TwoBranches {
  torch::Tensor dx, dw1, dw2;
  int64_t e_in_place = 0, g_in_place = 0;
  torch::Tensor x, g, w1, b1, w2, b2;  // the run's input, output gradient and parameters
  bool g_unchanged = false;              // backward left the output gradient as it was
};
TwoBranches two_branches(const std::string& source, bool test_holds) {
  torch::manual_seed(3);
  Engine e;
  QConv2d c1(3, 4, 3, 1, 1, &e.add_layer("c1"));
  QConv2d c2(3, 4, 3, 1, 1, &e.add_layer("c2"));
  e.configure(sites_config("bfp:7:32", "stochastic:8", source), 9);
  torch::Tensor x = torch::randn({2, 3, 16, 16}).requires_grad_(true);
  torch::Tensor s = c1->forward(x) + c2->forward(x);
  torch::Tensor g = torch::randn(s.sizes());
  const torch::Tensor g_before = g.clone();
  if (test_holds) {
    s.backward(g);
  } else {
    (s * g).sum().backward();  // d/ds = 1·g: the same gradient, made by the graph
  }
  TwoBranches r;
  r.dx = x.grad();
  r.dw1 = c1->weight.grad();
  r.dw2 = c2->weight.grad();
  r.x = x.detach();
  r.g = g;
  r.g_unchanged = bits_equal(g, g_before);
  r.w1 = c1->weight.detach();
  r.b1 = c1->bias.detach();
  r.w2 = c2->weight.detach();
  r.b2 = c2->bias.detach();
  for (const auto& l : e.layers) {
    r.e_in_place += l->site(Site::kErrors).in_place_calls;
    r.g_in_place += l->site(Site::kGradients).in_place_calls;
  }
  return r;
}
}  // namespace

// Backward rounds a gradient in place only when nothing but the autograd engine refers to it
// (QuantSite::apply_to_gradient): with the shared gradient of an addition, the E site that runs
// first must copy (the other branch still holds it), the second may round it in place. With philox
// words, both runs against libtorch by hand on core-quantized tensors (each site's words from its
// stream); with harvested words (whose E sites read the err tap of the other layer, and a kept tap
// also forbids rounding in place) the two runs against each other.
TEST(TrainEngine, GradientsRoundedInPlaceOnlyWhenNothingElseHoldsThem) {
  const std::string fmt = "bfp:7:32", sr = "stochastic:8";
  for (const char* source : {"philox", "harvest"}) {
    SCOPED_TRACE(source);
    const TwoBranches held = two_branches(source, true);
    const TwoBranches owned = two_branches(source, false);
    EXPECT_EQ(held.e_in_place, 0) << "the test holds the gradient";
    EXPECT_TRUE(held.g_unchanged) << "the gradient the test passed to backward";
    EXPECT_EQ(owned.e_in_place, std::string(source) == "philox" ? 1 : 0) << "one branch, once the other ran";
    EXPECT_EQ(owned.g_in_place, 2) << "the weight gradients, fresh from the convolutions' backward";
    EXPECT_TRUE(bits_equal(held.dx, owned.dx)) << "input gradient";
    EXPECT_TRUE(bits_equal(held.dw1, owned.dw1)) << "first weight gradient";
    EXPECT_TRUE(bits_equal(held.dw2, owned.dw2)) << "second weight gradient";
    if (std::string(source) != "philox") continue;
    torch::Tensor dx = torch::zeros_like(owned.x);
    for (int layer = 0; layer < 2; ++layer) {
      const torch::Tensor& w = layer == 0 ? owned.w1 : owned.w2;
      const torch::Tensor& b = layer == 0 ? owned.b1 : owned.b2;
      torch::Tensor xa = core_quantize(owned.x, fmt, "nearest-even").requires_grad_(true);
      torch::Tensor wq = core_quantize(w, fmt, "nearest-even").requires_grad_(true);
      torch::Tensor act = torch::conv2d(xa, wq, b.clone().requires_grad_(true), 1, 1);
      act.backward(core_quantize(owned.g, fmt, sr, generator_words(source, 9, layer, Site::kErrors, owned.g.numel())));
      dx += xa.grad();
      const torch::Tensor dw = core_quantize(wq.grad(), fmt, sr, generator_words(source, 9, layer, Site::kGradients, w.numel()));
      EXPECT_TRUE(bits_equal(layer == 0 ? owned.dw1 : owned.dw2, dw)) << "weight gradient of layer " << layer;
    }
    EXPECT_TRUE(bits_equal(owned.dx, dx)) << "input gradient against the reference";
  }
}

namespace {
// A stochastic:8 site of layer 0 outside any model, rounding on one thread with the words of `ps`.
PlannedSite planned_site(Site site, const std::string& format) {
  PlannedSite ps;
  ps.site = site;
  ps.active = true;
  ps.format = Format::parse(format);
  ps.rounding = Rounding::parse("stochastic:8");
  return ps;
}
QuantSite site_of(const PlannedSite& ps, Engine& e, uint64_t seed) {
  QuantSite site;
  site.active = true;
  site.site = ps.site;
  site.format = ps.format;
  site.rounding = ps.rounding;
  site.threads = 1;
  site.source = make_word_source(ps, e, seed);
  return site;
}
}  // namespace

// In place (out == in) with words harvested from the tensor itself (self pairing: element i reads
// i + n/2): the words are all made before the tensor is overwritten, so the result equals the
// out-of-place one (fused into the loop, the second half would read already rounded values).
TEST(TrainEngine, InPlaceRoundingWithWordsFromTheTensorItselfEqualsOutOfPlace) {
  Engine e;
  PlannedSite ps = planned_site(Site::kErrors, "bfp:7:32");
  ps.source = SourceKind::kHarvest;
  ps.requested = "harvest";
  ps.tap = harvest::TapKind::kSelf;
  ps.extractor = harvest::Extractor::parse_bits("8-23");
  QuantSite site = site_of(ps, e, 1);
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({1 << 16});
  ASSERT_TRUE(site.source->reads_self(cspan(x)));
  PlannedSite generator = ps;
  generator.source = SourceKind::kGenerator;
  generator.generator = "philox";
  EXPECT_FALSE(make_word_source(generator, e, 1)->reads_self(cspan(x)));
  torch::Tensor out = torch::empty_like(x);
  site.apply(cspan(x), {out.data_ptr<float>(), static_cast<size_t>(out.numel())});
  torch::Tensor y = x.clone();
  const std::span<float> ys{y.data_ptr<float>(), static_cast<size_t>(y.numel())};
  site.apply(ys, ys);
  EXPECT_TRUE(bits_equal(out, y));
  EXPECT_FALSE(bits_equal(out, x)) << "the site rounded";
}

// A non-contiguous tensor (here a transposed one) is copied and the copy rounded in place: the
// result equals the core quantizer on the contiguous values with the site's words, and the tensor
// passed in is left as it was.
TEST(TrainEngine, NonContiguousTensorRoundedInItsCopy) {
  Engine e;
  PlannedSite ps = planned_site(Site::kGradients, "fixed:8:dyn");
  ps.source = SourceKind::kGenerator;
  ps.generator = "philox";
  ps.stream = site_stream(0, Site::kGradients);
  QuantSite site = site_of(ps, e, 5);
  torch::manual_seed(6);
  const torch::Tensor t = torch::randn({6, 40}).t();
  ASSERT_FALSE(t.is_contiguous());
  const torch::Tensor before = t.clone();
  const torch::Tensor out = site.apply(t);
  EXPECT_TRUE(out.is_contiguous());
  EXPECT_TRUE(bits_equal(out, core_quantize(t, "fixed:8:dyn", "stochastic:8",
                                            generator_words("philox", 5, 0, Site::kGradients, t.numel()))));
  EXPECT_TRUE(bits_equal(t, before)) << "the tensor passed in";
  EXPECT_FALSE(bits_equal(out, t)) << "the site rounded";
}
