// The models (mlp, lenet5, vgg7, resnet20; espcn for super-resolution), built from quantized layers registered with an Engine
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

}  // namespace rngfree::train
