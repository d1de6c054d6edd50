// The one run-time SIMD dispatch of the library (quantize, random, harvest and NIST kernels): the
// build is portable (never -march=native); each hot loop is compiled for AVX-512, AVX2 and a portable
// baseline, and the best level this CPU supports is used unless lowered. Every level computes the
// same bits as the portable one (each kernel's tests compare them).
#pragma once
#include <string>
#include <string_view>

namespace rngfree {

// kAvx512: AVX-512 F, VL, BW and DQ with AVX2 and BMI2; kAvx2: AVX2 and BMI2; kPortable: neither
// (and every CPU that is not x86).
enum class SimdLevel { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

// The level the kernels use now: the best the CPU supports, unless lowered by set_simd_level.
SimdLevel simd_level();
// The best level this CPU supports.
SimdLevel simd_level_supported();
// Tests and benchmarks: use `level`, clamped to what the CPU supports; returns the level now in
// use. Not to be called while a kernel runs on another thread.
SimdLevel set_simd_level(SimdLevel level);
std::string simd_level_name(SimdLevel level);  // "avx512", "avx2", "portable"
// "avx512", "avx2" or "portable"; anything else throws rngfree::Error naming the allowed names.
SimdLevel parse_simd_level(std::string_view name);

// CPU features the kernels do not dispatch on, for `rngfree info` and for tests that compare the
// emulation with a hardware conversion: F16C (vcvtps2ph, with AVX) and AVX-512 BF16 (vcvtneps2bf16).
// Read with CPUID, since clang 14's __builtin_cpu_supports does not know "f16c".
bool cpu_has_f16c();
bool cpu_has_avx512bf16();

}  // namespace rngfree

// Function attributes for the kernel variants (GCC/Clang); empty where the target is not x86.
#if defined(__x86_64__) || defined(__i386__)
#define RNGFREE_SIMD_X86 1
#define RNGFREE_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,bmi2,popcnt")))
#define RNGFREE_TARGET_AVX2 __attribute__((target("avx2,bmi2,popcnt")))
#else
#define RNGFREE_SIMD_X86 0
#define RNGFREE_TARGET_AVX512
#define RNGFREE_TARGET_AVX2
#endif
