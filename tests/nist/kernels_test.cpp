// Every fast kernel (word-level bit tricks) equals its reference twin (one bit per byte, the spec's
// loops) on random inputs of awkward lengths and parameters; the reference kernels themselves are
// checked against hand-worked counts from SP 800-22's examples.
#include <gtest/gtest.h>

#include <random>

#include "rngfree/nist/kernels.hpp"

namespace rngfree::nist::kernels {
namespace {

std::vector<uint8_t> random_bits(uint64_t n, uint64_t seed, double p_one = 0.5) {
  std::mt19937_64 gen(seed);
  std::bernoulli_distribution d(p_one);
  std::vector<uint8_t> e(n);
  for (auto& b : e) b = d(gen) ? 1 : 0;
  return e;
}
std::vector<uint8_t> bits_of(const std::string& s) {
  std::vector<uint8_t> e;
  for (char c : s) e.push_back(static_cast<uint8_t>(c - '0'));
  return e;
}

const uint64_t kLengths[] = {1, 2, 7, 8, 63, 64, 65, 127, 129, 1000, 1031, 4096, 10007, 65600};

TEST(NistKernels, AperiodicTemplatesAreStsCounts) {
  // STS 2.1.2 numOfTemplates: 2, 4, 6, 12, 20, 40, 74, 148, 284 for m = 2..10.
  const size_t expected[] = {2, 4, 6, 12, 20, 40, 74, 148, 284};
  for (int m = 2; m <= 10; ++m) EXPECT_EQ(aperiodic_templates(m).size(), expected[m - 2]) << m;
  const auto t9 = aperiodic_templates(9);
  EXPECT_EQ(t9.front(), 0b000000001u);
  EXPECT_EQ(t9.back(), 0b111111110u);
  EXPECT_FALSE(is_aperiodic(0b101, 3));  // border "1"
  EXPECT_TRUE(is_aperiodic(0b001, 3));
}

TEST(NistKernels, WalkTransitionsBlocksAndRunsMatchReference) {
  for (uint64_t n : kLengths) {
    for (double p1 : {0.5, 0.9, 0.1}) {
      const auto e = random_bits(n, n * 7 + static_cast<uint64_t>(p1 * 10), p1);
      const BitSequence s = BitSequence::from_bits(e);
      EXPECT_EQ(walk_extremes(s), reference::walk_extremes(e)) << n;
      EXPECT_EQ(transitions(s), reference::transitions(e)) << n;
      for (uint64_t M : {1, 3, 8, 64, 100, 128, 1000}) {
        if (M > n) continue;
        EXPECT_EQ(block_ones(s, M), reference::block_ones(e, M)) << n << " M=" << M;
        EXPECT_EQ(longest_runs(s, M), reference::longest_runs(e, M)) << n << " M=" << M;
      }
      EXPECT_EQ(excursions(s), reference::excursions(e)) << n;
    }
  }
  // Long runs spanning whole words.
  std::vector<uint8_t> e(1000, 1);
  for (int i = 300; i < 310; ++i) e[i] = 0;
  const BitSequence s = BitSequence::from_bits(e);
  EXPECT_EQ(longest_runs(s, 1000), std::vector<uint32_t>{690});
  EXPECT_EQ(longest_runs(s, 250), reference::longest_runs(e, 250));
}

TEST(NistKernels, ExcursionsOnLongWalksMatchReference) {
  // 10^6-bit walks, including a biased one that drifts far away and one that stays near 0.
  for (double p1 : {0.5, 0.501}) {
    const auto e = random_bits(1000000, 99 + static_cast<uint64_t>(p1 * 1000), p1);
    EXPECT_EQ(excursions(BitSequence::from_bits(e)), reference::excursions(e));
  }
  std::vector<uint8_t> alt(100001);
  for (size_t i = 0; i < alt.size(); ++i) alt[i] = (i / 3) % 2;
  EXPECT_EQ(excursions(BitSequence::from_bits(alt)), reference::excursions(alt));
}

TEST(NistKernels, RanksMatchReference) {
  const auto e = random_bits(40000, 5);
  const BitSequence s = BitSequence::from_bits(e);
  for (auto [r, c] : std::vector<std::pair<int, int>>{{32, 32}, {3, 3}, {5, 7}, {40, 20}, {16, 64}, {8, 33}}) {
    EXPECT_EQ(ranks(s, r, c), reference::ranks(e, r, c)) << r << "x" << c;
  }
  // Low-rank matrices: rows repeat.
  std::vector<uint8_t> rep(32 * 32 * 4);
  for (size_t i = 0; i < rep.size(); ++i) rep[i] = ((i % 32) * 7 + (i / 64) % 3) % 5 == 0;
  const BitSequence sr = BitSequence::from_bits(rep);
  EXPECT_EQ(ranks(sr, 32, 32), reference::ranks(rep, 32, 32));
  // SP 800-22 2.5.4: 01011001001010101101, 3x3 -> ranks 2 and 3.
  const auto ex = bits_of("01011001001010101101");
  EXPECT_EQ(reference::ranks(ex, 3, 3), (std::vector<int>{2, 3}));
  EXPECT_EQ(ranks(BitSequence::from_bits(ex), 3, 3), (std::vector<int>{2, 3}));
}

TEST(NistKernels, TemplateCountsMatchReferenceForAperiodicAndPeriodicTemplates) {
  for (uint64_t n : {1000u, 4099u, 20000u}) {
    const auto e = random_bits(n, n);
    const BitSequence s = BitSequence::from_bits(e);
    for (int m : {2, 3, 4, 9}) {
      std::vector<uint32_t> templates;
      for (uint32_t v = 0; v < (1u << m); ++v) templates.push_back(v);  // periodic ones too (e.g. 111, 1010)
      for (uint64_t blocks : {1u, 8u, 13u}) {
        const uint64_t M = n / blocks;
        if (M < static_cast<uint64_t>(m)) continue;
        EXPECT_EQ(template_counts(s, templates, m, M, blocks), reference::template_counts(e, templates, m, M, blocks))
            << n << " m=" << m << " N=" << blocks;
      }
    }
  }
  // SP 800-22 2.7.4: 10100100101110010110, B = 001, N = 2, M = 10 -> W = (2, 1).
  const auto ex = bits_of("10100100101110010110");
  const std::vector<uint32_t> b001 = {0b001};
  const std::vector<std::vector<uint32_t>> w = {{2, 1}};
  EXPECT_EQ(reference::template_counts(ex, b001, 3, 10, 2), w);
  EXPECT_EQ(template_counts(BitSequence::from_bits(ex), b001, 3, 10, 2), w);
  // A periodic template must jump: 11 in 1111 occurs twice non-overlapping (three times overlapping).
  const auto ones = bits_of("1111");
  const std::vector<uint32_t> b11 = {0b11};
  EXPECT_EQ(template_counts(BitSequence::from_bits(ones), b11, 2, 4, 1), std::vector<std::vector<uint32_t>>{{2}});
  EXPECT_EQ(overlapping_counts(BitSequence::from_bits(ones), 0b11, 2, 4, 1), std::vector<uint32_t>{3});
}

TEST(NistKernels, OverlappingCountsMatchReference) {
  const auto e = random_bits(50000, 11, 0.7);  // biased, so long runs of ones occur
  const BitSequence s = BitSequence::from_bits(e);
  for (int m : {1, 2, 9, 10}) {
    for (uint64_t M : {10u, 1032u, 777u}) {
      const uint64_t blocks = e.size() / M;
      const uint32_t ones = (1u << m) - 1;
      EXPECT_EQ(overlapping_counts(s, ones, m, M, blocks), reference::overlapping_counts(e, ones, m, M, blocks)) << m << " " << M;
      EXPECT_EQ(overlapping_counts(s, 0b1, m, M, blocks), reference::overlapping_counts(e, 0b1, m, M, blocks));
    }
  }
}

TEST(NistKernels, CyclicWindowCountsAndMarginalizationMatchReference) {
  for (uint64_t n : {1u, 2u, 3u, 10u, 64u, 65u, 1000u, 4097u}) {
    const auto e = random_bits(n, 3 * n + 1);
    const BitSequence s = BitSequence::from_bits(e);
    for (int m : {1, 2, 3, 5, 11, 16}) {
      const auto fast = cyclic_window_counts(s, m);
      EXPECT_EQ(fast, reference::cyclic_window_counts(e, m)) << n << " m=" << m;
      if (m > 1) {
        EXPECT_EQ(marginalize_prefix(fast), reference::cyclic_window_counts(e, m - 1)) << n << " m=" << m;
      }
    }
  }
  // SP 800-22 2.11.4: 0011011101, m = 3: v000..v111 = 0,1,1,2,1,2,2,1.
  const auto ex = bits_of("0011011101");
  EXPECT_EQ(reference::cyclic_window_counts(ex, 3), (std::vector<uint32_t>{0, 1, 1, 2, 1, 2, 2, 1}));
}

TEST(NistKernels, LinearComplexityMatchesReference) {
  // SP 800-22 2.10.4: 1101011110001 has linear complexity 4.
  const auto ex = bits_of("1101011110001");
  EXPECT_EQ(reference::linear_complexity(ex), 4);
  EXPECT_EQ(linear_complexities(BitSequence::from_bits(ex), 13, 1), std::vector<int>{4});
  // Known answers: all zeros -> 0; 0...01 (one at the end, length M) -> M; alternating -> 2.
  EXPECT_EQ(reference::linear_complexity(std::vector<uint8_t>(50, 0)), 0);
  std::vector<uint8_t> last_one(70, 0);
  last_one.back() = 1;
  EXPECT_EQ(reference::linear_complexity(last_one), 70);
  EXPECT_EQ(linear_complexities(BitSequence::from_bits(last_one), 70, 1), std::vector<int>{70});
  std::vector<uint8_t> alt(40);
  for (size_t i = 0; i < alt.size(); ++i) alt[i] = i % 2;
  EXPECT_EQ(reference::linear_complexity(alt), 2);
  // Every instruction set this CPU has (the portable build always), against the reference; 23 blocks:
  // full groups of 8 lanes and a partial one; M = 1100 needs more than 8 words per polynomial.
  int variants = 0;
  for (std::optional<SimdLevel> simd :
       {std::optional<SimdLevel>(), std::optional(SimdLevel::kPortable), std::optional(SimdLevel::kAvx2),
        std::optional(SimdLevel::kAvx512)}) {
    if (simd && *simd > simd_level_supported()) continue;
    ++variants;
    for (uint64_t M : {1u, 2u, 13u, 63u, 64u, 65u, 128u, 500u, 1000u, 1100u}) {
      const auto e = random_bits(23 * M + 5, M);
      EXPECT_EQ(linear_complexities(BitSequence::from_bits(e), M, 23, simd), reference::linear_complexities(e, M, 23))
          << "M=" << M << " simd=" << (simd ? simd_level_name(*simd) : "library level");
    }
    // Low complexity (periodic blocks) and maximal complexity (a single one at the end).
    std::vector<uint8_t> periodic(16 * 500), last(8 * 500, 0);
    for (size_t i = 0; i < periodic.size(); ++i) periodic[i] = (i % 7) < 3;
    for (size_t b = 0; b < 8; ++b) last[b * 500 + 499] = 1;
    EXPECT_EQ(linear_complexities(BitSequence::from_bits(periodic), 500, 16, simd),
              reference::linear_complexities(periodic, 500, 16));
    EXPECT_EQ(linear_complexities(BitSequence::from_bits(last), 500, 8, simd), std::vector<int>(8, 500));
  }
  EXPECT_GE(variants, 2);
}

TEST(NistKernels, UniversalSumAndDftMatchReference) {
  const auto e = random_bits(30000, 17);
  const BitSequence s = BitSequence::from_bits(e);
  for (int L : {2, 6, 7}) {
    const uint64_t Q = 10u << L, K = e.size() / L - Q;
    EXPECT_EQ(universal_log_sum(s, L, Q, K), reference::universal_log_sum(e, L, Q, K)) << L;
  }
  for (uint64_t n : {10u, 100u, 1001u, 2048u}) {
    const auto d = random_bits(n, n + 3);
    const double threshold = std::sqrt(2.995732274 * static_cast<double>(n));
    EXPECT_EQ(dft_count_below(BitSequence::from_bits(d), threshold), reference::dft_count_below(d, threshold)) << n;
  }
  // SP 800-22 2.6.4 (corrected): 1001010011, |S_j| = 0, 2, 4.472, 2, 4.472 all below T = 5.4733 -> 5.
  const auto ex = bits_of("1001010011");
  EXPECT_EQ(reference::dft_count_below(ex, std::sqrt(2.995732274 * 10)), 5u);
  EXPECT_EQ(dft_count_below(BitSequence::from_bits(ex), std::sqrt(2.995732274 * 10)), 5u);
}

}  // namespace
}  // namespace rngfree::nist::kernels
