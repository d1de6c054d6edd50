// Invariants of sp800_22.cpp that the worked examples do not reach: the Rank test's class
// probabilities against an exhaustive enumeration of all small matrices and an independent
// row-by-row recursion in long double (tall shapes included, where 1 - p_full - p_full-1 cancels);
// the 32-bit count limits (checked on the length alone, without 2^32 bits in memory); and the
// SP 800-22 input-size rules at their boundaries, computed here from the spec's numbers.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/nist/sp800_22.hpp"

namespace rngfree::nist {
namespace {

// Exact rank distribution of a random rows x cols GF(2) matrix: all 2^(rows cols) matrices, ranked by
// plain elimination (rows as cols-bit integers).
std::vector<double> enumerated_rank_distribution(int rows, int cols) {
  const uint64_t total = uint64_t{1} << (rows * cols);
  std::vector<uint64_t> counts(std::min(rows, cols) + 1, 0);
  for (uint64_t v = 0; v < total; ++v) {
    std::vector<uint32_t> a(rows);
    for (int i = 0; i < rows; ++i) a[i] = static_cast<uint32_t>((v >> (i * cols)) & ((1u << cols) - 1));
    int rank = 0;
    for (int bit = 0; bit < cols; ++bit) {
      int pivot = -1;
      for (int i = rank; i < rows; ++i)
        if ((a[i] >> bit) & 1) pivot = i;
      if (pivot < 0) continue;
      std::swap(a[rank], a[pivot]);
      for (int i = 0; i < rows; ++i)
        if (i != rank && ((a[i] >> bit) & 1)) a[i] ^= a[rank];
      ++rank;
    }
    ++counts[rank];
  }
  std::vector<double> p;
  for (uint64_t c : counts) p.push_back(static_cast<double>(c) / static_cast<double>(total));
  return p;
}

// The same distribution by adding rows one at a time: a new row keeps rank r with probability
// 2^(r - cols) (it lies in the row space) and raises r - 1 to r otherwise. All terms are positive.
std::vector<long double> recursive_rank_distribution(int rows, int cols) {
  std::vector<long double> p(std::min(rows, cols) + 1, 0.0L);
  p[0] = 1;
  for (int m = 1; m <= rows; ++m) {
    for (int r = std::min(m, cols); r >= 0; --r) {
      const long double stay = p[r] * std::pow(2.0L, r - cols);
      const long double rise = r > 0 ? p[r - 1] * (1 - std::pow(2.0L, r - 1 - cols)) : 0.0L;
      if (r < static_cast<int>(p.size())) p[r] = stay + rise;
    }
  }
  return p;
}

TEST(NistRank, ClassProbabilitiesMatchEnumerationOfAllSmallMatrices) {
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{2, 2}, {3, 3}, {4, 4}, {5, 3}, {3, 5}, {6, 2}, {2, 6}, {5, 4}}) {
    const std::vector<double> exact = enumerated_rank_distribution(rows, cols);
    const int full = std::min(rows, cols);
    double rest = 0;
    for (int r = 0; r <= full - 2; ++r) rest += exact[r];
    const auto pi = rank_class_probabilities(rows, cols);
    EXPECT_NEAR(pi[0], exact[full], 1e-15) << rows << "x" << cols;
    EXPECT_NEAR(pi[1], exact[full - 1], 1e-15) << rows << "x" << cols;
    EXPECT_NEAR(pi[2], rest, 1e-15 * rest) << rows << "x" << cols;
  }
}

TEST(NistRank, LowerClassIsAccurateForTallMatrices) {
  // SP 800-22's 32 x 32 values (section 3.5): 0.2888, 0.5776, 0.1336.
  const auto square = rank_class_probabilities(32, 32);
  EXPECT_NEAR(square[0], 0.2888, 5e-5);
  EXPECT_NEAR(square[1], 0.5776, 5e-5);
  EXPECT_NEAR(square[2], 0.1336, 5e-5);
  // For tall shapes the lower class is 2^-100 and below: 1 - (p_full + p_full-1) gives 0 or rounding noise.
  for (auto [rows, cols] : std::vector<std::pair<int, int>>{{32, 32}, {40, 32}, {64, 8}, {200, 4}, {1024, 3}, {1024, 2}}) {
    const std::vector<long double> exact = recursive_rank_distribution(rows, cols);
    const int full = std::min(rows, cols);
    long double rest = 0;
    for (int r = 0; r <= full - 2; ++r) rest += exact[r];
    const auto pi = rank_class_probabilities(rows, cols);
    EXPECT_NEAR(pi[0], static_cast<double>(exact[full]), 1e-14) << rows << "x" << cols;
    EXPECT_NEAR(pi[1], static_cast<double>(exact[full - 1]), 1e-14 * static_cast<double>(exact[full - 1]) + 1e-300)
        << rows << "x" << cols;
    if (rest > 1e-300L) {
      EXPECT_NEAR(pi[2], static_cast<double>(rest), 1e-13 * static_cast<double>(rest)) << rows << "x" << cols;
    } else {
      EXPECT_LE(pi[2], 1e-300) << rows << "x" << cols;  // below double's normal range: 0 or subnormal
    }
  }
  EXPECT_THROW(rank_class_probabilities(1, 32), Error);
  EXPECT_THROW(rank_class_probabilities(32, 65), Error);
}

TEST(NistRank, TallMatricesGiveAFinitePValue) {
  std::mt19937_64 gen(5);
  std::vector<uint64_t> w(1 << 14);
  for (auto& x : w) x = gen();
  const BitSequence s = BitSequence::from_words(w, 64 * w.size());
  for (RankParams p : {RankParams{64, 8}, RankParams{200, 4}, RankParams{1024, 2}}) {
    const TestResult r = rank(s, p);
    ASSERT_TRUE(r.applicable);
    ASSERT_TRUE(r.p_values[0].p_value.has_value());
    EXPECT_TRUE(std::isfinite(*r.p_values[0].p_value)) << p.rows << "x" << p.cols;
    EXPECT_GE(*r.p_values[0].p_value, 0.0);
    EXPECT_LE(*r.p_values[0].p_value, 1.0);
    EXPECT_EQ(r.statistic("F_rest"), 0.0);  // rank <= Q - 2 has probability below 2^-100
  }
}

std::string error_of(TestId id, uint64_t n, const SuiteParams& p = {}) {
  try {
    check_supported_length(id, n, p);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(NistLimits, CountsPast32BitsAreRefusedByLength) {
  const uint64_t two32 = uint64_t{1} << 32;
  EXPECT_EQ(kMaxCount, 4294967295u);
  // Serial and ApproximateEntropy count windows per value: up to n.
  for (TestId id : {TestId::kSerial, TestId::kApproximateEntropy}) {
    EXPECT_EQ(error_of(id, two32 - 1), "") << test_name(id);
    const std::string e = error_of(id, two32);
    EXPECT_NE(e.find(std::string(test_name(id)) + ": n = 4294967296 bits"), std::string::npos) << e;
    EXPECT_NE(e.find("4294967295"), std::string::npos) << e;
  }
  // Block counts: up to the block length M.
  SuiteParams p;
  p.block_frequency.block_length = two32;
  EXPECT_EQ(error_of(TestId::kBlockFrequency, two32 - 1, p), "");  // no complete block: nothing counted
  EXPECT_NE(error_of(TestId::kBlockFrequency, two32, p).find("block length M = 4294967296"), std::string::npos);
  p.overlapping_template.block_length = two32;
  EXPECT_NE(error_of(TestId::kOverlappingTemplate, 3 * two32, p).find("block length M = 4294967296"), std::string::npos);
  p.non_overlapping_template.blocks = 1;
  EXPECT_EQ(error_of(TestId::kNonOverlappingTemplate, two32 - 1, p), "");
  EXPECT_NE(error_of(TestId::kNonOverlappingTemplate, two32, p).find("N = 1"), std::string::npos);
  p.non_overlapping_template.blocks = 8;  // STS's N: M = n/8
  EXPECT_EQ(error_of(TestId::kNonOverlappingTemplate, 8 * (two32 - 1), p), "");
  EXPECT_NE(error_of(TestId::kFft, uint64_t{1} << 31).find("2^31"), std::string::npos);
  // 64-bit counts, or blocks bounded by the parameter checks: no limit.
  for (TestId id : {TestId::kFrequency, TestId::kCumulativeSums, TestId::kRuns, TestId::kLongestRun, TestId::kRank,
                    TestId::kUniversal, TestId::kRandomExcursions, TestId::kRandomExcursionsVariant,
                    TestId::kLinearComplexity}) {
    EXPECT_EQ(error_of(id, uint64_t{1} << 40), "") << test_name(id);
  }
  // The tests check it first: a short sequence passes, and the shared window counts check too.
  const BitSequence s = BitSequence::from_ascii("0110100110010110");
  EXPECT_NO_THROW(serial(s, {3}));
}

}  // namespace
}  // namespace rngfree::nist
