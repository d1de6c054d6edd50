// The optimizers, whose updates round into the master-weight format: SGD with momentum and AdamW,
// with sites U (master weights), M (momentum / AdamW's first moment) and V (AdamW's second moment)
// of every quantized layer (DESIGN.md "Training", docs/lm.md).
#pragma once
#include "rngfree/train/torch.hpp"

#include <vector>

#include "rngfree/train/models.hpp"

namespace rngfree::train {

// SGD with momentum and weight decay: m <- Q_M(mu·m + g + wd·x); x <- Q_U(x - lr·m) for weights of
// quantized layers with U on (else FP32). Biases and BatchNorm parameters stay FP32.
// AdamW (Loshchilov & Hutter 2019, PyTorch's torch.optim.AdamW step), with t the steps done:
//   m <- Q_M(b1·m + (1-b1)·g);  v <- Q_V(b2·v + (1-b2)·g²)
//   x <- Q_U(x·(1 - lr·wd) - (lr / (1-b1^t)) · m / (sqrt(v) / sqrt(1-b2^t) + eps))
// where weight decay applies to parameters of two or more dimensions only (weights and embeddings,
// not biases or LayerNorm/BatchNorm parameters, as nanoGPT and GPT-2 do).
class QSgd {
 public:
  struct Param {
    torch::Tensor value;
    QLayer* layer = nullptr;  // set for the weights of a quantized layer
    torch::Tensor momentum;   // defined after the first step (AdamW: the first moment)
    torch::Tensor variance;   // AdamW: the second moment, defined after the first step
  };
  QSgd(Net& model, Engine& engine, double momentum, double weight_decay);
  // Switches to AdamW with these betas (the momentum given above is then unused).
  void use_adamw(double beta1, double beta2, double eps = 1e-8);
  void zero_grad();
  void step(double lr);
  std::vector<Param> params;
  double momentum, weight_decay;
  bool adamw = false;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  int64_t steps_done = 0;  // AdamW's t - 1 before a step (bias correction); checkpoints restore it

 private:
  void step_sgd(double lr);
  void step_adamw(double lr);
};

}  // namespace rngfree::train
