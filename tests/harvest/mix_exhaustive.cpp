// Exhaustive tier of mix_field (harvest.hpp): for every width 25..32 and every x < 2^width,
// mix_field(x) < 2^width and unmix_field(mix_field(x)) == x — an injective map of a finite set into
// itself, hence a bijection on the field width (widths 1..24 are in mix_test.cpp, by bitmap).
// About 2^33 evaluations of each: tens of seconds on two threads.
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>

#include "rngfree/harvest/harvest.hpp"

namespace rngfree::harvest {
namespace {

TEST(MixFieldExhaustive, BijectiveOnTheFieldWidth25To32) {
  for (int width = 25; width <= 32; ++width) {
    const uint64_t size = uint64_t{1} << width;
    const uint32_t mask = static_cast<uint32_t>(size - 1);
    const FieldMixConstants k(width);
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (int64_t hi = 0; hi < static_cast<int64_t>(size >> 16); ++hi) {
      for (uint32_t lo = 0; lo < (1u << 16); ++lo) {
        const uint32_t x = static_cast<uint32_t>(hi) << 16 | lo;
        const uint32_t y = mix_field(x, k);
        bad += (y & ~mask) != 0 || unmix_field(y, k) != x;
      }
    }
    EXPECT_EQ(bad, 0) << "width " << width;
  }
}

}  // namespace
}  // namespace rngfree::harvest
