// Long equivalence runs (label "exhaustive"): every fast kernel against its reference twin on many
// random inputs, lengths and parameters, including biased inputs and 10^6-bit sequences, and every
// SIMD variant of linear complexity the CPU has.
#include <gtest/gtest.h>

#include <random>

#include "rngfree/nist/kernels.hpp"

namespace rngfree::nist::kernels {
namespace {

std::vector<uint8_t> random_bits(uint64_t n, std::mt19937_64& gen, double p_one) {
  std::bernoulli_distribution d(p_one);
  std::vector<uint8_t> e(n);
  for (auto& b : e) b = d(gen) ? 1 : 0;
  return e;
}

TEST(NistKernelsExhaustive, RandomLengthsAndParameters) {
  std::mt19937_64 gen(2024);
  for (int trial = 0; trial < 300; ++trial) {
    const uint64_t n = 1 + gen() % 50000;
    const double p1 = (trial % 3 == 0) ? 0.5 : 0.05 + 0.9 * static_cast<double>(gen() % 1000) / 1000.0;
    const auto e = random_bits(n, gen, p1);
    const BitSequence s = BitSequence::from_bits(e);
    SCOPED_TRACE("trial " + std::to_string(trial) + " n=" + std::to_string(n));
    ASSERT_EQ(walk_extremes(s), reference::walk_extremes(e));
    ASSERT_EQ(transitions(s), reference::transitions(e));
    ASSERT_EQ(excursions(s), reference::excursions(e));
    const uint64_t M = 1 + gen() % std::min<uint64_t>(n, 20000);
    ASSERT_EQ(block_ones(s, M), reference::block_ones(e, M));
    ASSERT_EQ(longest_runs(s, M), reference::longest_runs(e, M));
    const int rows = 2 + static_cast<int>(gen() % 40), cols = 2 + static_cast<int>(gen() % 63);
    ASSERT_EQ(ranks(s, rows, cols), reference::ranks(e, rows, cols));
    const int m = 1 + static_cast<int>(gen() % 16);
    ASSERT_EQ(cyclic_window_counts(s, m), reference::cyclic_window_counts(e, m));
    const int tm = 2 + static_cast<int>(gen() % 9);
    const uint64_t blocks = 1 + gen() % 10;
    if (n / blocks >= static_cast<uint64_t>(tm)) {
      std::vector<uint32_t> templates;
      for (int k = 0; k < 20; ++k) templates.push_back(static_cast<uint32_t>(gen() % (1u << tm)));
      ASSERT_EQ(template_counts(s, templates, tm, n / blocks, blocks), reference::template_counts(e, templates, tm, n / blocks, blocks));
      ASSERT_EQ(overlapping_counts(s, templates[0], tm, n / blocks, blocks),
                reference::overlapping_counts(e, templates[0], tm, n / blocks, blocks));
    }
    const uint64_t lm = 1 + gen() % 1500;
    if (n / lm >= 1) {
      for (SimdLevel level : {SimdLevel::kPortable, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
        if (level > simd_level_supported()) continue;
        ASSERT_EQ(linear_complexities(s, lm, n / lm, level), reference::linear_complexities(e, lm, n / lm)) << lm;
      }
    }
  }
}

TEST(NistKernelsExhaustive, MillionBitSequences) {
  std::mt19937_64 gen(7);
  for (int trial = 0; trial < 8; ++trial) {
    const auto e = random_bits(1000000, gen, trial < 4 ? 0.5 : 0.4995);
    const BitSequence s = BitSequence::from_bits(e);
    EXPECT_EQ(excursions(s), reference::excursions(e));
    EXPECT_EQ(walk_extremes(s), reference::walk_extremes(e));
    EXPECT_EQ(linear_complexities(s, 500, 2000), reference::linear_complexities(e, 500, 2000));
    const auto t9 = aperiodic_templates(9);
    EXPECT_EQ(template_counts(s, t9, 9, 125000, 8), reference::template_counts(e, t9, 9, 125000, 8));
    EXPECT_EQ(cyclic_window_counts(s, 16), reference::cyclic_window_counts(e, 16));
    EXPECT_EQ(ranks(s, 32, 32), reference::ranks(e, 32, 32));
  }
}

}  // namespace
}  // namespace rngfree::nist::kernels
