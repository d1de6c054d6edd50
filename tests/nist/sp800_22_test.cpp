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
#include "rngfree/nist/suite.hpp"

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

TEST(NistSizeRules, BoundariesFromSp80022) {
  const SuiteParams defaults;
  auto ok = [&](TestId id, uint64_t n, const SuiteParams& p) { return !size_recommendation_unmet(id, n, p).has_value(); };
  // STS 2.1.2's defaults at n = 10^6 (the reference data) meet every rule.
  for (TestId id : all_tests()) EXPECT_TRUE(ok(id, 1000000, defaults)) << test_name(id) << ": " << *size_recommendation_unmet(id, 1000000, defaults);
  for (TestId id : {TestId::kFrequency, TestId::kRuns, TestId::kCumulativeSums, TestId::kBlockFrequency}) {
    EXPECT_FALSE(ok(id, 99, defaults)) << test_name(id);
    EXPECT_TRUE(ok(id, 128, defaults)) << test_name(id);
  }
  EXPECT_FALSE(ok(TestId::kFft, 999, defaults));
  EXPECT_TRUE(ok(TestId::kFft, 1000, defaults));
  EXPECT_FALSE(ok(TestId::kRank, 38 * 1024 - 1, defaults));  // N >= 38 matrices of 32 x 32
  EXPECT_TRUE(ok(TestId::kRank, 38 * 1024, defaults));
  EXPECT_TRUE(ok(TestId::kLongestRun, 128, defaults));  // automatic M = 8
  SuiteParams lr;
  lr.longest_run.block_length = 10000;
  EXPECT_FALSE(ok(TestId::kLongestRun, 749999, lr));
  EXPECT_TRUE(ok(TestId::kLongestRun, 750000, lr));
  // NonOverlappingTemplate, m = 9, N = 8: (M - 8) / 512 >= 5 needs M >= 2568, n >= 8 * 2568.
  EXPECT_FALSE(ok(TestId::kNonOverlappingTemplate, 8 * 2568 - 1, defaults));
  EXPECT_TRUE(ok(TestId::kNonOverlappingTemplate, 8 * 2568, defaults));
  EXPECT_NE(size_recommendation_unmet(TestId::kNonOverlappingTemplate, 800, defaults)->find("< 5"), std::string::npos);
  SuiteParams many;
  many.non_overlapping_template.blocks = 101;
  EXPECT_FALSE(ok(TestId::kNonOverlappingTemplate, 100000000, many));
  // OverlappingTemplate, M = 1032: N min(pi) > 5. STS's pi (SP 800-22 2.8.4 / 3.8): min 0.069935, so
  // N >= 72; Hamano-Kaneko's (corrected): min 0.070432, so N >= 71.
  EXPECT_FALSE(ok(TestId::kOverlappingTemplate, 72 * 1032 - 1, defaults));
  EXPECT_TRUE(ok(TestId::kOverlappingTemplate, 72 * 1032, defaults));
  SuiteParams corrected;
  corrected.set_profile(Profile::kCorrected);
  EXPECT_FALSE(ok(TestId::kOverlappingTemplate, 71 * 1032 - 1, corrected));
  EXPECT_TRUE(ok(TestId::kOverlappingTemplate, 71 * 1032, corrected));
  // Serial m = 16 < floor(log2 n) - 2 needs n >= 2^19; ApproximateEntropy m = 10 < floor(log2 n) - 5, 2^16.
  EXPECT_FALSE(ok(TestId::kSerial, (1 << 19) - 1, defaults));
  EXPECT_TRUE(ok(TestId::kSerial, 1 << 19, defaults));
  EXPECT_FALSE(ok(TestId::kApproximateEntropy, (1 << 16) - 1, defaults));
  EXPECT_TRUE(ok(TestId::kApproximateEntropy, 1 << 16, defaults));
  // LinearComplexity: N >= 200 blocks of M = 500, and 500 <= M <= 5000.
  EXPECT_FALSE(ok(TestId::kLinearComplexity, 200 * 500 - 1, defaults));
  EXPECT_TRUE(ok(TestId::kLinearComplexity, 200 * 500, defaults));
  SuiteParams lc;
  lc.linear_complexity.block_length = 13;
  EXPECT_FALSE(ok(TestId::kLinearComplexity, 1000000, lc));
  // Universal with a fixed L = 6: Q = 640 and K >= 64000 blocks, n >= 6 * 64640.
  SuiteParams u;
  u.universal.block_length = 6;
  EXPECT_FALSE(ok(TestId::kUniversal, 6 * 64640 - 1, u));
  EXPECT_TRUE(ok(TestId::kUniversal, 6 * 64640, u));
}

TEST(NistSizeRules, RunTestMarksTheTestNotApplicableAndCanBeSwitchedOff) {
  std::mt19937_64 gen(1);
  std::vector<uint64_t> w(13);
  for (auto& x : w) x = gen();
  const BitSequence s = BitSequence::from_words(w, 800);
  SuiteParams p;
  const TestResult r = run_test(TestId::kNonOverlappingTemplate, s, p);
  EXPECT_FALSE(r.applicable);
  EXPECT_NE(r.not_applicable_reason.find("mean count per block"), std::string::npos) << r.not_applicable_reason;
  ASSERT_EQ(r.p_values.size(), 148u);
  for (const PValue& v : r.p_values) EXPECT_FALSE(v.p_value.has_value());
  EXPECT_TRUE(r.statistic("lambda").has_value());  // what was computed stays visible
  p.apply_size_recommendations = false;  // STS 2.1.2's behaviour: the P-values of the test function
  const TestResult sts = run_test(TestId::kNonOverlappingTemplate, s, p);
  const TestResult direct = non_overlapping_template(s);
  ASSERT_TRUE(sts.applicable);
  for (size_t i = 0; i < 148; ++i) EXPECT_EQ(sts.p_values[i].p_value, direct.p_values[i].p_value);
  // The summary leaves such rows out of the judged rows and keeps the reason.
  std::vector<std::vector<TestResult>> results(1);
  for (TestId id : all_tests()) results[0].push_back(run_test(id, s));
  const SuiteReport rep = summarize(results);
  EXPECT_EQ(rep.rows.size(), 188u);
  EXPECT_EQ(rep.rows_judged, 6u);  // Frequency, BlockFrequency, CumulativeSums x2, Runs, LongestRun
  EXPECT_EQ(rep.rows_not_applicable, 182u);
  for (const ProportionRow& row : rep.rows) {
    if (row.test == TestId::kNonOverlappingTemplate) {
      EXPECT_FALSE(row.applicable());
      EXPECT_TRUE(row.ok());
      EXPECT_EQ(row.not_applicable_reason, r.not_applicable_reason);
    }
  }
}

// Regression (fuzz/nist_ascii.cpp): 0110 repeated, 190 bits, walks between -1 and +1, so z = 1 both
// ways; P(max |S_k| >= 1) = 1 exactly (|S_1| = 1), but the series summed to 1 + 1.3e-15.
TEST(NistCumulativeSums, PValueNeverExceedsOne) {
  std::string bits;
  while (bits.size() < 190) bits += "0110";
  bits.resize(190);
  const TestResult r = cumulative_sums(BitSequence::from_ascii(bits));
  ASSERT_EQ(r.p_values.size(), 2u);
  for (const PValue& p : r.p_values) {
    ASSERT_TRUE(p.p_value.has_value()) << p.sub_test;
    EXPECT_EQ(*p.p_value, 1.0) << p.sub_test;
  }
}

}  // namespace
}  // namespace rngfree::nist
