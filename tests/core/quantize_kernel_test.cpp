// Fast kernels vs the reference (the spec): every format family and rounding mode on random bit
// patterns, values near the grid (ties, carries, subnormal boundaries, overflow) and specials; and
// results independent of the thread count. The reference itself is checked against exact tables in
// quantize_table_test.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"
#include "support/simd_target.hpp"
#include "support/step_exponent.hpp"

namespace rngfree {
namespace {

const char* const kFormats[] = {
    "fp16", "bf16", "tf32", "e5m2", "e4m3", "fp16:ieee", "bf16:ieee", "e5m2:ieee", "e4m3:ieee", "float:2:0",
    "float:2:1", "float:3:0:ieee", "float:8:23", "float:8:0", "float:8:22", "float:4:23", "float:6:5:ieee",
    "fixed:8:4", "fixed:2:0", "fixed:16:12", "fixed:32:0", "fixed:32:31", "fixed:26:-3", "fixed:8:64",
    "fixed:8:-64", "fixed:12:40", "fixed:4:-10", "fixed:8:dyn", "fixed:2:dyn", "fixed:32:dyn", "fixed:25:dyn",
    "bfp:8:16", "bfp:1:4", "bfp:24:3", "bfp:4:1", "bfp:3:1000"};
const char* const kRoundings[] = {"nearest-even", "nearest-away", "toward-zero", "up", "down",
                                  "stochastic:1", "stochastic:2", "stochastic:8", "stochastic:16",
                                  "stochastic:23", "stochastic:31", "stochastic:32"};

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// A mix of inputs that exercises every path of a kernel for `format`.
std::vector<float> make_inputs(const Format& format, std::mt19937_64& rng, size_t count) {
  std::vector<float> v;
  const float specials[] = {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::quiet_NaN(), -std::numeric_limits<float>::quiet_NaN(),
                            std::bit_cast<float>(0x7F800001u), std::numeric_limits<float>::max(),
                            -std::numeric_limits<float>::max(), std::numeric_limits<float>::denorm_min(),
                            std::numeric_limits<float>::min(), 1.0f, -1.0f, 0.5f, 1.5f, 2.5f, -2.5f, 448.0f, 464.0f,
                            480.0f, 57344.0f, 61440.0f, 65504.0f, 65520.0f, -65520.0f};
  for (float s : specials) v.push_back(s);
  // The scale of the interesting region: around the format's range or step.
  int lo_exp = -30, hi_exp = 30;
  if (format.kind == FormatKind::kFloat) {
    lo_exp = format.min_exponent() - format.mantissa_bits - 3;
    hi_exp = format.max_exponent() + 3;
  } else if (format.kind == FormatKind::kFixed) {
    lo_exp = -format.fraction_length - 4;
    hi_exp = -format.fraction_length + format.word_length + 3;
  }
  lo_exp = std::max(lo_exp, -149);
  hi_exp = std::min(hi_exp, 127);
  std::uniform_int_distribution<int> exp_dist(lo_exp, hi_exp);
  std::uniform_int_distribution<uint32_t> word;
  while (v.size() < count) {
    const uint32_t w = word(rng);
    switch (w % 4) {
      case 0:  // any bit pattern
        v.push_back(std::bit_cast<float>(word(rng)));
        break;
      case 1: {  // random significand in the interesting range
        const float m = 1.0f + static_cast<float>(word(rng) >> 9) * 0x1p-23f;
        v.push_back(std::ldexp(w & 0x10 ? -m : m, exp_dist(rng)));
        break;
      }
      case 2: {  // few significant bits: exact values, ties and near-ties
        const int bits = 1 + static_cast<int>((w >> 8) % 14);
        const uint32_t sig = (word(rng) >> (32 - bits)) | 1u;
        float x = std::ldexp(static_cast<float>(sig), exp_dist(rng) - bits);
        if (w & 0x20) x = std::nextafter(x, (w & 0x40) ? 0.0f : std::numeric_limits<float>::infinity());
        v.push_back(w & 0x10 ? -x : x);
        break;
      }
      default: {  // FP32 subnormals and tiny values
        v.push_back(std::bit_cast<float>((word(rng) & 0x80FFFFFFu)));
        break;
      }
    }
  }
  return v;
}

using rngfree::testing::independent_step_exponent;

// Every SIMD target the CPU supports, each checked against the reference (restored afterwards).
class EveryTarget : public testing::SimdTargetTest {};
INSTANTIATE_TEST_SUITE_P(QuantizeKernel, EveryTarget, testing::every_simd_target());

// The reference's result for every element: fixed:dyn with the span's step exponent, bfp with each
// block's (independent_step_exponent), other formats with none.
std::vector<float> reference_results(const std::vector<float>& in, const std::vector<uint32_t>& random,
                                     const Format& format, const Rounding& rounding) {
  const bool blocks = format.kind == FormatKind::kBlockFloat;
  const auto block = static_cast<size_t>(blocks ? format.block_size : static_cast<int64_t>(in.size()));
  std::vector<float> expected(in.size());
  int se = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    if ((blocks || format.kind == FormatKind::kFixedDynamic) && i % block == 0) {
      se = independent_step_exponent(std::span<const float>(in).subspan(i, std::min(block, in.size() - i)), format);
    }
    expected[i] = quantize_reference(in[i], format, rounding, random[i], se);
  }
  return expected;
}

TEST_P(EveryTarget, EqualsReferenceForEveryFormatAndMode) {
  std::mt19937_64 rng(12345);
  for (const char* fs : kFormats) {
    const Format format = Format::parse(fs);
    for (const char* rs : kRoundings) {
      const Rounding rounding = Rounding::parse(rs);
      // fixed:dyn: the whole span is one tensor; use spans of varied scale.
      for (int trial = 0; trial < 3; ++trial) {
        std::vector<float> in = make_inputs(format, rng, 6000);
        if (trial == 1) in.resize(37);  // small span, serial path
        if (trial == 2 && format.kind == FormatKind::kFixedDynamic) {
          for (float& x : in) {
            if (!std::isfinite(x) || std::fabs(x) > 1e3f) x = 0.25f;
          }
        }
        std::vector<uint32_t> random(in.size());
        for (auto& r : random) r = static_cast<uint32_t>(rng());
        std::vector<float> out(in.size());
        quantize(in, out, format, rounding, random);
        int failures = 0;
        const std::vector<float> expected = reference_results(in, random, format, rounding);
        for (size_t i = 0; i < in.size(); ++i) {
          if (!same_bits_or_both_nan(out[i], expected[i]) && ++failures <= 5) {
            ADD_FAILURE() << fs << " " << rs << " x=" << std::hexfloat << in[i] << " r=" << random[i]
                          << " fast=" << out[i] << " reference=" << expected[i] << std::defaultfloat;
          }
        }
        ASSERT_EQ(failures, 0) << fs << " " << rs;
        // In place gives the same.
        std::vector<float> inplace = in;
        quantize_inplace(inplace, format, rounding, random);
        for (size_t i = 0; i < in.size(); ++i) ASSERT_TRUE(same_bits_or_both_nan(inplace[i], out[i])) << fs << " " << rs;
      }
    }
  }
}

// bfp spans built block by block for the small-block FP32-scaled kernel (bfp:M:16 and bfp:M:32):
// each block's step exponent se is chosen (ordinary, the bounds of the fast path -126 and R - 127
// and one beyond each, the largest 128 - M, FP32-subnormal maxima, and blocks with no nonzero
// finite value), its first element sets the max (the smallest value with that se, the largest
// grid value, a tie or SR threshold just below 2^M steps that rounds up and saturates, the largest
// FP32 value below 2^(se+M)), and the others are grid points k·2^se plus j/2^R of a step (j = 0, 1,
// 2^(R-1), 2^R - 1) and one FP32 step either side, both signs, mixed with NaN, ±inf, ±0 and FP32
// subnormals (a quarter of the blocks with the finite ones only: most of the others hold an Inf or
// a NaN, which sends them to the kernels' other path), and blocks of ±0 only. The span ends in a
// short block. Words: 0, 1, 2^(R-1) - 1, 2^(R-1), 2^R - 1, those with
// the unused high bits set, and random ones.
struct BfpSpan {
  std::vector<float> in;
  std::vector<uint32_t> random;
};

BfpSpan make_bfp_span(int mantissa_bits, int64_t block, int r_bits, std::mt19937_64& rng) {
  const int m = mantissa_bits;
  const int r = std::max(r_bits, 1);
  const int step_exponents[] = {-20, 0, 5, -60, 40, -126, -127, r - 127, r - 128, 128 - m, 127 - m, -140, -149 - m,
                                -155, -3, 7};
  const double kmax = std::ldexp(1.0, m) - 1.0;
  const uint32_t r_max = r_bits >= 32 ? 0xFFFFFFFFu : (1u << r) - 1u;
  const uint32_t word_choices[] = {0u, 1u, r_max >> 1, (r_max >> 1) + 1, r_max, ~r_max, ~r_max | 1u, 0xFFFFFFFFu};
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(), std::bit_cast<float>(0xFFC00001u),
                            std::bit_cast<float>(0x7F800001u), std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity(), 0.0f, -0.0f,
                            std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                            std::bit_cast<float>(0x007FFFFFu), -std::numeric_limits<float>::min()};
  auto exact = [](double v, float* out) {
    const auto f = static_cast<float>(v);
    if (static_cast<double>(f) != v || !std::isfinite(f)) return false;
    *out = f;
    return true;
  };
  BfpSpan span;
  std::uniform_int_distribution<uint32_t> any;
  const int blocks = 3 * static_cast<int>(std::size(step_exponents)) + 4;
  for (int bi = 0; bi < blocks; ++bi) {
    std::vector<float> b;
    const int kind = bi % 16;
    // kinds 8 to 11: finite values only (the kernels' path without the NaN select)
    const bool finite_only = kind >= 8 && kind < 12;
    if (kind == 14) {  // no nonzero finite value: unchanged
      for (int64_t i = 0; i < block; ++i) b.push_back(specials[any(rng) % 7]);
    } else if (kind == 15) {  // zeros of both signs: unchanged
      for (int64_t i = 0; i < block; ++i) b.push_back(any(rng) & 1 ? -0.0f : 0.0f);
    } else {
      const int se = step_exponents[static_cast<size_t>(bi) % std::size(step_exponents)];
      const double step = std::ldexp(1.0, se);
      const double top = std::ldexp(1.0, se + m);  // every |x| in the block is below it
      const double frac_r = std::ldexp(1.0, -r);
      const double max_candidates[] = {std::ldexp(1.0, se + m - 1), kmax * step, (kmax + 0.5) * step,
                                       (kmax + 1.0 - frac_r) * step, (kmax + 0.5 + frac_r) * step};
      float max = 0;
      const auto pick = static_cast<size_t>(any(rng) % (std::size(max_candidates) + 1));
      if (pick == std::size(max_candidates)) {
        // the largest FP32 value below 2^(se+M)
        max = top >= 0x1p127 * 2 ? std::numeric_limits<float>::max() : std::nextafter(static_cast<float>(top), 0.0f);
      } else if (!exact(max_candidates[pick], &max)) {
        max = static_cast<float>(std::max(std::ldexp(1.0, se + m - 1), 0x1p-149));
      }
      b.push_back(any(rng) & 1 ? -max : max);
      while (static_cast<int64_t>(b.size()) < block) {
        const uint32_t w = any(rng);
        float x = 0;
        if (w % 5 == 0) {
          // specials[5, 11) are the finite ones
          x = finite_only ? specials[5 + (w >> 8) % 6] : specials[(w >> 8) % std::size(specials)];
        } else {
          const double k = (w >> 4) % 3 == 0 ? static_cast<double>(any(rng) % 4) : static_cast<double>(any(rng) % static_cast<uint64_t>(kmax + 1));
          const double js[] = {0.0, 1.0, std::ldexp(1.0, r - 1), std::ldexp(1.0, r) - 1.0, std::ldexp(1.0, r - 2)};
          const double j = js[(w >> 8) % std::size(js)];
          if (!exact((k + j * frac_r) * step, &x)) x = static_cast<float>((k + j * frac_r) * step);
          if ((w >> 12) % 3 == 1) x = std::nextafter(x, 0.0f);
          if ((w >> 12) % 3 == 2) x = std::nextafter(x, INFINITY);
          if (std::fabs(static_cast<double>(x)) > std::fabs(static_cast<double>(max))) x = max;  // keep the block's se
          if (w & 0x10000) x = -x;
        }
        b.push_back(x);
      }
      std::shuffle(b.begin(), b.end(), rng);
    }
    span.in.insert(span.in.end(), b.begin(), b.end());
  }
  span.in.resize(span.in.size() - static_cast<size_t>(block / 2 + 3));  // a last short block
  span.random.resize(span.in.size());
  for (auto& word : span.random) {
    const uint32_t w = any(rng);
    word = w % 3 == 0 ? any(rng) : word_choices[(w >> 4) % std::size(word_choices)];
  }
  return span;
}

#if defined(__x86_64__) || defined(__i386__)
// The FP32-arithmetic kernels (fp16/e4m3/e5m2 below their normal range, fixed point) rely on
// IEEE round-to-nearest with subnormals; a caller that set flush-to-zero, denormals-are-zero and
// round-toward-zero (MXCSR, per thread) must still get the reference's bits, on every target, and
// its MXCSR back (the kernels set the default mode for their own calls only).
TEST_P(EveryTarget, EqualsReferenceUnderFlushToZeroAndRoundTowardZero) {
  std::mt19937_64 rng(777);
  for (const char* fs : {"fp16", "e4m3", "e5m2:ieee", "float:5:6", "fixed:8:4", "fixed:8:dyn", "fixed:16:20",
                         "bfp:7:32", "bfp:7:16"}) {
    const Format format = Format::parse(fs);
    for (const char* rs : {"nearest-even", "stochastic:8", "stochastic:16"}) {
      const Rounding rounding = Rounding::parse(rs);
      std::vector<float> in = make_inputs(format, rng, 4000);
      std::vector<uint32_t> random(in.size());
      for (auto& r : random) r = static_cast<uint32_t>(rng());
      if (format.kind == FormatKind::kBlockFloat) {  // blocks of graded scales, FP32 subnormals included
        BfpSpan s = make_bfp_span(format.block_mantissa_bits, format.block_size, rounding.random_bits, rng);
        in = std::move(s.in);
        random = std::move(s.random);
      }
      const std::vector<float> expected = reference_results(in, random, format, rounding);
      std::vector<float> out(in.size());
      const unsigned saved = _mm_getcsr();
      const unsigned caller = saved | 0x8000u | 0x0040u | 0x6000u;  // FTZ, DAZ, round toward zero
      _mm_setcsr(caller);
      quantize(in, out, format, rounding, random, QuantizeOptions{1});  // this thread's MXCSR
      const unsigned after = _mm_getcsr();
      _mm_setcsr(saved);
      ASSERT_EQ(after & 0xFFC0u, caller & 0xFFC0u) << fs << " " << rs << ": the caller's MXCSR (masks, FTZ, DAZ, "
                                                   << "rounding direction) is not given back";
      for (size_t i = 0; i < in.size(); ++i) {
        ASSERT_TRUE(same_bits_or_both_nan(out[i], expected[i]))
            << fs << " " << rs << " x=" << std::hexfloat << in[i] << " fast=" << out[i] << " reference=" << expected[i];
      }
    }
  }
}
#endif

// Stochastic rounding's edge cases, fast kernels against the reference on every target: grid
// points, ties, values exactly at and one FP32 step either side of each SR threshold j/2^R of a
// step (j = 1, 2^(R-1), 2^R - 1), negative values (two's complement fractions for fixed point),
// the grid's ends and beyond (saturation), -0, FP32 subnormals, infinities and NaN; each with the
// words r = 0, 1, 2^(R-1), 2^R - 1 and with high bits above the R used ones set. Covers the
// FP32-scaled fixed-point SR (fixed:WL:FL and fixed:WL:dyn, including WL + R = 32, WL = 25 and the
// se <= R bound) and the pattern-add SR of the fixed-shift float paths.
std::vector<float> sr_edge_values(double step, int r_bits, const std::vector<double>& grid_indices) {
  std::vector<float> v = {0.0f, -0.0f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(), std::bit_cast<float>(0xFFC00001u),
                          std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(), -std::numeric_limits<float>::denorm_min(),
                          std::bit_cast<float>(0x007FFFFFu), -std::numeric_limits<float>::min()};
  const double r_scale = std::ldexp(1.0, -r_bits);
  for (double k : grid_indices) {
    for (double j : {0.0, 1.0, std::ldexp(1.0, r_bits - 1), std::ldexp(1.0, r_bits) - 1.0}) {
      const auto x = static_cast<float>((k + j * r_scale) * step);
      if (static_cast<double>(x) != (k + j * r_scale) * step) continue;  // not an FP32 value
      for (float s : {x, std::nextafter(x, -INFINITY), std::nextafter(x, INFINITY)}) {
        v.push_back(s);
        v.push_back(-s);
      }
    }
  }
  return v;
}

TEST_P(EveryTarget, StochasticEdgeCasesEqualReference) {
  struct Case {
    const char* format;
    int r_bits;
    double step;  // the grid's step at grid_indices (fixed:dyn: set by the span's max, an element here)
    std::vector<double> grid_indices;
  };
  auto ends = [](int wl) {
    const double top = std::ldexp(1.0, wl - 1);
    return std::vector<double>{0, 1, 2, 3, -1, -2, -3, top - 2, top - 1, top, top + 1, -top + 1, -top, -top - 1};
  };
  const std::vector<Case> cases = {
      {"fixed:8:4", 8, 0x1p-4, ends(8)},      {"fixed:8:4", 16, 0x1p-4, ends(8)},
      {"fixed:16:8", 16, 0x1p-8, ends(16)},   {"fixed:16:8", 1, 0x1p-8, ends(16)},
      {"fixed:24:0", 8, 1.0, ends(24)},       {"fixed:25:3", 7, 0x1p-3, ends(25)},
      {"fixed:25:3", 8, 0x1p-3, ends(25)},    {"fixed:8:-8", 8, 0x1p8, ends(8)},
      {"fixed:8:-9", 8, 0x1p9, ends(8)},      {"fixed:8:dyn", 8, 0x1p-126, ends(8)}, {"fixed:8:dyn", 8, 0x1p-127, ends(8)},  // se >= -126 bound
      {"fixed:8:dyn", 8, 0x1p-6, ends(8)},
      {"fixed:8:dyn", 16, 0x1p-6, ends(8)},   {"fixed:16:dyn", 16, 0x1p-14, ends(16)},
      {"fixed:2:dyn", 30, 0.5, ends(2)},      {"fixed:2:dyn", 31, 0.5, ends(2)},
      // float formats: grid indices k in units of the step of one binade ([1, 2) unless noted)
      {"bf16", 8, 0x1p-7, {128, 129, 255}},          {"bf16", 32, 0x1p-7, {128, 192, 255}},
      {"bf16", 8, 0x1p-133, {1, 127, 128}},          // FP32 subnormals: bf16's step 2^-133
      {"tf32", 16, 0x1p-10, {1024, 1025, 2047}},     {"fp16", 8, 0x1p-10, {1024, 1536, 2047}},
      {"fp16", 16, 0x1p-24, {1, 2, 1023, 1024}},     // subnormals, up to 2^emin
      {"fp16", 16, 0x1p5, {2046, 2047}},             // [2^15, 2^16): the largest value and overflow
      {"e4m3", 16, 0x1p-3, {8, 9, 15}},              {"e4m3", 8, 0x1p-9, {1, 7, 8}},  // subnormals
      {"e4m3", 8, 0x1p5, {12, 13, 14, 15}},          // [256, 512): 448 = 14·2^5 is the largest
      {"e5m2:ieee", 16, 0x1p13, {6, 7, 8}},          // 57344 = 7·2^13 is the largest, then inf
      {"e5m2", 20, 0x1p-2, {4, 5, 7}},
  };
  for (const Case& c : cases) {
    const Format format = Format::parse(c.format);
    const Rounding rounding = Rounding::parse("stochastic:" + std::to_string(c.r_bits));
    std::vector<float> in = sr_edge_values(c.step, c.r_bits, c.grid_indices);
    if (format.kind == FormatKind::kFixedDynamic) {
      // The span's max sets the step: |max| in [2^(WL-2)·step, 2^(WL-1)·step); saturation is then
      // reached only by the max itself, so drop values beyond it (they would change the scale).
      const double max = std::ldexp(c.step, format.word_length - 2) * 1.5;
      std::erase_if(in, [&](float x) { return std::isfinite(x) && std::fabs(static_cast<double>(x)) > max; });
      in.push_back(static_cast<float>(max));
      ASSERT_EQ(independent_step_exponent(in, format), std::ilogb(c.step)) << c.format;
    }
    const uint32_t r_max = c.r_bits == 32 ? 0xFFFFFFFFu : (1u << c.r_bits) - 1u;
    for (uint32_t r : {0u, 1u, r_max >> 1, (r_max >> 1) + 1, r_max, ~r_max, ~r_max | 1u, 0xFFFFFFFFu}) {
      const std::vector<uint32_t> random(in.size(), r);
      std::vector<float> out(in.size());
      quantize(in, out, format, rounding, random);
      const int se = independent_step_exponent(in, format);
      for (size_t i = 0; i < in.size(); ++i) {
        const float expected = quantize_reference(in[i], format, rounding, r, se);
        ASSERT_TRUE(same_bits_or_both_nan(out[i], expected))
            << c.format << " stochastic:" << c.r_bits << " x=" << std::hexfloat << in[i] << " r=" << r
            << " fast=" << out[i] << " reference=" << expected << std::defaultfloat;
      }
    }
  }
}

// The small-block bfp kernel (FP32 arithmetic on each block's grid) against the reference, in place
// and out of place, with words given and produced by a RandomFill.
TEST_P(EveryTarget, BlockFloatSmallBlocksEqualReference) {
  std::mt19937_64 rng(2026);
  for (const char* fs : {"bfp:7:32", "bfp:7:16", "bfp:1:16", "bfp:8:32", "bfp:22:32", "bfp:24:16", "bfp:7:48"}) {
    const Format format = Format::parse(fs);
    for (const char* rs : {"nearest-even", "stochastic:8", "stochastic:16", "stochastic:1", "stochastic:7",
                           "stochastic:24", "stochastic:25"}) {
      const Rounding rounding = Rounding::parse(rs);
      for (int trial = 0; trial < 4; ++trial) {
        const BfpSpan s = make_bfp_span(format.block_mantissa_bits, format.block_size, rounding.random_bits, rng);
        const std::vector<float> expected = reference_results(s.in, s.random, format, rounding);
        std::vector<float> out(s.in.size());
        quantize(s.in, out, format, rounding, s.random, QuantizeOptions{1});
        for (size_t i = 0; i < s.in.size(); ++i) {
          ASSERT_TRUE(same_bits_or_both_nan(out[i], expected[i]))
              << fs << " " << rs << " element " << i << " x=" << std::hexfloat << s.in[i] << " r=" << s.random[i]
              << " fast=" << out[i] << " reference=" << expected[i] << std::defaultfloat;
        }
        std::vector<float> inplace = s.in;
        quantize_inplace(inplace, format, rounding, s.random);
        ASSERT_EQ(0, std::memcmp(inplace.data(), out.data(), out.size() * sizeof(float))) << fs << " " << rs;
        const RandomFill fill = [&](int64_t first, std::span<uint32_t> words) {
          std::copy_n(s.random.begin() + first, words.size(), words.begin());
        };
        std::vector<float> filled(s.in.size());
        quantize_with_source(s.in, filled, format, rounding, fill, QuantizeOptions{1});
        ASSERT_EQ(0, std::memcmp(filled.data(), out.data(), out.size() * sizeof(float))) << fs << " " << rs;
      }
    }
  }
}

// The fixed-shift float kernels (bf16, tf32 and float:8:M as one pattern add in every binade;
// fp16, e4m3, e5m2 above their normal minimum) and their saturating end (one unsigned min), against
// the reference on every target, for nearest-even and every R from 1 to 32: grid points, ties and
// the SR thresholds j/2^R of a step and one FP32 step either side, in the top binade (overflow:
// saturation, or inf/NaN with :ieee), at the normal minimum, in the subnormal range and at FP32's
// subnormals; both signs, ±0, ±inf, NaN. Words 0, 1, 2^(R-1), 2^R - 1, with the unused high bits
// set, and random ones. Spans of every length 1..37 exercise the vector loops' tails; in place too.
TEST_P(EveryTarget, FixedShiftFloatKernelsEqualReferenceForEveryR) {
  struct Case {
    const char* format;
    std::vector<std::pair<double, std::vector<double>>> grids;  // (step, grid indices) of binades
  };
  const std::vector<Case> cases = {
      {"bf16", {{0x1p-7, {128, 129, 255}}, {0x1p120, {254, 255, 256}}, {0x1p-133, {0, 1, 127, 128}}}},
      {"bf16:ieee", {{0x1p120, {254, 255, 256}}, {0x1p-133, {1, 128}}}},
      {"tf32", {{0x1p-10, {1024, 1025, 2047}}, {0x1p117, {2046, 2047, 2048}}, {0x1p-136, {1, 1023}}}},
      {"tf32:ieee", {{0x1p117, {2046, 2047, 2048}}}},
      {"float:8:0", {{1.0, {1, 2, 3}}, {0x1p127, {1, 2}}, {0x1p-126, {0, 1}}}},  // ties to the even exponent
      {"float:8:22", {{0x1p-22, {0x1p22, 0x1p22 + 1, 0x1p23 - 1}}, {0x1p-148, {0, 1, 3}}}},
      {"fp16", {{0x1p-10, {1024, 1536, 2047}}, {0x1p-24, {0, 1, 2, 1023, 1024}}, {0x1p5, {2046, 2047, 2048}}}},
      {"fp16:ieee", {{0x1p5, {2046, 2047, 2048}}, {0x1p-24, {1, 1023}}}},
      {"e4m3", {{0x1p-3, {8, 9, 15}}, {0x1p-9, {0, 1, 7, 8}}, {0x1p5, {12, 13, 14, 15, 16}}}},
      {"e4m3:ieee", {{0x1p5, {13, 14, 15}}}},
      {"e5m2", {{0x1p-2, {4, 5, 7}}, {0x1p-16, {0, 1, 3, 4}}, {0x1p13, {6, 7, 8}}}},
      {"e5m2:ieee", {{0x1p13, {6, 7, 8}}}},
  };
  std::mt19937_64 rng(1414);
  for (const Case& c : cases) {
    const Format format = Format::parse(c.format);
    for (int r_bits = 0; r_bits <= 32; ++r_bits) {  // 0: nearest-even
      const Rounding rounding = Rounding::parse(r_bits == 0 ? std::string("nearest-even") : "stochastic:" + std::to_string(r_bits));
      std::vector<float> in;
      for (const auto& [step, indices] : c.grids) {
        const std::vector<float> v = sr_edge_values(step, std::max(r_bits, 1), indices);
        in.insert(in.end(), v.begin(), v.end());
      }
      const uint32_t r_max = r_bits == 32 ? 0xFFFFFFFFu : (1u << std::max(r_bits, 1)) - 1u;
      const uint32_t word_choices[] = {0u, 1u, r_max >> 1, (r_max >> 1) + 1, r_max, ~r_max, ~r_max | 1u, 0xFFFFFFFFu};
      for (int w = 0; w < 10; ++w) {
        std::vector<uint32_t> random(in.size());
        for (auto& r : random) r = w < 8 ? word_choices[w] : static_cast<uint32_t>(rng());
        const std::vector<float> expected = reference_results(in, random, format, rounding);
        std::vector<float> out(in.size());
        quantize(in, out, format, rounding, random);
        for (size_t i = 0; i < in.size(); ++i) {
          ASSERT_TRUE(same_bits_or_both_nan(out[i], expected[i]))
              << c.format << " " << rounding.name() << " x=" << std::hexfloat << in[i] << " r=" << random[i]
              << " fast=" << out[i] << " reference=" << expected[i] << std::defaultfloat;
        }
        if (w == 9) {  // every short length, in place: the loops' remainders
          for (size_t len = 1; len <= 37 && len <= in.size(); ++len) {
            const size_t first = (len * 7) % (in.size() - len + 1);
            std::vector<float> part(in.begin() + static_cast<std::ptrdiff_t>(first),
                                    in.begin() + static_cast<std::ptrdiff_t>(first + len));
            quantize_inplace(part, format, rounding, std::span<const uint32_t>(random).subspan(first, len));
            for (size_t i = 0; i < len; ++i) {
              ASSERT_TRUE(same_bits_or_both_nan(part[i], expected[first + i]))
                  << c.format << " " << rounding.name() << " length " << len << " element " << i;
            }
          }
        }
      }
    }
  }
}

// fixed:WL:dyn out of place on spans of 2^22 elements or more reads the tensor once: each thread
// rounds its part with its running max's step and rounds again what the span's step changes
// (quantize.cpp, run_fixed_dynamic_one_read). For 1 to 3 threads, against the in-place result (two
// passes: the span's max, then the rounding) and, for fixed:8:dyn with stochastic:8, against the
// reference with the span's step, with the span's max placed where each part of the one-read path
// must run: normal data (the max's binade early), magnitudes growing along the span (every chunk
// raises the step: all re-rounded), the max alone in the last element, parts without any nonzero
// finite value (NaN; inf and zeros: copied, then rounded again) with the max only in the second of
// two parts, and a span without one (unchanged). Words given and from a RandomFill (asked again for
// re-rounded ranges: the same words).
// Each call rounds 2^22 values, and the sanitizer build runs the kernels ~5x slower (73 s for all
// 180 calls), so the sanitizer tier checks three arrangements that reach every part of the path
// (a short prefix re-rounded; all of it; a part copied then rounded) with two roundings, and the
// suite named Long (release tiers only, CMakePresets.json) all six with every format and rounding.
struct OneReadCase {
  const char* format;
  const char* rounding;
};
void check_fixed_dynamic_one_read(std::initializer_list<int> arrangements, std::initializer_list<OneReadCase> cases) {
  std::mt19937_64 rng(1415);
  const int64_t n = (int64_t{1} << 22) + 4099;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto word_of = [](int64_t i) { return static_cast<uint32_t>((static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull) >> 29); };
  std::vector<uint32_t> random(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) random[static_cast<size_t>(i)] = word_of(i);
  const RandomFill fill = [&](int64_t first, std::span<uint32_t> words) {
    for (size_t j = 0; j < words.size(); ++j) words[j] = word_of(first + static_cast<int64_t>(j));
  };
  for (const int arrangement : arrangements) {
    std::vector<float> in(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      float x = normal(rng);
      switch (arrangement) {
        case 1: x *= std::ldexp(1.0f, static_cast<int>(i * 40 / n)); break;  // growing magnitudes
        case 2: x *= 0.01f; break;                                            // the max at the end (below)
        case 3: x = i < n / 3 ? std::numeric_limits<float>::quiet_NaN() : x; break;  // a first part of NaN
        case 4: x = i < n / 2 ? (i % 2 ? 0.0f : -std::numeric_limits<float>::infinity()) : x * 1e-3f; break;
        case 5: x = i % 3 == 0 ? 0.0f : (i % 3 == 1 ? -0.0f : std::numeric_limits<float>::quiet_NaN()); break;
        default: break;
      }
      in[static_cast<size_t>(i)] = x;
    }
    if (arrangement == 2) in.back() = -1000.5f;
    if (arrangement == 4) in[static_cast<size_t>(n * 5 / 8)] = 7.0e4f;  // only in the second of two parts
    for (const auto& [fs, rs] : cases) {
      const Format format = Format::parse(fs);
      {
        const Rounding rounding = Rounding::parse(rs);
        std::vector<float> expected = in;
        quantize_inplace(expected, format, rounding, random);  // two passes
        if (std::string(fs) == "fixed:8:dyn" && std::string(rs) == "stochastic:8") {
          const std::vector<float> reference = reference_results(in, random, format, rounding);
          ASSERT_EQ(0, std::memcmp(reference.data(), expected.data(), expected.size() * sizeof(float))) << arrangement;
        }
        for (int threads = 1; threads <= 3; ++threads) {
          std::vector<float> out(in.size(), 1.0f), filled(in.size(), 1.0f);
          quantize(in, out, format, rounding, random, {.threads = threads});
          quantize_with_source(in, filled, format, rounding, fill, {.threads = threads});
          for (size_t i = 0; i < in.size(); ++i) {
            ASSERT_TRUE(same_bits_or_both_nan(out[i], expected[i]) && same_bits_or_both_nan(filled[i], expected[i]))
                << fs << " " << rs << " arrangement " << arrangement << " threads " << threads << " element " << i
                << " x=" << std::hexfloat << in[i] << " given=" << out[i] << " filled=" << filled[i]
                << " two passes=" << expected[i] << std::defaultfloat;
          }
        }
      }
    }
  }
}

TEST(QuantizeKernel, FixedDynamicOneReadEqualsReference) {
  check_fixed_dynamic_one_read({0, 1, 4}, {{"fixed:8:dyn", "stochastic:8"}, {"fixed:8:dyn", "nearest-even"}});
}

TEST(QuantizeKernelLong, FixedDynamicOneReadEqualsReferenceForEveryArrangementFormatAndRounding) {
  check_fixed_dynamic_one_read({0, 1, 2, 3, 4, 5}, {{"fixed:8:dyn", "stochastic:8"},
                                                    {"fixed:8:dyn", "nearest-even"},
                                                    {"fixed:8:dyn", "nearest-away"},
                                                    {"fixed:2:dyn", "stochastic:16"},
                                                    {"fixed:25:dyn", "nearest-even"}});
}

TEST(QuantizeKernel, ResultsDoNotDependOnThreadCount) {
  std::mt19937_64 rng(7);
  for (const char* fs : {"bf16", "e4m3", "fixed:8:dyn", "bfp:6:16", "bfp:7:32", "bfp:6:100000", "fixed:12:6"}) {
    const Format format = Format::parse(fs);
    std::vector<float> in = make_inputs(format, rng, 300000);
    std::vector<uint32_t> random(in.size());
    for (auto& r : random) r = static_cast<uint32_t>(rng());
    for (const char* rs : {"nearest-even", "stochastic:16"}) {
      const Rounding rounding = Rounding::parse(rs);
      std::vector<float> one(in.size()), many(in.size()), three(in.size());
      quantize(in, one, format, rounding, random, {.threads = 1});
      quantize(in, many, format, rounding, random, {.threads = 0});
      quantize(in, three, format, rounding, random, {.threads = 3});
      EXPECT_EQ(0, std::memcmp(one.data(), many.data(), one.size() * sizeof(float))) << fs << " " << rs;
      EXPECT_EQ(0, std::memcmp(one.data(), three.data(), one.size() * sizeof(float))) << fs << " " << rs;
    }
  }
}

TEST(QuantizeKernel, SourceFilledOnTheFlyEqualsGivenWords) {
  std::mt19937_64 rng(99);
  for (const char* fs : {"bf16", "fixed:8:dyn", "fixed:6:3", "bfp:5:7", "bfp:5:50000"}) {
    const Format format = Format::parse(fs);
    std::vector<float> in = make_inputs(format, rng, 123457);
    // Words that depend only on the index, as a counter-based source's do.
    auto word_of = [](int64_t i) { return static_cast<uint32_t>((static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull) >> 32); };
    std::vector<uint32_t> random(in.size());
    for (size_t i = 0; i < random.size(); ++i) random[i] = word_of(static_cast<int64_t>(i));
    const RandomFill fill = [&](int64_t first, std::span<uint32_t> words) {
      for (size_t j = 0; j < words.size(); ++j) words[j] = word_of(first + static_cast<int64_t>(j));
    };
    const Rounding rounding = Rounding::parse("stochastic:13");
    std::vector<float> given(in.size()), fused(in.size());
    quantize(in, given, format, rounding, random);
    quantize_with_source(in, fused, format, rounding, fill, {.threads = 2});
    EXPECT_EQ(0, std::memcmp(given.data(), fused.data(), given.size() * sizeof(float))) << fs;
  }
}

TEST(QuantizeKernel, LargeOutOfPlaceSpansEqualInPlace) {
  // From 2^22 elements out-of-place output goes through a buffer and non-temporal stores; `out`
  // starts 1 float past an alignment boundary, so head, body and tail all run.
  std::mt19937_64 rng(5);
  const size_t n = (size_t{1} << 22) + 37;
  for (const char* fs : {"e4m3", "fixed:8:dyn"}) {
    const Format format = Format::parse(fs);
    std::vector<float> in = make_inputs(format, rng, n);
    std::vector<uint32_t> random(n);
    for (auto& r : random) r = static_cast<uint32_t>(rng());
    for (const char* rs : {"nearest-even", "stochastic:16"}) {
      std::vector<float> storage(n + 1);
      std::span<float> out(storage.data() + 1, n);
      quantize(in, out, format, Rounding::parse(rs), random);
      std::vector<float> inplace = in;
      quantize_inplace(inplace, format, Rounding::parse(rs), random);
      EXPECT_EQ(0, std::memcmp(out.data(), inplace.data(), n * sizeof(float))) << fs << " " << rs;
    }
  }
}

TEST(QuantizeKernel, DynamicStepExponentMatchesDefinition) {
  const Format dyn = Format::parse("fixed:8:dyn");
  // max |x| = 3.0: e = 1, FL = 8-2-1 = 5, step exponent -5.
  const std::vector<float> x = {0.5f, -3.0f, 1.0f, std::numeric_limits<float>::infinity()};
  EXPECT_EQ(dynamic_step_exponent(x, dyn), -5);
  const Format bfp = Format::parse("bfp:4:8");
  // e = 1, step exponent e+1-M = -2.
  EXPECT_EQ(dynamic_step_exponent(x, bfp), -2);
  const std::vector<float> zeros = {0.0f, -0.0f, std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(dynamic_step_exponent(zeros, dyn), kNoScaleStepExponent);
  // Smallest subnormal: e = -149.
  const std::vector<float> tiny = {std::numeric_limits<float>::denorm_min()};
  EXPECT_EQ(dynamic_step_exponent(tiny, bfp), -149 + 1 - 4);
}

}  // namespace
}  // namespace rngfree
