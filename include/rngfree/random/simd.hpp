// The random and harvest kernels' names for the library's one SIMD dispatch (rngfree/simd.hpp).
// harvest.cpp still spells them random::...; once it includes rngfree/simd.hpp directly, this header goes.
#pragma once
#include "rngfree/simd.hpp"

namespace rngfree::random {
using rngfree::set_simd_level;
using rngfree::simd_level;
using rngfree::simd_level_name;
using rngfree::simd_level_supported;
using rngfree::SimdLevel;
}  // namespace rngfree::random
