// Exhaustive tier: lfsr:W's period stepped through the whole cycle for W = 21..32 (about 2^33
// steps in all; the fast tier steps W <= 20 and checks every W algebraically).
#include <gtest/gtest.h>

#include <cstdint>

#include "rngfree/random/random_source.hpp"

namespace rngfree::random {
namespace {

TEST(LfsrExhaustive, PeriodIs2PowWMinus1ForW21To32) {
  for (int w = 21; w <= 32; ++w) {
    const uint64_t mask = lfsr_galois_mask(w);
    uint64_t s = 1, steps = 0;
    do {
      s = lfsr_step(s, mask);
      ++steps;
    } while (s != 1 && steps <= (uint64_t{1} << w));
    EXPECT_EQ(steps, (uint64_t{1} << w) - 1) << "W = " << w;
  }
}

}  // namespace
}  // namespace rngfree::random
