// Run-time SIMD dispatch shared by the random and harvest kernels: the build is portable (no
// -march=native); each hot loop is compiled for AVX-512, AVX2 and a portable baseline, and the best
// one that this CPU supports is used. All levels compute identical results (tested against each other).
#pragma once
#include <string>

namespace rngfree::random {

enum class SimdLevel { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// The level the kernels use now: the best the CPU supports, unless lowered by set_simd_level.
SimdLevel simd_level();
// The best level this CPU supports (AVX-512 = F, VL, BW, DQ).
SimdLevel simd_level_supported();
// Tests and benchmarks: use `level`, clamped to what the CPU supports; returns the level now in use.
SimdLevel set_simd_level(SimdLevel level);
std::string simd_level_name(SimdLevel level);

}  // namespace rngfree::random

// Function attributes for the kernel variants (GCC/Clang).
#define RNGFREE_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,bmi2,popcnt")))
#define RNGFREE_TARGET_AVX2 __attribute__((target("avx2,bmi2,popcnt")))
