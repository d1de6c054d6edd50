// Quantization sites and tap events of a training run (DESIGN.md "Training", "Random sources"),
// without libtorch, so that command-line code and the atlas can name them. A site is a place where
// a tensor is rounded (W, A forward; E, G backward; U, M, V in the optimizer); a tap (harvest::TapKind)
// is a tensor that training produces and that can feed random bits to sites.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "rngfree/harvest/harvest.hpp"

namespace rngfree::train {

enum class Site : int {
  kWeights = 0,      // W: weights as the forward pass uses them
  kActivations = 1,  // A: the layer's input activations
  kErrors = 2,       // E: dL/d(layer output), before the layer's backward uses it
  kGradients = 3,    // G: dL/d(weights)
  kUpdate = 4,       // U: the master weights after each optimizer step (x <- Q_U(x - lr*step))
  kMomentum = 5,     // M: the optimizer's momentum buffer (AdamW: the first moment estimate)
  kVariance = 6,     // V: AdamW's second moment estimate (SGD has none)
};
inline constexpr int kNumSites = 7;
inline constexpr std::array<std::string_view, kNumSites> kSiteNames = {"W", "A", "E", "G", "U", "M", "V"};
// Generator streams (1 + layer·6 + site) and harvest pairing offsets were defined on the six sites W..M;
// V, added with AdamW, keeps every other site's numbers (and so every earlier run) unchanged: its
// stream is 2^32 + layer (no other site's stream reaches 2^32 below 715 million layers).
inline constexpr int kSiteStride = 6;
inline constexpr uint64_t site_stream(int layer, Site site) {
  return site == Site::kVariance ? (uint64_t{1} << 32) + static_cast<uint64_t>(layer)
                                 : 1 + static_cast<uint64_t>(layer) * kSiteStride + static_cast<uint64_t>(site);
}
// The gpt's tensor sites (task lm, docs/lm.md): FP32 tensors outside the quantized layers that a
// config may round in the forward pass ([quant.layernorm], [quant.softmax], [quant.embedding]).
// Their generator streams are 2^33 + index, above every layer site's (V's end below 2^33).
enum class TensorSite : int {
  kLayerNorm = 0,  // the output of every LayerNorm (each block's two and the final one)
  kSoftmax = 1,    // the attention probabilities (softmax output, masked entries 0)
  kEmbedding = 2,  // token + position embedding: the residual stream's start
};
inline constexpr int kNumTensorSites = 3;
inline constexpr std::array<std::string_view, kNumTensorSites> kTensorSiteNames = {"layernorm", "softmax",
                                                                                   "embedding"};
inline constexpr uint64_t tensor_site_stream(TensorSite site) {
  return (uint64_t{1} << 33) + static_cast<uint64_t>(site);
}

// The offset, in sixths of `span`, at which site `site` starts reading a shared tap (V: a twelfth,
// between W's and A's).
inline constexpr int64_t site_salt(Site site, int64_t span) {
  return site == Site::kVariance ? span / (2 * kSiteStride) : static_cast<int64_t>(site) * (span / kSiteStride);
}

// Tap kinds that training produces per layer (harvest::TapKind without kSelf, which is the tensor
// being rounded and is not stored). kInput is the network's input batch; it is reported with layer 0.
// kProb exists only at the layers that multiply attention probabilities (the gpt's h{i}.pv,
// QLayer::has_prob); every quantized layer has the other four.
inline constexpr int kNumTapKinds = 6;  // kInput, kWeights, kAct, kErr, kGrad, kProb
inline constexpr std::array<std::string_view, kNumTapKinds> kTapNames = {"input", "weights", "act",
                                                                         "err",   "grad",    "prob"};
inline std::string_view tap_name(harvest::TapKind kind) {
  return kind == harvest::TapKind::kSelf ? "self" : kTapNames[static_cast<int>(kind)];
}

// Throws rngfree::Error naming the allowed names ("W A E G U M V").
Site parse_site(std::string_view name);

// A tap event: the trainer calls the callback at every production point of every tap of every
// quantized layer, in the order training produces them (forward: input (layer 0 only), weights and
// act per layer, prob before act at a layer that has it; backward: err then grad per layer, last
// layer first). `values` is valid only during the call (copy what you keep). `step` counts
// optimizer steps from 0 over the whole run.
struct TapEvent {
  int layer = 0;
  std::string_view layer_name;
  harvest::TapKind kind = harvest::TapKind::kInput;
  int64_t step = 0;
  std::span<const float> values;
};
using TapCallback = std::function<void(const TapEvent&)>;

// What an observer of the words SR consumes sees (the audit): the exact values of one rounding
// call, the words used for them (same size), and the site. Valid only during the call.
struct SiteEvent {
  int layer = 0;
  Site site = Site::kWeights;
  int64_t step = 0;
  std::span<const float> values;
  std::span<const uint32_t> words;
};
using SiteCallback = std::function<void(const SiteEvent&)>;

}  // namespace rngfree::train
