// A model of one quantized Linear layer (optimizer tests: QSgd takes a Net).
#pragma once
#include "rngfree/train/models.hpp"

namespace rngfree::testing {

struct LinearNet : train::Net {
  train::QLinear inner;
  explicit LinearNet(train::QLinear m) : inner(register_module("lin", m)) {}
  torch::Tensor forward(torch::Tensor x) override { return inner->forward(x); }
};

}  // namespace rngfree::testing
