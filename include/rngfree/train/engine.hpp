// The libtorch side of quantized training (QPyTorch/WAGE-style sites, DESIGN.md "Training"): an
// autograd function that rounds forward (W, A) and backward (E, G) tensors with the core quantize
// kernel, quantized Linear/Conv2d modules, the models, and SGD whose update rounds into the
// master-weight format U. Random words come from a WordSource per site: a generator, or harvested
// from a tap (Yuan, Chang et al., ECCV 2022). Guarantee: with every site off, a layer computes
// exactly what libtorch's own layer computes; with a site on, its output is the core quantizer
// applied to libtorch's result, bit for bit.
#pragma once
#include <torch/torch.h>

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/rounding.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/sites.hpp"

namespace rngfree::train {

// Random words for one rounding site.
class WordSource {
 public:
  virtual ~WordSource() = default;
  // out[i]: the word for element i of `self`, the tensor being rounded (same size as out).
  virtual void fill(std::span<const float> self, std::span<uint32_t> out) = 0;
  // Generators: their state; harvest sources are stateless (their taps are saved separately).
  virtual std::string save_state() const { return {}; }
  virtual void load_state(std::string_view /*state*/) {}
  virtual std::string describe() const = 0;
};

// One rounding site: format, rounding, and (for SR) its word source.
struct QuantSite {
  bool active = false;
  Format format;
  Rounding rounding;
  std::unique_ptr<WordSource> source;  // set iff rounding is stochastic
  int threads = 0;
  std::vector<uint32_t> words;  // scratch

  // out = Q(in), out may equal in. Fetches out.size() words from the source first for SR.
  void apply(std::span<const float> in, std::span<float> out);
  // A new contiguous tensor Q(t); t must be float32 (made contiguous here).
  torch::Tensor apply(const torch::Tensor& t);
};

class Engine;

// The state of one quantized layer: its sites and the latest tensor of each of its taps.
struct QLayer {
  int index = 0;
  std::string name;
  Engine* engine = nullptr;
  std::array<QuantSite, kNumSites> sites;
  std::array<torch::Tensor, kNumTapKinds> taps;  // latest produced (contiguous), undefined before
  std::array<bool, kNumTapKinds> keep{};          // store this tap (a harvest source or the dump reads it)
  torch::Tensor weight;                           // the master weights (for the kWeights tap)
  QuantSite& site(Site s) { return sites[static_cast<int>(s)]; }
};

class Engine {
 public:
  std::vector<std::unique_ptr<QLayer>> layers;
  TapCallback callback;
  bool recording = true;  // off during evaluation: taps come from training steps only
  int64_t step = 0;
  int threads = 0;
  QuantSite batchnorm_site;  // nearest-even rounding of BatchNorm outputs (inactive = FP32)

  QLayer& add_layer(std::string name);
  // Stores the tap (if kept) and reports it to the callback.
  void record(QLayer& layer, harvest::TapKind kind, const torch::Tensor& t);
  bool wants(const QLayer& layer, harvest::TapKind kind) const;
  // Sets every layer's sites and sources from the config (after the model has added its layers).
  void configure(const QuantConfig& quant, uint64_t seed);
  // The default harvest tap of a site (docs/training.md): E <- act, G <- act, U <- act (not err and
  // grad: measured, docs/results.md), W <- grad (previous step, shifted), A <- act@-1 (layer 0: input),
  // M <- err.
  static harvest::Tap default_tap(Site site, int layer_index);
};

// Forward: out = fwd ? Q_fwd(x) : x, recording x as tap fwd_tap of `layer` first (-1: none).
// Backward: grad_in = bwd ? Q_bwd(g) : g, recording g as tap bwd_tap first.
torch::Tensor quantize_op(const torch::Tensor& x, QLayer* layer, QuantSite* fwd, QuantSite* bwd, int fwd_tap,
                          int bwd_tap);

// y = x·Wᵀ + b with sites A (x), W (weights, backward G) and E (dL/dy); taps input-free.
class QLinearImpl : public torch::nn::Module {
 public:
  QLinearImpl(int64_t in, int64_t out, QLayer* layer, bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);  // x (N, in) -> (N, out)
  torch::Tensor weight, bias;
  QLayer* layer;
};
TORCH_MODULE(QLinear);

class QConv2dImpl : public torch::nn::Module {
 public:
  QConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, QLayer* layer,
              bool bias = true);
  torch::Tensor forward(const torch::Tensor& x);  // x (N, Cin, H, W) -> (N, Cout, H', W')
  torch::Tensor weight, bias;
  int64_t stride, padding;
  QLayer* layer;
};
TORCH_MODULE(QConv2d);

// A model: a module whose quantized layers are registered with an Engine, in forward order.
class Net : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;  // (N, C, H, W) -> logits (N, classes)
};

// mlp, lenet5, vgg7 (width: channels of the first block, 0 = 128), resnet20.
std::shared_ptr<Net> make_model(const std::string& name, int width, int channels, int image_size, int num_classes,
                                Engine& engine);

// SGD with momentum and weight decay: m <- Q_M(mu·m + g + wd·x); x <- Q_U(x - lr·m) for weights of
// quantized layers with U on (else FP32). Biases and BatchNorm parameters stay FP32.
class QSgd {
 public:
  struct Param {
    torch::Tensor value;
    QLayer* layer = nullptr;  // set for the weights of a quantized layer
    torch::Tensor momentum;   // defined after the first step
  };
  QSgd(Net& model, Engine& engine, double momentum, double weight_decay);
  void zero_grad();
  void step(double lr);
  std::vector<Param> params;
  double momentum, weight_decay;
};

}  // namespace rngfree::train
