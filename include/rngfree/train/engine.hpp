// The libtorch side of quantized training (QPyTorch/WAGE-style sites, DESIGN.md "Training"): the
// rounding sites of every quantized layer, the taps they harvest from, and the autograd op that
// rounds forward (W, A) and backward (E, G) tensors with the core quantize kernel. Random words
// come from a WordSource per site, built from the site plan (site_plan.hpp): a generator, or
// harvested from a tap (Yuan, Chang et al., ECCV 2022). layers.hpp, models.hpp and optimizer.hpp
// build on it. Guarantee: with a site on, its output is the core quantizer applied to the tensor,
// bit for bit.
#pragma once
#include "rngfree/train/torch.hpp"

#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/rounding.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/site_plan.hpp"
#include "rngfree/train/sites.hpp"

namespace rngfree::train {

// Random words for one rounding site.
class WordSource {
 public:
  virtual ~WordSource() = default;
  // out[i]: the word for element i of `self`, the tensor being rounded (same size as out).
  virtual void fill(std::span<const float> self, std::span<uint32_t> out) = 0;
  // A fill for quantize_with_source (words produced chunk by chunk inside the quantize loop, none
  // materialized), or an empty function when this source cannot (then fill() is used). The result
  // is valid until the next call on this source; its words equal fill()'s, bit for bit, and a
  // generator's stream advances past them as fill() would advance it.
  virtual RandomFill fused(std::span<const float> /*self*/) { return {}; }
  // Whether the words for `self` are made from `self` itself (a harvest site paired with its own
  // tensor, or whose taps are not produced yet). Such words must be made before `self` is rounded
  // in place (QuantSite::apply with out == in does so).
  virtual bool reads_self(std::span<const float> /*self*/) const { return false; }
  // Generators: their state; harvest sources are stateless (their taps are saved separately).
  virtual std::string save_state() const { return {}; }
  virtual void load_state(std::string_view /*state*/) {}
  virtual std::string describe() const = 0;
};

class Engine;

// One rounding site: format, rounding, and (for SR) its word source.
struct QuantSite {
  Engine* engine = nullptr;  // set by Engine::configure (for the site callback)
  int layer = 0;
  Site site = Site::kWeights;
  bool active = false;
  Format format;
  Rounding rounding;
  std::unique_ptr<WordSource> source;  // set iff rounding is stochastic
  int threads = 0;
  std::vector<uint32_t> words;  // scratch
  double seconds = 0;           // wall time spent in apply, and the elements it rounded (bench train)
  int64_t elements = 0;
  int64_t in_place_calls = 0;   // backward calls that rounded the engine's gradient in place
  // Wall time of the autograd op around this site's rounding (the quantized op's forward for W and
  // A, its backward for E and G): `seconds` plus the tap records, the output's allocation and any
  // copy; 0 for the sites the optimizer rounds directly (U, M, V).
  double op_seconds = 0;
  void clear_counts() { seconds = 0, elements = 0, in_place_calls = 0, op_seconds = 0; }

  // out = Q(in), out may equal in. For SR the words come from the source: fused into the quantize
  // loop when the source can, nobody observes the words and (in place) they are not made from the
  // tensor being overwritten; else fetched into `words` first.
  void apply(std::span<const float> in, std::span<float> out);
  // A new contiguous tensor Q(t); t must be float32 (a non-contiguous t is copied, and the copy
  // rounded in place).
  torch::Tensor apply(const torch::Tensor& t);
  // Q(g) for a gradient the autograd engine hands to a backward function: g itself, rounded in
  // place, when nothing else can see it (gradient_is_exclusive), else apply(g).
  torch::Tensor apply_to_gradient(torch::Tensor&& g);
};

// The state of one quantized layer: its sites and the latest tensor of each of its taps.
struct QLayer {
  int index = 0;
  std::string name;
  Engine* engine = nullptr;
  std::array<QuantSite, kNumSites> sites;
  std::array<torch::Tensor, kNumTapKinds> taps;  // latest produced (contiguous), undefined before
  std::array<bool, kNumTapKinds> keep{};          // store this tap (a harvest source or the dump reads it)
  torch::Tensor weight;                           // the master weights (for the kWeights tap)
  bool has_prob = false;  // multiplies attention probabilities: has the kProb tap (the gpt's h{i}.pv)
  QuantSite& site(Site s) { return sites[static_cast<int>(s)]; }
};

class Engine {
 public:
  std::vector<std::unique_ptr<QLayer>> layers;
  TapCallback callback;
  SiteCallback site_callback;  // sees the words of every stochastic rounding (the audit)
  SitePlan plan;               // set by configure
  bool recording = true;  // off during evaluation: taps come from training steps only
  int64_t step = 0;
  int threads = 0;
  QuantSite batchnorm_site;  // nearest-even rounding of BatchNorm outputs (inactive = FP32)
  // The gpt's tensor sites (indexed by TensorSite; inactive = FP32), rounded by round_tensor.
  std::array<QuantSite, kNumTensorSites> tensor_sites;
  // Sees each tensor site's input and rounded output (tests); called only for an active site.
  std::function<void(TensorSite, const torch::Tensor& in, const torch::Tensor& out)> tensor_site_observer;

  QLayer& add_layer(std::string name);
  // Stores the tap (if kept) and reports it to the callback; nothing when no one wants it (wants()).
  void record(QLayer& layer, harvest::TapKind kind, const torch::Tensor& t);
  bool wants(const QLayer& layer, harvest::TapKind kind) const;
  // Resolves the config into the site plan (make_site_plan: validates it; the layers with has_prob
  // are its prob layers) and sets every layer's sites and sources from it (after the model has added
  // its layers).
  void configure(const QuantConfig& quant, uint64_t seed);
  // x rounded by tensor site `s` in the forward pass (its gradient passes unrounded), or x itself
  // when the site is off.
  torch::Tensor round_tensor(TensorSite s, const torch::Tensor& x);
  // Gives stochastic tensor site `s` its words from `generator`, stream tensor_site_stream(s) +
  // stream_offset (a data-parallel rank's offset).
  void set_tensor_site_generator(TensorSite s, const std::string& generator, uint64_t seed,
                                 uint64_t stream_offset = 0);
};

// Evaluation for the length of a scope: the engine stops recording (no taps stored, no tap or site
// callbacks: taps come from training steps only) and the module switches to eval(). Both are put
// back to what they were on every exit from the scope, an exception included.
class EvaluationScope {
 public:
  EvaluationScope(Engine& engine, torch::nn::Module& model)
      : engine_(engine), model_(model), was_recording_(engine.recording), was_training_(model.is_training()) {
    engine_.recording = false;
    model_.eval();
  }
  ~EvaluationScope() {
    engine_.recording = was_recording_;
    model_.train(was_training_);
  }
  EvaluationScope(const EvaluationScope&) = delete;
  EvaluationScope& operator=(const EvaluationScope&) = delete;

 private:
  Engine& engine_;
  torch::nn::Module& model_;
  bool was_recording_, was_training_;
};

// The word source of a planned stochastic site: a generator stream, or harvested from a tap of the
// engine's layers (or the tensor itself) with the plan's extractor and pairing.
std::unique_ptr<WordSource> make_word_source(const PlannedSite& site, Engine& engine, uint64_t seed);

// Forward: out = fwd ? Q_fwd(x) : x, recording x as tap fwd_tap of `layer` first (-1: none).
// Backward: grad_in = bwd ? Q_bwd(g) : g, recording g as tap bwd_tap first (Q_bwd in place when
// g is exclusive: QuantSite::apply_to_gradient).
torch::Tensor quantize_op(const torch::Tensor& x, QLayer* layer, QuantSite* fwd, QuantSite* bwd, int fwd_tap,
                          int bwd_tap);

// Whether g, a gradient as a backward function of quantize_op receives it, can be rounded in place:
// a contiguous float32 tensor that needs no gradient, whose storage no other tensor shares, and
// that nothing but the autograd engine's own argument lists refers to. Its reference count then
// equals the count a probe graph measured (probe_gradient_ownership); another node that holds the
// same tensor (an addition's backward hands one gradient to both of its inputs) or a kept tap adds
// to it. False until the probe has run, and for good if the probe could not tell the two apart.
bool gradient_is_exclusive(const torch::Tensor& g);
// Runs the probe once per process (later calls return at once); Engine::configure calls it.
void probe_gradient_ownership();

}  // namespace rngfree::train
