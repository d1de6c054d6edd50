// Spans over contiguous float32 tensors (internal to src/train).
#pragma once
#include "rngfree/train/torch.hpp"

#include <span>

#include "rngfree/error.hpp"

namespace rngfree::train {

inline std::span<const float> float_span(const torch::Tensor& t) {
  RNGFREE_CHECK(t.scalar_type() == torch::kFloat32 && t.is_contiguous(), "expected a contiguous float32 tensor");
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}
inline std::span<float> float_span_mut(torch::Tensor& t) {
  RNGFREE_CHECK(t.scalar_type() == torch::kFloat32 && t.is_contiguous(), "expected a contiguous float32 tensor");
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}

}  // namespace rngfree::train
