// The configuration of a training run: model, data, optimizer, and per quantization site a format,
// a rounding mode and a random source; named presets; TOML files with command-line overrides
// (docs/training.md lists every key). Parsing validates every value and throws rngfree::Error
// naming the key, the value and what is allowed. No libtorch here.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rngfree/number_input.hpp"
#include "rngfree/train/sites.hpp"

namespace rngfree::train {

struct SiteConfig {
  std::string format;                     // "" = not quantized (FP32); else a Format spec
  std::string rounding = "nearest-even";  // a Rounding spec
  // For stochastic rounding: a generator spec ("philox", "lfsr:16", ...), "harvest" (the default
  // pairing of this site, see docs/training.md) or "harvest:TAP" ("act", "err@-1", "self", ...).
  std::string source;
  std::string pairing = "auto";  // harvest pairing: "auto", "shifted" or a harvest::Pairing spec
  // Allow a harvested source that may hold the rounded value's own bits (A <- act@-1 aligned, E <- err,
  // ...): refused by default (train/site_plan.hpp), since SR then rounds a value with its own fraction.
  bool allow_own_bits = false;
};

struct HarvestConfig {
  // Extractor bit field LO-HI of the raw FP32 pattern. Default 8-23: mantissa bits 8-22 and the
  // exponent LSB, where the atlas found the variation of act (bits 0-11 repeat, docs/results.md).
  std::string bits = "8-23";
  // Mix after folding (harvest::Mix): "field" (default: a bijection on the field width, 0 -> nonzero),
  // "whiten32" (the first defaults' whitening; TOML `whiten = true` is its old spelling), "none".
  std::string mix = "field";
  bool skip_zeros = false;
};

struct QuantConfig {
  std::array<SiteConfig, kNumSites> sites;  // indexed by Site
  bool first_layer = true;   // quantize the first layer's sites (else FP32 there)
  bool last_layer = true;    // quantize the last layer's sites
  std::string batchnorm;     // "" = FP32 BatchNorm; else its outputs are rounded (nearest-even) to this format
  // The gpt's tensor sites (sites.hpp TensorSite, indexed by it): format "" = FP32; else rounded in
  // the forward pass with `rounding` (stochastic: `source` must be a generator), gradient unrounded.
  std::array<SiteConfig, kNumTensorSites> tensors;
  HarvestConfig harvest;
  bool any() const;
};

// Dump of one tap's harvested bits (harvest::harvest_bits with the run's extractor, fold 1) to a
// binary file (MSB-first bytes, what `rngfree nist --input binary` reads).
struct DumpConfig {
  std::string path;         // "" = no dump
  int layer = 0;            // quantized-layer index
  std::string tap = "act";  // input, weights, act, err, grad
  int64_t max_bits = 10'000'000;
};

// The allowed range of every numeric setting: TOML keys, command-line flags and validate() all
// check against these, so a value is refused with the same range wherever it comes from.
namespace limits {
inline constexpr IntRange<int> kWidth{0, 4096, "0: the model's default"};
inline constexpr IntRange<int64_t> kImageLimit{0, std::numeric_limits<int64_t>::max(), "0: all images"};
inline constexpr IntRange<int> kEpochs{1, 100000};
inline constexpr IntRange<int> kBatch{1, 65536};
inline constexpr RealRange kLr{0, 100, true, true};
inline constexpr RealRange kMomentum{0, 1, false, true};
inline constexpr RealRange kWeightDecay{0, 1, false, true};
inline constexpr IntRange<uint64_t> kSeed{};
inline constexpr IntRange<int> kThreads{0, 1024, "0: all cores"};
inline constexpr IntRange<int> kDumpLayer{0, 1023, "a quantized layer's index, see --layers"};
inline constexpr IntRange<int64_t> kDumpBits{1, std::numeric_limits<int64_t>::max()};
inline constexpr IntRange<int> kScale{2, 4, "the super-resolution factor"};
inline constexpr IntRange<int> kContext{2, 4096, "tokens per window, task lm"};
inline constexpr IntRange<int> kBlocks{1, 64, "transformer blocks, task lm"};
inline constexpr IntRange<int> kHeads{1, 64, "attention heads, task lm; must divide the width"};
inline constexpr IntRange<int64_t> kSteps{0, std::numeric_limits<int64_t>::max(), "0: train --epochs epochs"};
inline constexpr RealRange kBeta{0, 1, false, true};
}  // namespace limits

struct TrainConfig {
  std::string preset = "fp32";
  std::string task = "classify";  // classify, superres, lm (apply_task sets its defaults)
  int scale = 2;                  // superres: upscaling factor 2..4; classify ignores it
  std::string model = "lenet5";  // classify: mlp, lenet5, vgg7, resnet20; superres: espcn; lm: gpt
  int width = 0;                 // vgg7: channels of the first block (0: 128, WAGE's); gpt: model width (0: 128)
  int context = 128;             // lm: tokens (bytes) per window
  int blocks = 4;                // lm: transformer blocks
  int heads = 4;                 // lm: attention heads (divide the width)
  std::string data = "fashion-mnist";
  int64_t train_limit = 0;       // use only the first N training / test images (0: all)
  int64_t test_limit = 0;
  int epochs = 4;
  int64_t steps = 0;             // > 0: train exactly this many optimizer steps (schedule fitted), epochs ignored
  int batch = 128;
  double lr = 0.05;
  std::string optimizer = "sgd";  // sgd (momentum, coupled weight decay) or adamw (Loshchilov & Hutter 2019)
  double momentum = 0.9;          // sgd
  double beta1 = 0.9, beta2 = 0.99;  // adamw (epsilon 1e-8)
  double weight_decay = 5e-4;
  std::string schedule = "cosine";  // cosine (to 0 at the last epoch) or constant
  uint64_t seed = 1;
  int threads = 0;                  // 0: all cores
  QuantConfig quant;
  DumpConfig dump;

  // Throws rngfree::Error for any invalid value (checks every spec by parsing it).
  void validate() const;
};

// The tasks: classify (the default), superres (docs/superres.md) and lm (docs/lm.md).
std::vector<std::string> task_names();
// Sets cfg.task and the task's defaults of model, data and optimizer (superres: espcn on photos,
// adamw, batch 16, lr 1e-3, weight decay 0, 40 epochs; lm: gpt on fortunes, adamw, batch 32, lr 1e-3, weight decay 0.1,
// 1 epoch, 64 validation windows); other fields untouched. Unknown name -> Error.
void apply_task(TrainConfig& cfg, std::string_view name);

// Named presets (docs/training.md justifies the formats): fp32, int8-rne, int8-sr-lfsr,
// int8-sr-xoshiro, int8-sr-philox, int8-sr-harvest, int8-dyn-sr-philox, int8-dyn-sr-harvest (U in
// fixed:16:dyn), bf16-rne, bf16-sr-philox, bf16-sr-harvest.
std::vector<std::string> preset_names();
// Sets cfg.preset and cfg.quant to the preset (other fields untouched). Unknown name -> Error.
void apply_preset(TrainConfig& cfg, std::string_view name);

// Applies a TOML document (file path / text): a `preset` key is applied first (preset_override,
// when not empty, replaces it: --preset beats the file), then every other key overrides. Unknown
// keys are errors (a typo must not silently train something else).
void apply_toml_file(TrainConfig& cfg, const std::string& path, std::string_view preset_override = {});
void apply_toml_text(TrainConfig& cfg, std::string_view text, std::string_view origin = "config",
                     std::string_view preset_override = {});

// The settings in which two configurations differ, one line each: "lr (--lr): saved 0.05, given 0.1"
// (`a` is the saved run's, `b` the given one). Keys in `ignore` ("epochs", "threads") are skipped.
std::vector<std::string> config_differences(const TrainConfig& saved, const TrainConfig& given,
                                            const std::vector<std::string>& ignore = {});

// JSON round trip of the resolved config (summary.json, checkpoints).
std::string to_json(const TrainConfig& cfg, int indent = 2);
TrainConfig config_from_json(std::string_view json);

}  // namespace rngfree::train
