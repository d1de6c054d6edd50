// SGD with momentum whose update rounds into the master-weight format: sites U (weights) and M
// (momentum) of every quantized layer (DESIGN.md "Training").
#pragma once
#include "rngfree/train/torch.hpp"

#include <vector>

#include "rngfree/train/models.hpp"

namespace rngfree::train {

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
