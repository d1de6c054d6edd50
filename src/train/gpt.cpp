// The byte-level GPT of the lm task (models.hpp, docs/lm.md): GPT-2's block layout (Radford et al.
// 2019) at nanoGPT's shakespeare_char scale, built from libtorch ops; every matrix product is a
// quantized layer (QLinear for the projections, QMatmul for the two attention products).
#include <fmt/core.h>

#include <cmath>

#include "rngfree/error.hpp"
#include "rngfree/train/models.hpp"
#include "rngfree/train/text_data.hpp"

namespace rngfree::train {

namespace {

struct Block {
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  QLinear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  QMatmul qk{nullptr}, pv{nullptr};
};

class Gpt final : public Net {
 public:
  Gpt(Engine& e, int64_t width, int layers, int64_t heads, int64_t context)
      : e_(e), width_(width), heads_(heads), context_(context) {
    wte_ = register_module("wte", torch::nn::Embedding(kTextVocab, width));
    wpe_ = register_parameter("wpe", torch::empty({context, width}));
    for (int i = 0; i < layers; ++i) {
      const std::string p = fmt::format("h{}", i);
      Block b;
      b.ln1 = register_module(p + "_ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
      b.qkv = register_module(p + "_qkv", QLinear(width, 3 * width, &e.add_layer(p + ".qkv")));
      b.qk = register_module(p + "_qk", QMatmul(&e.add_layer(p + ".qk")));
      QLayer& pv = e.add_layer(p + ".pv");
      pv.has_prob = true;  // its A operand, the attention probabilities, is the prob tap
      b.pv = register_module(p + "_pv", QMatmul(&pv));
      b.proj = register_module(p + "_proj", QLinear(width, width, &e.add_layer(p + ".proj")));
      b.ln2 = register_module(p + "_ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
      b.fc1 = register_module(p + "_fc1", QLinear(width, 4 * width, &e.add_layer(p + ".fc1")));
      b.fc2 = register_module(p + "_fc2", QLinear(4 * width, width, &e.add_layer(p + ".fc2")));
      blocks_.push_back(b);
    }
    lnf_ = register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
    head_ = register_module("head", QLinear(width, kTextVocab, &e.add_layer("head"), false));
    // GPT-2's initialisation: N(0, 0.02) for embeddings and projections, zero biases, and the two
    // projections into the residual stream scaled by 1/sqrt(2·layers).
    torch::NoGradGuard guard;
    wte_->weight.normal_(0, 0.02);
    wpe_.normal_(0, 0.02);
    const double resid = 0.02 / std::sqrt(2.0 * layers);
    for (auto& b : blocks_) {
      for (QLinear* l : {&b.qkv, &b.proj, &b.fc1, &b.fc2}) {
        (*l)->weight.normal_(0, (l == &b.proj || l == &b.fc2) ? resid : 0.02);
        (*l)->bias.zero_();
      }
    }
    head_->weight.normal_(0, 0.02);
    // The causal mask: position t attends to positions <= t.
    mask_ = torch::ones({context, context}, torch::kFloat32).triu(1).to(torch::kBool);
  }

  torch::Tensor forward(torch::Tensor tokens) override {
    RNGFREE_CHECK(tokens.dim() == 2 && tokens.scalar_type() == torch::kInt64, "gpt: tokens must be (N, T) int64");
    const int64_t n = tokens.size(0), t = tokens.size(1);
    if (t > context_) throw Error(fmt::format("gpt: {} tokens exceed the context of {}", t, context_));
    // The input tap is the FP32 embedding sum, before its tensor site rounds it (quant.embedding).
    torch::Tensor x = wte_(tokens) + wpe_.narrow(0, 0, t);
    if (!e_.layers.empty()) e_.record(*e_.layers[0], harvest::TapKind::kInput, x);
    x = e_.round_tensor(TensorSite::kEmbedding, x);
    auto norm = [this](torch::nn::LayerNorm& ln, const torch::Tensor& y) {
      return e_.round_tensor(TensorSite::kLayerNorm, ln(y));
    };
    const int64_t hd = width_ / heads_;
    const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
    const torch::Tensor mask = mask_.narrow(0, 0, t).narrow(1, 0, t);
    for (auto& b : blocks_) {
      auto qkv = b.qkv(norm(b.ln1, x)).split(width_, 2);  // 3 × (N, T, C)
      auto heads = [&](const torch::Tensor& y) { return y.view({n, t, heads_, hd}).transpose(1, 2); };  // (N, H, T, hd)
      torch::Tensor q = heads(qkv[0]) * scale, k = heads(qkv[1]), v = heads(qkv[2]);
      torch::Tensor att = b.qk(q, k.transpose(-2, -1)).masked_fill(mask, -std::numeric_limits<float>::infinity());
      att = torch::softmax(att, -1);  // (N, H, T, T); masked entries exactly 0
      // The prob tap of h{i}.pv: FP32, before quant.softmax and pv's A site round it (stored only when
      // a harvest source or the dump reads it).
      e_.record(*b.pv->layer, harvest::TapKind::kProb, att);
      att = e_.round_tensor(TensorSite::kSoftmax, att);
      torch::Tensor y = b.pv(att, v).transpose(1, 2).contiguous().view({n, t, width_});
      x = x + b.proj(y);
      x = x + b.fc2(torch::gelu(b.fc1(norm(b.ln2, x))));
    }
    return head_(norm(lnf_, x));
  }

 private:
  Engine& e_;
  int64_t width_, heads_, context_;
  torch::nn::Embedding wte_{nullptr};
  torch::Tensor wpe_, mask_;
  std::vector<Block> blocks_;
  torch::nn::LayerNorm lnf_{nullptr};
  QLinear head_{nullptr};
};

}  // namespace

std::shared_ptr<Net> make_lm_model(const std::string& name, int width, int layers, int heads, int context,
                                   Engine& engine) {
  RNGFREE_CHECK(engine.layers.empty(), "make_lm_model needs a fresh engine");
  if (name != "gpt") throw Error(fmt::format("model '{}': not a language model; allowed: gpt", name));
  const int w = width > 0 ? width : 128;
  if (heads < 1 || w % heads != 0) {
    throw Error(fmt::format("heads {}: must divide the width {} (each head takes width/heads channels)", heads, w));
  }
  if (layers < 1) throw Error(fmt::format("layers {}: allowed 1..64", layers));
  if (context < 2) throw Error(fmt::format("context {}: allowed 2..4096", context));
  return std::make_shared<Gpt>(engine, w, layers, heads, context);
}

}  // namespace rngfree::train
