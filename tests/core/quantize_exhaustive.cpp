// Exhaustive tier: every one of the 2^32 FP32 bit patterns through nearest-even to bf16 and to fp16
// (and fp16's directed modes) equals the CPU's own conversion instructions, AVX512-BF16
// vcvtneps2bf16 and F16C vcvtps2ph (skipped with a message where the CPU lacks them); every e4m3
// and e5m2 code, decoded by the OCP OFP8 definition, round-trips unchanged in every mode.
// The instructions give IEEE overflow (inf), so they are compared with the :ieee variants.
// Stochastic rounding: every pattern, with a word per pattern, equals SR's definition computed in
// double arithmetic for the fixed-point and float formats that have fast SR paths.
// Every test runs once per SIMD target the CPU supports (AVX-512, AVX2, the portable baseline): each
// target's kernels are compiled separately, so each is checked on its own.
#include <gtest/gtest.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"
#include "support/simd_target.hpp"

namespace rngfree {
namespace {

constexpr uint64_t kPatterns = uint64_t{1} << 32;
constexpr uint32_t kChunk = 1u << 16;

// Each test once per SIMD target (tests/support/simd_target.hpp).
class QuantizeExhaustive : public testing::SimdTargetTest {};
INSTANTIATE_TEST_SUITE_P(EveryTarget, QuantizeExhaustive, testing::every_simd_target(),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

bool same_value(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);  // -0 and +0 differ
}

[[gnu::target("avx512f,avx512bf16")]] void hardware_bf16(const float* in, float* out, uint32_t n) {
  for (uint32_t i = 0; i < n; i += 16) {
    const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(in + i));
    uint16_t halves[16];
    std::memcpy(halves, &h, sizeof halves);
    for (int j = 0; j < 16; ++j) out[i + j] = std::bit_cast<float>(static_cast<uint32_t>(halves[j]) << 16);
  }
}

template <int kImm>
[[gnu::target("avx,f16c")]] void hardware_fp16(const float* in, float* out, uint32_t n) {
  for (uint32_t i = 0; i < n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(in + i), kImm);
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
  }
}

// Runs every FP32 pattern through `quantize` and `hardware`; `skip(x)` excludes inputs that the
// instruction is documented to treat differently (checked separately).
template <typename Hardware, typename Skip>
void compare_all_patterns(const char* what, const Format& format, const Rounding& rounding, Hardware hardware, Skip skip) {
  uint64_t mismatches = 0, skipped = 0;
  const int64_t chunks = static_cast<int64_t>(kPatterns / kChunk);
#pragma omp parallel reduction(+ : mismatches, skipped)
  {
    std::vector<float> in(kChunk), ours(kChunk), theirs(kChunk);
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      for (uint32_t i = 0; i < kChunk; ++i) in[i] = std::bit_cast<float>(static_cast<uint32_t>(c) * kChunk + i);
      quantize(in, ours, format, rounding, {}, {.threads = 1});
      hardware(in.data(), theirs.data(), kChunk);
      for (uint32_t i = 0; i < kChunk; ++i) {
        if (skip(in[i])) {
          ++skipped;
          continue;
        }
        if (!same_value(ours[i], theirs[i])) {
          if (++mismatches <= 5) {
#pragma omp critical
            std::printf("%s: x=%a (0x%08x) ours=%a hardware=%a\n", what, static_cast<double>(in[i]),
                        std::bit_cast<uint32_t>(in[i]), static_cast<double>(ours[i]), static_cast<double>(theirs[i]));
          }
        }
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << what;
  std::printf("%s [%s]: %llu patterns compared, %llu skipped\n", what, simd_level_name(simd_level()).c_str(),
              static_cast<unsigned long long>(kPatterns - skipped), static_cast<unsigned long long>(skipped));
}

bool is_fp32_subnormal(float x) { return x != 0 && std::fpclassify(x) == FP_SUBNORMAL; }

TEST_P(QuantizeExhaustive, Bf16NearestEvenEqualsVcvtneps2bf16) {
  if (!cpu_has_avx512bf16()) GTEST_SKIP() << "this CPU lacks AVX512-BF16 (vcvtneps2bf16)";
  // vcvtneps2bf16 treats denormal inputs as zero (Intel SDM), bf16 keeps FP32's subnormal range:
  // those 2^24 - 2 inputs are skipped here and checked below against exact scaling.
  compare_all_patterns("bf16:ieee nearest-even", Format::parse("bf16:ieee"), Rounding::parse("nearest-even"),
                       hardware_bf16, is_fp32_subnormal);
}

TEST_P(QuantizeExhaustive, Bf16OnFp32SubnormalsEqualsExactScaling) {
  // |x| < 2^-126: the bf16 quantum is 2^-133, so Q(x) = rint(x·2^133)·2^-133, where x·2^133 is
  // exact and rint rounds to nearest even in the default FP environment.
  const Format bf16 = Format::parse("bf16");
  std::vector<float> in, out;
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint32_t m = 1; m < (1u << 23); ++m) in.push_back(std::bit_cast<float>(sign | m));
  }
  out.resize(in.size());
  quantize(in, out, bf16, Rounding::parse("nearest-even"));
  for (size_t i = 0; i < in.size(); ++i) {
    const float expected = std::ldexp(std::nearbyint(std::ldexp(in[i], 133)), -133);
    const float signed_expected = expected == 0 ? std::copysign(0.0f, in[i]) : expected;
    ASSERT_TRUE(same_value(out[i], signed_expected)) << std::hexfloat << in[i];
  }
}

TEST_P(QuantizeExhaustive, Fp16EqualsVcvtps2phInEveryIeeeMode) {
  if (!cpu_has_f16c()) GTEST_SKIP() << "this CPU lacks F16C (vcvtps2ph)";
  const Format fp16 = Format::parse("fp16:ieee");
  auto none = [](float) { return false; };
  compare_all_patterns("fp16:ieee nearest-even", fp16, Rounding::parse("nearest-even"),
                       hardware_fp16<_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC>, none);
  compare_all_patterns("fp16:ieee down", fp16, Rounding::parse("down"),
                       hardware_fp16<_MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC>, none);
  compare_all_patterns("fp16:ieee up", fp16, Rounding::parse("up"), hardware_fp16<_MM_FROUND_TO_POS_INF | _MM_FROUND_NO_EXC>,
                       none);
  compare_all_patterns("fp16:ieee toward-zero", fp16, Rounding::parse("toward-zero"),
                       hardware_fp16<_MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC>, none);
}

TEST_P(QuantizeExhaustive, SaturatingEqualsIeeeWithInfinitiesClamped) {
  // The saturating variant differs from :ieee only where :ieee gives ±inf: there it gives ±max.
  for (const char* name : {"bf16", "fp16", "e5m2"}) {
    const Format sat = Format::parse(name);
    Format ieee = sat;
    ieee.ieee_overflow = true;
    const float max = sat.max_value();
    uint64_t mismatches = 0;
    const int64_t chunks = static_cast<int64_t>(kPatterns / kChunk);
#pragma omp parallel reduction(+ : mismatches)
    {
      std::vector<float> in(kChunk), a(kChunk), b(kChunk);
#pragma omp for schedule(static)
      for (int64_t c = 0; c < chunks; ++c) {
        for (uint32_t i = 0; i < kChunk; ++i) in[i] = std::bit_cast<float>(static_cast<uint32_t>(c) * kChunk + i);
        quantize(in, a, sat, Rounding::parse("nearest-even"), {}, {.threads = 1});
        quantize(in, b, ieee, Rounding::parse("nearest-even"), {}, {.threads = 1});
        for (uint32_t i = 0; i < kChunk; ++i) {
          const float expected = std::isinf(b[i]) ? std::copysign(max, b[i]) : b[i];
          mismatches += same_value(a[i], expected) ? 0 : 1;
        }
      }
    }
    EXPECT_EQ(mismatches, 0u) << name;
  }
}

// SR written straight from DESIGN.md "Arithmetic" in double arithmetic, independent of both the
// kernels' FP32 tricks and the reference's integer splitting. Every step is exact: x/step and
// x·2^R/step are power-of-two scalings, and f = floor(x·2^R/step) - lo·2^R is a difference of
// integers below 2^53 (not (x/step - lo)·2^R: for a tiny negative x, x/step - lo = 1 - tiny rounds
// to 1 in double). Float formats (saturating): on the magnitude, with
// the quantum q = 2^(max(e, emin) - M), |x| = (k + frac)·q, f = floor(frac·2^R), away iff f + r >= 2^R.
float sr_float_definition(float x, const Format& format, int r_bits, uint32_t word) {
  if (std::isnan(x)) return x;
  const double max = format.max_value();
  if (std::isinf(x)) return std::copysign(static_cast<float>(max), x);
  if (x == 0) return x;
  const double a = std::fabs(static_cast<double>(x));
  const double q = std::ldexp(1.0, std::max(std::ilogb(a), format.min_exponent()) - format.mantissa_bits);
  const double k = std::floor(a / q);
  const double f = std::floor(std::ldexp(a / q, r_bits)) - std::ldexp(k, r_bits);
  const auto r = static_cast<double>(word & ((uint64_t{1} << r_bits) - 1));
  const double m = std::min((k + (f + r >= std::ldexp(1.0, r_bits) ? 1.0 : 0.0)) * q, max);
  return std::copysign(static_cast<float>(m), x);
}

// Fixed point with step 2^se: saturate at the grid's ends, else on the two's complement value
// x/step = lo + frac (lo = floor), f = floor(frac·2^R), result lo + [f + r >= 2^R]; zero keeps x's sign.
float sr_fixed_definition(float x, int word_length, int se, int r_bits, uint32_t word) {
  if (std::isnan(x)) return x;
  const double top = std::ldexp(std::ldexp(1.0, word_length - 1) - 1.0, se);
  const double bottom = -std::ldexp(1.0, word_length - 1 + se);
  if (x >= top) return static_cast<float>(top);
  if (x <= bottom) return static_cast<float>(bottom);
  const double v = std::ldexp(static_cast<double>(x), -se);
  const double lo = std::floor(v);
  const double f = std::floor(std::ldexp(v, r_bits)) - std::ldexp(lo, r_bits);
  const auto r = static_cast<double>(word & ((uint64_t{1} << r_bits) - 1));
  const double k = lo + (f + r >= std::ldexp(1.0, r_bits) ? 1.0 : 0.0);
  return k == 0 ? std::copysign(0.0f, x) : static_cast<float>(std::ldexp(k, se));
}

// Word of pattern i: all 32 bits vary (bits above R must be ignored), every low-R value occurs.
uint32_t exhaustive_word(uint32_t i) {
  uint64_t z = i * 0x9E3779B97F4A7C15ull;
  z ^= z >> 29;
  return static_cast<uint32_t>(z ^ (z >> 32));
}

TEST_P(QuantizeExhaustive, StochasticEqualsDefinitionOnEveryBlockOf64Patterns) {
  // The training presets' SR sites (fixed:8 steps with stochastic:8, fixed:16:8 with stochastic:16)
  // and the float formats' fixed-shift SR paths, both c >= R and c < R.
  // One FP32 pattern of every aligned block of 64 (every sign, exponent and mantissa bit above the
  // lowest 6; the lowest 6 from a hash of the block, so every value occurs), 2^26 per case: all 2^32
  // patterns against the double-arithmetic definition took minutes per case, longer than the tier's
  // budget (docs/testing.md).
  struct Case {
    const char* format;
    int r_bits;
  };
  for (const Case c : {Case{"fixed:8:4", 8}, Case{"fixed:16:8", 16}, Case{"fixed:24:0", 8}, Case{"bf16", 8},
                       Case{"fp16", 16}, Case{"e4m3", 8}, Case{"e5m2", 16}}) {
    const Format format = Format::parse(c.format);
    const Rounding rounding = Rounding::parse("stochastic:" + std::to_string(c.r_bits));
    uint64_t mismatches = 0;
    constexpr uint64_t kBlocks = kPatterns / 64;
    const int64_t chunks = static_cast<int64_t>(kBlocks / kChunk);
#pragma omp parallel reduction(+ : mismatches)
    {
      std::vector<float> in(kChunk), out(kChunk);
      std::vector<uint32_t> words(kChunk);
#pragma omp for schedule(static)
      for (int64_t ch = 0; ch < chunks; ++ch) {
        for (uint32_t i = 0; i < kChunk; ++i) {
          const uint32_t block = static_cast<uint32_t>(ch) * kChunk + i;
          const uint32_t pattern = block * 64 + (exhaustive_word(block) >> 26);
          in[i] = std::bit_cast<float>(pattern);
          words[i] = exhaustive_word(pattern);
        }
        quantize(in, out, format, rounding, words, {.threads = 1});
        for (uint32_t i = 0; i < kChunk; ++i) {
          const float expected = format.kind == FormatKind::kFixed
                                     ? sr_fixed_definition(in[i], format.word_length, -format.fraction_length,
                                                           c.r_bits, words[i])
                                     : sr_float_definition(in[i], format, c.r_bits, words[i]);
          if (!same_value(out[i], expected) && ++mismatches <= 5) {
#pragma omp critical
            std::printf("%s %s: x=%a r=0x%08x ours=%a definition=%a\n", c.format, rounding.name().c_str(),
                        static_cast<double>(in[i]), words[i], static_cast<double>(out[i]),
                        static_cast<double>(expected));
          }
        }
      }
    }
    EXPECT_EQ(mismatches, 0u) << c.format << " stochastic:" << c.r_bits;
    std::printf("%s stochastic:%d [%s]: %llu patterns compared\n", c.format, c.r_bits,
                simd_level_name(simd_level()).c_str(), static_cast<unsigned long long>(kBlocks));
    std::fflush(stdout);
  }
}

// Value of an OFP8 code by the OCP definition; NaN for NaN codes, inf for E5M2's infinities.
double decode_ofp8(int code, bool e4m3) {
  const int sign = code >> 7;
  const int exp_bits = e4m3 ? 4 : 5, man_bits = e4m3 ? 3 : 2, bias = e4m3 ? 7 : 15;
  const int exp_field = (code >> man_bits) & ((1 << exp_bits) - 1);
  const int man = code & ((1 << man_bits) - 1);
  double v;
  if (e4m3 && exp_field == 15 && man == 7) return std::nan("");
  if (!e4m3 && exp_field == 31) {
    if (man != 0) return std::nan("");
    v = INFINITY;
  } else if (exp_field == 0) {
    v = std::ldexp(man, 1 - bias - man_bits);
  } else {
    v = std::ldexp((1 << man_bits) + man, exp_field - bias - man_bits);
  }
  return sign ? -v : v;
}

TEST_P(QuantizeExhaustive, EveryOfp8CodeRoundTrips) {
  for (bool e4m3 : {true, false}) {
    int finite = 0;
    for (const char* suffix : {"", ":ieee"}) {
      const Format format = Format::parse(std::string(e4m3 ? "e4m3" : "e5m2") + suffix);
      std::vector<float> in;
      for (int code = 0; code < 256; ++code) {
        const double v = decode_ofp8(code, e4m3);
        if (std::isfinite(v)) in.push_back(static_cast<float>(v));
      }
      finite = static_cast<int>(in.size());
      std::vector<float> out(in.size());
      std::vector<uint32_t> words(in.size());
      for (const char* mode : {"nearest-even", "nearest-away", "toward-zero", "up", "down", "stochastic:1", "stochastic:16",
                               "stochastic:32"}) {
        for (uint32_t w : {0u, 0x7FFFu, 0xFFFFFFFFu}) {
          std::fill(words.begin(), words.end(), w);
          quantize(in, out, format, Rounding::parse(mode), words);
          for (size_t i = 0; i < in.size(); ++i) {
            ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(in[i])) << format.name() << " " << mode;
          }
        }
      }
    }
    // 254 finite e4m3 codes (2 NaNs); 248 finite e5m2 codes (2 infinities, 6 NaNs).
    EXPECT_EQ(finite, e4m3 ? 254 : 248);
  }
}

}  // namespace
}  // namespace rngfree
