// Quantized Linear, Conv2d and activation-product (matmul) modules (DESIGN.md "Training"): libtorch computes the layer, the
// sites of its QLayer round around it — A (input) and W (weights) in the forward pass, E (dL/d
// output) and G (dL/d weights) in the backward pass. With every site off a layer computes exactly
// what libtorch's own layer computes.
#pragma once
#include "rngfree/train/torch.hpp"

#include "rngfree/train/engine.hpp"

namespace rngfree::train {

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

// y = a·b (torch::matmul, batched) of two activations, as attention's Q·Kᵀ and softmax·V (docs/lm.md):
// both operands rounded by the layer's A site, dL/dy by its E site; taps act (y) and err (dL/dy).
// The layer has no weights (W, G, U, M, V never apply to it).
class QMatmulImpl : public torch::nn::Module {
 public:
  explicit QMatmulImpl(QLayer* layer);
  torch::Tensor forward(const torch::Tensor& a, const torch::Tensor& b);
  QLayer* layer;
};
TORCH_MODULE(QMatmul);

}  // namespace rngfree::train
