// The models (mlp, lenet5, vgg7, resnet20), built from quantized layers registered with an Engine
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

}  // namespace rngfree::train
