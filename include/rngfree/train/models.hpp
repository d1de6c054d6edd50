// The models (mlp, lenet5, vgg7, resnet20; espcn for super-resolution; gpt for text), built from quantized layers registered with an Engine
// in forward order; BatchNorm outputs optionally rounded (quant.batchnorm).
#pragma once
#include "rngfree/train/torch.hpp"

#include <memory>
#include <string>

#include "rngfree/train/layers.hpp"

namespace rngfree::train {

// A model: a module whose quantized layers are registered with an Engine, in forward order.
class Net : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(torch::Tensor x) = 0;  // (N, C, H, W) -> logits (N, classes)
};

// mlp, lenet5, vgg7 (width: channels of the first block, 0 = 128), resnet20.
std::shared_ptr<Net> make_model(const std::string& name, int width, int channels, int image_size, int num_classes,
                                Engine& engine);

// Super-resolution (docs/superres.md): espcn (Shi et al. 2016, ReLU instead of tanh), LR luma
// (N, 1, h, w) -> the residual to add to the bicubic upscale, (N, 1, h·scale, w·scale): conv 5×5
// 1→w, conv 3×3 w→w, conv 3×3 w→w/2, conv 3×3 w/2→scale², PixelShuffle. width 0 = 32.
std::shared_ptr<Net> make_sr_model(const std::string& name, int width, int scale, Engine& engine);

// Language model (docs/lm.md, src/train/gpt.cpp): gpt, a byte-level decoder-only transformer (GPT-2's
// layout: token + position embeddings, `layers` pre-LayerNorm blocks of causal multi-head
// self-attention and a GELU MLP of 4·width, a final LayerNorm and a separate output head), tokens
// (N, T) int64 in [0, 256) with T <= context -> logits (N, T, 256). Quantized layers per block i:
// h{i}.qkv, h{i}.qk (Q·Kᵀ), h{i}.pv (softmax·V), h{i}.proj, h{i}.fc1, h{i}.fc2; then head.
// Embeddings, LayerNorm and softmax stay FP32. width 0 = 128.
std::shared_ptr<Net> make_lm_model(const std::string& name, int width, int layers, int heads, int context,
                                   Engine& engine);

}  // namespace rngfree::train
