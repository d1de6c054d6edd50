// Run-time SIMD level selection (include/rngfree/random/simd.hpp).
#include "rngfree/random/simd.hpp"

#include <atomic>

namespace rngfree::random {
namespace {
SimdLevel detect() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2")) {
    return SimdLevel::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2")) return SimdLevel::kAvx2;
  return SimdLevel::kPortable;
}
std::atomic<int>& current() {
  static std::atomic<int> level{static_cast<int>(detect())};
  return level;
}
}  // namespace

SimdLevel simd_level() { return static_cast<SimdLevel>(current().load(std::memory_order_relaxed)); }
SimdLevel simd_level_supported() {
  static const SimdLevel best = detect();
  return best;
}
SimdLevel set_simd_level(SimdLevel level) {
  const SimdLevel best = simd_level_supported();
  const SimdLevel use = static_cast<int>(level) > static_cast<int>(best) ? best : level;
  current().store(static_cast<int>(use), std::memory_order_relaxed);
  return use;
}
std::string simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return "avx512";
    case SimdLevel::kAvx2: return "avx2";
    case SimdLevel::kPortable: return "portable";
  }
  return "portable";
}

}  // namespace rngfree::random
