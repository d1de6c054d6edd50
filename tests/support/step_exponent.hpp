// The power-of-two step exponent of fixed:WL:dyn (whole span) or bfp (one block), computed
// independently of the kernels with std::ilogb of the largest finite magnitude (docs/formats.md).
#pragma once
#include <algorithm>
#include <cmath>
#include <span>

#include "rngfree/quantize.hpp"

namespace rngfree::testing {

inline int independent_step_exponent(std::span<const float> x, const Format& format) {
  float max = 0;
  for (float v : x) {
    if (std::isfinite(v)) max = std::max(max, std::fabs(v));
  }
  if (max == 0) return kNoScaleStepExponent;
  const int e = std::ilogb(max);
  return format.kind == FormatKind::kFixedDynamic ? e + 2 - format.word_length : e + 1 - format.block_mantissa_bits;
}

}  // namespace rngfree::testing
