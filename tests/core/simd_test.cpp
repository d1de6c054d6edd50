// The one SIMD dispatch (rngfree/simd.hpp): names round-trip, unknown names are refused, a level
// above the CPU's is clamped, and quantize gives the same bits at every level this CPU has.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"
#include "support/errors.hpp"

namespace rngfree {
namespace {

TEST(Simd, NamesRoundTripAndUnknownNamesAreRefused) {
  for (SimdLevel level : {SimdLevel::kPortable, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    EXPECT_EQ(parse_simd_level(simd_level_name(level)), level);
  }
  EXPECT_NE(testing::error_of([] { parse_simd_level("sse9"); }).find("'sse9': unknown; allowed: avx512, avx2, portable"),
            std::string::npos);
}

TEST(Simd, LevelsAreClampedToTheCpuAndRestored) {
  const SimdLevel best = simd_level_supported();
  EXPECT_EQ(simd_level(), best);
  EXPECT_EQ(set_simd_level(SimdLevel::kPortable), SimdLevel::kPortable);
  EXPECT_EQ(simd_level(), SimdLevel::kPortable);
  EXPECT_EQ(set_simd_level(SimdLevel::kAvx512), best);  // never above what the CPU has
  EXPECT_EQ(simd_level(), best);
}

TEST(Simd, QuantizeIsBitIdenticalAtEveryLevel) {
  std::mt19937 rng(5);
  std::vector<float> in(100000);
  std::vector<uint32_t> words(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    words[i] = static_cast<uint32_t>(rng());
  }
  const Format format = Format::parse("e4m3");
  const Rounding rounding = Rounding::parse("stochastic:12");
  std::vector<float> portable(in.size()), out(in.size());
  const SimdLevel best = simd_level_supported();
  set_simd_level(SimdLevel::kPortable);
  quantize(in, portable, format, rounding, words);
  for (int level = 1; level <= static_cast<int>(best); ++level) {
    set_simd_level(static_cast<SimdLevel>(level));
    quantize(in, out, format, rounding, words);
    for (size_t i = 0; i < in.size(); ++i) {
      if (std::isnan(portable[i])) {
        ASSERT_TRUE(std::isnan(out[i])) << "element " << i;  // NaN stays NaN (its payload is not specified)
      } else {
        ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(portable[i])) << "element " << i;
      }
    }
  }
  set_simd_level(best);
}

}  // namespace
}  // namespace rngfree
