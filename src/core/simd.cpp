// Run-time SIMD level selection (include/rngfree/simd.hpp): detected once with the compiler's
// CPU-feature builtins, lowered on request for tests and benchmarks.
#include "rngfree/simd.hpp"

#include <atomic>

#if RNGFREE_SIMD_X86
#include <cpuid.h>
#endif

#include "rngfree/error.hpp"

namespace rngfree {
namespace {

SimdLevel detect() {
#if RNGFREE_SIMD_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")) {
    return SimdLevel::kAvx512;
  }
  if (avx2) return SimdLevel::kAvx2;
#endif
  return SimdLevel::kPortable;
}

std::atomic<int>& current() {
  static std::atomic<int> level{static_cast<int>(simd_level_supported())};
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

SimdLevel parse_simd_level(std::string_view name) {
  for (SimdLevel level : {SimdLevel::kPortable, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (name == simd_level_name(level)) return level;
  }
  throw Error("SIMD level '" + std::string(name) + "': unknown; allowed: avx512, avx2, portable");
}

bool cpu_has_f16c() {
#if RNGFREE_SIMD_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  __builtin_cpu_init();
  return __get_cpuid(1, &a, &b, &c, &d) != 0 && (c & bit_F16C) != 0 && __builtin_cpu_supports("avx");
#else
  return false;
#endif
}

bool cpu_has_avx512bf16() {
#if RNGFREE_SIMD_X86
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512bf16");
#else
  return false;
#endif
}

}  // namespace rngfree
