// Quantized autograd op, layers, models and optimizer on libtorch (see engine.hpp). libtorch does
// every convolution and matrix multiply; our code only rounds tensors (core quantize) and feeds the
// rounding with words from generators or harvested taps (harvest_words).
#include "rngfree/train/engine.hpp"

#include <fmt/core.h>

#include <bit>
#include <cmath>
#include <unordered_map>

#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"

namespace rngfree::train {

namespace {

std::span<const float> float_span(const torch::Tensor& t) {
  RNGFREE_CHECK(t.scalar_type() == torch::kFloat32 && t.is_contiguous(), "expected a contiguous float32 tensor");
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}
std::span<float> float_span_mut(torch::Tensor& t) {
  RNGFREE_CHECK(t.scalar_type() == torch::kFloat32 && t.is_contiguous(), "expected a contiguous float32 tensor");
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}

int64_t pack(const void* p) { return static_cast<int64_t>(std::bit_cast<uintptr_t>(p)); }
template <typename T>
T* unpack(int64_t v) {
  return std::bit_cast<T*>(static_cast<uintptr_t>(v));
}

class GeneratorWords final : public WordSource {
 public:
  GeneratorWords(const std::string& spec, uint64_t seed, uint64_t site)
      : gen_(random::make_generator(spec, seed, site)) {}
  void fill(std::span<const float>, std::span<uint32_t> out) override { gen_->fill(out); }
  std::string save_state() const override { return gen_->save_state(); }
  void load_state(std::string_view s) override { gen_->load_state(s); }
  std::string describe() const override { return gen_->name(); }

 private:
  std::unique_ptr<random::RandomSource> gen_;
};

// Words harvested from a tap of some layer: the latest tensor it produced (this step if already
// produced, else the previous step's). Before the tap has ever been produced, and for `self`, the
// words come from the other elements of the tensor being rounded (harvest::self_pairing).
class HarvestWords final : public WordSource {
 public:
  static constexpr int64_t kMaxFold = 4;
  // shifted: element i of the site takes tap element (i + floor(m/2)) mod n (harvest::self_pairing of
  // the site's size m), so that a tap aligned with the site never feeds an element its own value.
  HarvestWords(Engine& engine, int source_layer, harvest::TapKind kind, harvest::Extractor extractor,
               harvest::Pairing pairing, bool shifted, std::string description)
      : engine_(engine), layer_(source_layer), kind_(kind), extractor_(extractor), pairing_(pairing),
        shifted_(shifted), description_(std::move(description)) {}
  void fill(std::span<const float> self, std::span<uint32_t> out) override {
    harvest::HarvestOptions opts{engine_.threads};
    if (kind_ != harvest::TapKind::kSelf) {
      const torch::Tensor& t = engine_.layers[layer_]->taps[static_cast<int>(kind_)];
      if (t.defined()) {
        const int64_t n = t.numel(), m = static_cast<int64_t>(out.size());
        harvest::Pairing pairing = pairing_;
        if (shifted_) {
          pairing = harvest::self_pairing(m);
        } else if (pairing.kind == harvest::PairingKind::kAuto && n > m && extractor_.zeros == harvest::ZeroPolicy::kKeep) {
          // Training's `auto` caps folding at kMaxFold copies: a large tap (conv1's err: 600k elements)
          // folded whole into a small site (its 150 weights) would cost a pass over the tap per step.
          pairing = harvest::Pairing{harvest::PairingKind::kFolded, std::min<int64_t>(n / m, kMaxFold), 1, 0};
        }
        harvest::harvest_words(float_span(t), extractor_, pairing, out, opts);
        return;
      }
    }
    harvest::harvest_words(self, extractor_, harvest::self_pairing(static_cast<int64_t>(out.size())), out, opts);
  }
  std::string describe() const override { return description_; }

 private:
  Engine& engine_;
  int layer_;
  harvest::TapKind kind_;
  harvest::Extractor extractor_;
  harvest::Pairing pairing_;
  bool shifted_;
  std::string description_;
};

struct QuantizeFn : public torch::autograd::Function<QuantizeFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, int64_t layer,
                               int64_t fwd, int64_t bwd, int64_t fwd_tap, int64_t bwd_tap) {
    ctx->saved_data["layer"] = layer;
    ctx->saved_data["bwd"] = bwd;
    ctx->saved_data["bwd_tap"] = bwd_tap;
    auto* l = unpack<QLayer>(layer);
    if (fwd_tap >= 0 && l != nullptr) l->engine->record(*l, static_cast<harvest::TapKind>(fwd_tap), x);
    if (fwd != 0) return unpack<QuantSite>(fwd)->apply(x);
    return x;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor g = grads[0];
    auto* l = unpack<QLayer>(ctx->saved_data["layer"].toInt());
    const int64_t bwd = ctx->saved_data["bwd"].toInt();
    const int64_t bwd_tap = ctx->saved_data["bwd_tap"].toInt();
    if (bwd_tap >= 0 && l != nullptr) l->engine->record(*l, static_cast<harvest::TapKind>(bwd_tap), g);
    if (bwd != 0) g = unpack<QuantSite>(bwd)->apply(g);
    return {g, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

// ---- sites ---------------------------------------------------------------------------------------

void QuantSite::apply(std::span<const float> in, std::span<float> out) {
  RNGFREE_CHECK(active, "apply on an inactive site");
  if (rounding.is_stochastic()) {
    RNGFREE_CHECK(source != nullptr, "stochastic site without a word source");
    words.resize(in.size());
    source->fill(in, words);
    quantize(in, out, format, rounding, words, QuantizeOptions{threads});
  } else {
    quantize(in, out, format, rounding, {}, QuantizeOptions{threads});
  }
}

torch::Tensor QuantSite::apply(const torch::Tensor& t) {
  RNGFREE_CHECK(t.scalar_type() == torch::kFloat32, "quantize needs float32 tensors");
  torch::Tensor in = t.contiguous();
  torch::Tensor out = torch::empty_like(in, torch::MemoryFormat::Contiguous);
  apply(float_span(in), float_span_mut(out));
  return out;
}

torch::Tensor quantize_op(const torch::Tensor& x, QLayer* layer, QuantSite* fwd, QuantSite* bwd, int fwd_tap,
                          int bwd_tap) {
  return QuantizeFn::apply(x, pack(layer), pack(fwd), pack(bwd), int64_t{fwd_tap}, int64_t{bwd_tap});
}

// ---- engine --------------------------------------------------------------------------------------

QLayer& Engine::add_layer(std::string name) {
  auto l = std::make_unique<QLayer>();
  l->index = static_cast<int>(layers.size());
  l->name = std::move(name);
  l->engine = this;
  layers.push_back(std::move(l));
  return *layers.back();
}

bool Engine::wants(const QLayer& layer, harvest::TapKind kind) const {
  return recording && (layer.keep[static_cast<int>(kind)] || callback);
}

void Engine::record(QLayer& layer, harvest::TapKind kind, const torch::Tensor& t) {
  if (!wants(layer, kind)) return;
  torch::Tensor c = t.detach().contiguous();
  if (layer.keep[static_cast<int>(kind)]) layer.taps[static_cast<int>(kind)] = c;
  if (callback) callback(TapEvent{layer.index, layer.name, kind, step, float_span(c)});
}

harvest::Tap Engine::default_tap(Site site, int layer_index) {
  using harvest::TapKind;
  switch (site) {
    case Site::kErrors: return {TapKind::kAct, 0};
    case Site::kGradients: return {TapKind::kAct, 0};
    case Site::kUpdate: return {TapKind::kAct, 0};
    case Site::kWeights: return {TapKind::kGrad, 0};
    case Site::kActivations: return layer_index == 0 ? harvest::Tap{TapKind::kInput, 0} : harvest::Tap{TapKind::kAct, -1};
    case Site::kMomentum: return {TapKind::kErr, 0};
  }
  return {TapKind::kSelf, 0};
}

void Engine::configure(const QuantConfig& quant, uint64_t seed) {
  harvest::Extractor extractor = harvest::Extractor::parse_bits(quant.harvest.bits);
  extractor.mix = quant.harvest.whiten ? harvest::Mix::kWhiten32 : harvest::Mix::kNone;
  extractor.zeros = quant.harvest.skip_zeros ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
  const int n = static_cast<int>(layers.size());
  for (auto& lp : layers) {
    QLayer& l = *lp;
    const bool on = (l.index != 0 || quant.first_layer) && (l.index != n - 1 || quant.last_layer);
    for (int s = 0; s < kNumSites; ++s) {
      const SiteConfig& sc = quant.sites[s];
      QuantSite& site = l.sites[s];
      site.active = on && !sc.format.empty();
      site.threads = threads;
      site.source.reset();
      if (!site.active) continue;
      site.format = Format::parse(sc.format);
      site.rounding = Rounding::parse(sc.rounding);
      if (!site.rounding.is_stochastic()) continue;
      if (sc.source == "harvest" || sc.source.starts_with("harvest:")) {
        harvest::Tap tap = sc.source == "harvest" ? default_tap(static_cast<Site>(s), l.index)
                                                  : harvest::Tap::parse(sc.source.substr(8));
        harvest::TapKind kind = tap.kind;
        int src = l.index;
        if (kind == harvest::TapKind::kInput) {
          src = 0;
        } else if (kind != harvest::TapKind::kSelf) {
          src = l.index + tap.layer_offset;
          if (src < 0) {  // the layer before the first is the network input
            kind = harvest::TapKind::kInput;
            src = 0;
          } else if (src >= n) {  // there is no layer after the last: the tensor itself
            kind = harvest::TapKind::kSelf;
            src = l.index;
          }
        }
        if (kind != harvest::TapKind::kSelf) layers[src]->keep[static_cast<int>(kind)] = true;
        // "shifted" (train-level pairing, see HarvestWords); "auto" on the default tap of W, which is
        // the same layer's grad — aligned with the weights element by element — means shifted.
        const bool shifted = sc.pairing == "shifted" ||
                             (sc.pairing == "auto" && sc.source == "harvest" && static_cast<Site>(s) == Site::kWeights);
        std::string desc = fmt::format("harvest {} of layer {} ({}), {}, pairing {}", tap_name(kind), src,
                                       layers[src]->name, extractor.name(), shifted ? "shifted" : sc.pairing);
        site.source = std::make_unique<HarvestWords>(
            *this, src, kind, extractor, shifted ? harvest::Pairing{} : harvest::Pairing::parse(sc.pairing), shifted,
            std::move(desc));
      } else {
        site.source = std::make_unique<GeneratorWords>(sc.source, seed,
                                                       1 + static_cast<uint64_t>(l.index) * kNumSites + s);
      }
    }
    // Weights start in the master-weight format (nearest-even), so every later update rounds into it.
    QuantSite& u = l.site(Site::kUpdate);
    if (u.active && l.weight.defined()) {
      torch::NoGradGuard guard;
      quantize(float_span(l.weight), float_span_mut(l.weight), u.format, Rounding{}, {}, QuantizeOptions{threads});
    }
    if (l.weight.defined()) l.taps[static_cast<int>(harvest::TapKind::kWeights)] = l.weight.detach();
  }
  batchnorm_site.active = !quant.batchnorm.empty();
  batchnorm_site.threads = threads;
  if (batchnorm_site.active) {
    batchnorm_site.format = Format::parse(quant.batchnorm);
    batchnorm_site.rounding = Rounding{};
  }
}

// ---- layers --------------------------------------------------------------------------------------

namespace {

// PyTorch's default initialisation of Linear/Conv2d: kaiming_uniform(a = sqrt(5)) for the weights,
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias.
void init_like_pytorch(torch::Tensor& w, torch::Tensor& b, int64_t fan_in) {
  torch::NoGradGuard guard;
  torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  if (b.defined()) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
    b.uniform_(-bound, bound);
  }
}

// The three rounding points around a layer's libtorch op.
torch::Tensor quantized_input(QLayer& l, const torch::Tensor& x) {
  QuantSite& a = l.site(Site::kActivations);
  return a.active ? quantize_op(x, &l, &a, nullptr, -1, -1) : x;
}
torch::Tensor quantized_weight(QLayer& l, const torch::Tensor& w) {
  QuantSite& ws = l.site(Site::kWeights);
  QuantSite& gs = l.site(Site::kGradients);
  const bool rec_w = l.engine->wants(l, harvest::TapKind::kWeights);
  const bool rec_g = l.engine->wants(l, harvest::TapKind::kGrad);
  if (!ws.active && !gs.active && !rec_w && !rec_g) return w;
  return quantize_op(w, &l, ws.active ? &ws : nullptr, gs.active ? &gs : nullptr,
                     rec_w ? static_cast<int>(harvest::TapKind::kWeights) : -1,
                     rec_g ? static_cast<int>(harvest::TapKind::kGrad) : -1);
}
torch::Tensor quantized_output(QLayer& l, const torch::Tensor& y) {
  QuantSite& es = l.site(Site::kErrors);
  const bool rec_a = l.engine->wants(l, harvest::TapKind::kAct);
  const bool rec_e = l.engine->wants(l, harvest::TapKind::kErr);
  if (!es.active && !rec_a && !rec_e) return y;
  return quantize_op(y, &l, nullptr, es.active ? &es : nullptr, rec_a ? static_cast<int>(harvest::TapKind::kAct) : -1,
                     rec_e ? static_cast<int>(harvest::TapKind::kErr) : -1);
}

}  // namespace

QLinearImpl::QLinearImpl(int64_t in, int64_t out, QLayer* l, bool with_bias) : layer(l) {
  weight = register_parameter("weight", torch::empty({out, in}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  init_like_pytorch(weight, bias, in);
  layer->weight = weight;
}

torch::Tensor QLinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor a = quantized_input(*layer, x);
  torch::Tensor w = quantized_weight(*layer, weight);
  return quantized_output(*layer, torch::nn::functional::linear(a, w, bias));
}

QConv2dImpl::QConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride_, int64_t padding_, QLayer* l,
                         bool with_bias)
    : stride(stride_), padding(padding_), layer(l) {
  weight = register_parameter("weight", torch::empty({out, in, kernel, kernel}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}));
  init_like_pytorch(weight, bias, in * kernel * kernel);
  layer->weight = weight;
}

torch::Tensor QConv2dImpl::forward(const torch::Tensor& x) {
  torch::Tensor a = quantized_input(*layer, x);
  torch::Tensor w = quantized_weight(*layer, weight);
  return quantized_output(*layer, torch::conv2d(a, w, bias, {stride, stride}, {padding, padding}));
}

// ---- models --------------------------------------------------------------------------------------

namespace {

torch::Tensor maybe_round(Engine& e, const torch::Tensor& x) {
  return e.batchnorm_site.active ? quantize_op(x, nullptr, &e.batchnorm_site, nullptr, -1, -1) : x;
}

void record_input(Engine& e, const torch::Tensor& x) {
  if (!e.layers.empty()) e.record(*e.layers[0], harvest::TapKind::kInput, x);
}

class Mlp final : public Net {
 public:
  Mlp(Engine& e, int64_t in, int classes) : e_(e) {
    fc1_ = register_module("fc1", QLinear(in, 256, &e.add_layer("fc1")));
    fc2_ = register_module("fc2", QLinear(256, 256, &e.add_layer("fc2")));
    fc3_ = register_module("fc3", QLinear(256, classes, &e.add_layer("fc3")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = x.flatten(1);
    x = torch::relu(fc1_(x));
    x = torch::relu(fc2_(x));
    return fc3_(x);
  }

 private:
  Engine& e_;
  QLinear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling; 28x28 inputs are padded by 2.
class Lenet5 final : public Net {
 public:
  Lenet5(Engine& e, int channels, int size, int classes) : e_(e) {
    const int pad = size == 28 ? 2 : 0;
    const int64_t s = ((size + 2 * pad - 4) / 2 - 4) / 2;
    conv1_ = register_module("conv1", QConv2d(channels, 6, 5, 1, pad, &e.add_layer("conv1")));
    conv2_ = register_module("conv2", QConv2d(6, 16, 5, 1, 0, &e.add_layer("conv2")));
    fc1_ = register_module("fc1", QLinear(16 * s * s, 120, &e.add_layer("fc1")));
    fc2_ = register_module("fc2", QLinear(120, 84, &e.add_layer("fc2")));
    fc3_ = register_module("fc3", QLinear(84, classes, &e.add_layer("fc3")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = torch::max_pool2d(torch::relu(conv1_(x)), 2);
    x = torch::max_pool2d(torch::relu(conv2_(x)), 2);
    x = x.flatten(1);
    x = torch::relu(fc1_(x));
    x = torch::relu(fc2_(x));
    return fc3_(x);
  }

 private:
  Engine& e_;
  QConv2d conv1_{nullptr}, conv2_{nullptr};
  QLinear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

// VGG-7 of WAGE (Wu et al. 2018): 2x(w C3) MP 2x(2w C3) MP 2x(4w C3) MP FC1024 FC, with BatchNorm.
class Vgg7 final : public Net {
 public:
  Vgg7(Engine& e, int channels, int size, int classes, int width) : e_(e) {
    const int64_t w[3] = {width, 2 * width, 4 * width};
    int64_t in = channels;
    for (int i = 0; i < 6; ++i) {
      std::string name = fmt::format("conv{}", i + 1);
      convs_.push_back(register_module(name, QConv2d(in, w[i / 2], 3, 1, 1, &e.add_layer(name), false)));
      bns_.push_back(register_module("bn" + std::to_string(i + 1), torch::nn::BatchNorm2d(w[i / 2])));
      in = w[i / 2];
    }
    const int64_t s = size / 8;
    fc1_ = register_module("fc1", QLinear(in * s * s, 1024, &e.add_layer("fc1")));
    fc2_ = register_module("fc2", QLinear(1024, classes, &e.add_layer("fc2")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    for (size_t i = 0; i < convs_.size(); ++i) {
      x = torch::relu(maybe_round(e_, bns_[i](convs_[i](x))));
      if (i % 2 == 1) x = torch::max_pool2d(x, 2);
    }
    x = torch::relu(fc1_(x.flatten(1)));
    return fc2_(x);
  }

 private:
  Engine& e_;
  std::vector<QConv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> bns_;
  QLinear fc1_{nullptr}, fc2_{nullptr};
};

// ResNet-20 for CIFAR (He et al. 2016, section 4.2); projection shortcuts (1x1 conv + BN) where
// the shape changes (option B).
class ResNet20 final : public Net {
  struct Block {
    QConv2d conv1{nullptr}, conv2{nullptr}, proj{nullptr};
    torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bnp{nullptr};
  };

 public:
  ResNet20(Engine& e, int channels, int classes) : e_(e) {
    conv1_ = register_module("conv1", QConv2d(channels, 16, 3, 1, 1, &e.add_layer("conv1"), false));
    bn1_ = register_module("bn1", torch::nn::BatchNorm2d(16));
    int64_t in = 16;
    for (int stage = 0; stage < 3; ++stage) {
      const int64_t out = 16 << stage;
      for (int b = 0; b < 3; ++b) {
        const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
        const std::string p = fmt::format("s{}b{}", stage + 1, b + 1);
        Block blk;
        blk.conv1 = register_module(p + "_conv1", QConv2d(in, out, 3, stride, 1, &e.add_layer(p + ".conv1"), false));
        blk.bn1 = register_module(p + "_bn1", torch::nn::BatchNorm2d(out));
        blk.conv2 = register_module(p + "_conv2", QConv2d(out, out, 3, 1, 1, &e.add_layer(p + ".conv2"), false));
        blk.bn2 = register_module(p + "_bn2", torch::nn::BatchNorm2d(out));
        if (stride != 1 || in != out) {
          blk.proj = register_module(p + "_proj", QConv2d(in, out, 1, stride, 0, &e.add_layer(p + ".proj"), false));
          blk.bnp = register_module(p + "_bnp", torch::nn::BatchNorm2d(out));
        }
        blocks_.push_back(blk);
        in = out;
      }
    }
    fc_ = register_module("fc", QLinear(64, classes, &e.add_layer("fc")));
  }
  torch::Tensor forward(torch::Tensor x) override {
    record_input(e_, x);
    x = torch::relu(maybe_round(e_, bn1_(conv1_(x))));
    for (auto& b : blocks_) {
      torch::Tensor y = torch::relu(maybe_round(e_, b.bn1(b.conv1(x))));
      y = maybe_round(e_, b.bn2(b.conv2(y)));
      torch::Tensor shortcut = b.proj ? maybe_round(e_, b.bnp(b.proj(x))) : x;
      x = torch::relu(y + shortcut);
    }
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc_(x);
  }

 private:
  Engine& e_;
  QConv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  std::vector<Block> blocks_;
  QLinear fc_{nullptr};
};

}  // namespace

std::shared_ptr<Net> make_model(const std::string& name, int width, int channels, int image_size, int num_classes,
                                Engine& engine) {
  RNGFREE_CHECK(engine.layers.empty(), "make_model needs a fresh engine");
  if (name == "mlp") return std::make_shared<Mlp>(engine, int64_t{channels} * image_size * image_size, num_classes);
  if (name == "lenet5") {
    if (image_size < 28) throw Error(fmt::format("model lenet5: images of {}x{} are too small (allowed >= 28)", image_size, image_size));
    return std::make_shared<Lenet5>(engine, channels, image_size, num_classes);
  }
  if (name == "vgg7") {
    if (image_size < 8) throw Error(fmt::format("model vgg7: images of {}x{} are too small (allowed >= 8)", image_size, image_size));
    return std::make_shared<Vgg7>(engine, channels, image_size, num_classes, width > 0 ? width : 128);
  }
  if (name == "resnet20") return std::make_shared<ResNet20>(engine, channels, num_classes);
  throw Error(fmt::format("model '{}': unknown; allowed: mlp, lenet5, vgg7, resnet20", name));
}

// ---- optimizer -----------------------------------------------------------------------------------

QSgd::QSgd(Net& model, Engine& engine, double momentum_, double weight_decay_)
    : momentum(momentum_), weight_decay(weight_decay_) {
  std::unordered_map<const void*, QLayer*> owner;
  for (auto& l : engine.layers) {
    if (l->weight.defined()) owner[l->weight.unsafeGetTensorImpl()] = l.get();
  }
  for (auto& p : model.parameters()) {
    auto it = owner.find(p.unsafeGetTensorImpl());
    params.push_back({p, it == owner.end() ? nullptr : it->second, {}});
  }
}

void QSgd::zero_grad() {
  for (auto& p : params) {
    if (p.value.grad().defined()) p.value.mutable_grad() = torch::Tensor();
  }
}

void QSgd::step(double lr) {
  torch::NoGradGuard guard;
  for (auto& p : params) {
    const torch::Tensor& g = p.value.grad();
    if (!g.defined()) continue;
    torch::Tensor d = weight_decay != 0 ? g.add(p.value, weight_decay) : g;
    torch::Tensor step = d;
    if (momentum != 0) {
      if (!p.momentum.defined()) {
        p.momentum = d.clone().contiguous();
      } else {
        p.momentum.mul_(momentum).add_(d);
      }
      if (p.layer != nullptr && p.layer->site(Site::kMomentum).active) {
        p.layer->site(Site::kMomentum).apply(float_span(p.momentum), float_span_mut(p.momentum));
      }
      step = p.momentum;
    }
    QuantSite* u = p.layer != nullptr && p.layer->site(Site::kUpdate).active ? &p.layer->site(Site::kUpdate) : nullptr;
    if (u != nullptr) {
      torch::Tensor next = p.value.sub(step, lr).contiguous();
      u->apply(float_span(next), float_span_mut(p.value));
    } else {
      p.value.sub_(step, lr);
    }
  }
}

}  // namespace rngfree::train
