// The suite report against hand-computed numbers (proportion interval, uniformity P-value with a
// real expected count, binning, false-alarm expectation), the runner (threads give identical
// results), not-applicable cases and parameter errors.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "rngfree/error.hpp"
#include "rngfree/nist/suite.hpp"

namespace rngfree::nist {
namespace {

TEST(NistReport, ProportionIntervalIsNotTruncated) {
  // p^ = 0.99, k = 100: 3 sqrt(0.99 * 0.01 / 100) = 0.0298496231131986...
  const auto [lo, hi] = proportion_interval(0.01, 100);
  EXPECT_NEAR(lo, 0.9601503768868014, 1e-15);
  EXPECT_NEAR(hi, 1.0198496231131986, 1e-15);
  // k = 1000: 3 sqrt(9.9e-6) = 0.00943927963...
  const auto [lo2, hi2] = proportion_interval(0.01, 1000);
  EXPECT_NEAR(lo2, 0.99 - 0.0094392796335313, 1e-15);
  EXPECT_NEAR(hi2, 0.99 + 0.0094392796335313, 1e-15);
}

TEST(NistReport, UniformityUsesRealExpectedCounts) {
  EXPECT_DOUBLE_EQ(uniformity_p_value({10, 10, 10, 10, 10, 10, 10, 10, 10, 10}), 1.0);
  // chi2 = (10^2 + 10^2) / 10 = 20: Q(9/2, 10) = erfc(sqrt 10) + e^-10 sum_{i<4} 10^(i+1/2)/Gamma(i+3/2).
  auto q45 = [](double x) {
    double s = std::erfc(std::sqrt(x));
    for (int i = 0; i < 4; ++i) s += std::exp(-x + (i + 0.5) * std::log(x) - std::lgamma(i + 1.5));
    return s;
  };
  EXPECT_NEAR(uniformity_p_value({20, 0, 10, 10, 10, 10, 10, 10, 10, 10}), q45(10.0), 1e-14);
  // k = 15, expected 1.5 per bin (STS would use 1): chi2 = 10 * 0.25 / 1.5 = 5/3.
  EXPECT_NEAR(uniformity_p_value({2, 2, 2, 2, 2, 1, 1, 1, 1, 1}), q45(5.0 / 6.0), 1e-14);
  EXPECT_EQ(p_value_bin(0.0), 0);
  EXPECT_EQ(p_value_bin(0.0999), 0);
  EXPECT_EQ(p_value_bin(0.1), 1);
  EXPECT_EQ(p_value_bin(0.95), 9);
  EXPECT_EQ(p_value_bin(1.0), 9);
}

std::vector<std::vector<TestResult>> synthetic(int k) {
  // Sequence i: Frequency P = (i + 0.5) / k (uniform), CumulativeSums forward 0.005 for i < 3 else 0.5,
  // RandomExcursions x=+1 not applicable for odd i.
  std::vector<std::vector<TestResult>> out(k);
  for (int i = 0; i < k; ++i) {
    TestResult f;
    f.test = TestId::kFrequency;
    f.p_values = {{"n=100", (i + 0.5) / k}};
    TestResult c;
    c.test = TestId::kCumulativeSums;
    c.p_values = {{"forward", i < 3 ? 0.005 : 0.5}, {"reverse", 0.5}};
    TestResult e;
    e.test = TestId::kRandomExcursions;
    e.p_values = {{"x=+1", i % 2 ? std::optional<double>() : std::optional<double>(0.55)}};
    out[i] = {f, c, e};
  }
  return out;
}

TEST(NistReport, SummaryCountsPassesBinsAndVerdicts) {
  const SuiteReport rep = summarize(synthetic(100));
  ASSERT_EQ(rep.rows.size(), 4u);
  const ProportionRow& f = rep.rows[0];
  EXPECT_EQ(f.test, TestId::kFrequency);
  EXPECT_EQ(f.sequences, 100u);
  EXPECT_EQ(f.passed, 99u);  // only P = 0.005 is below 0.01
  EXPECT_TRUE(f.proportion_ok);
  for (uint64_t b : f.bins) EXPECT_EQ(b, 10u);
  EXPECT_DOUBLE_EQ(*f.uniformity_p, 1.0);
  const ProportionRow& fwd = rep.rows[1];
  EXPECT_EQ(fwd.sub_test, "forward");
  EXPECT_EQ(fwd.passed, 97u);
  EXPECT_TRUE(fwd.proportion_ok);   // 0.97 >= 0.96015
  EXPECT_FALSE(fwd.uniformity_ok);  // 3 in bin 0, 97 in bin 5
  const ProportionRow& ex = rep.rows[3];
  EXPECT_EQ(ex.sequences, 50u);
  EXPECT_EQ(ex.not_applicable, 50u);
  EXPECT_FALSE(ex.uniformity_assessed);  // 50 < 55 sequences
  ASSERT_EQ(rep.tests.size(), 3u);
  EXPECT_TRUE(rep.tests[0].ok());
  EXPECT_FALSE(rep.tests[1].ok());
  EXPECT_FALSE(rep.rows[2].uniformity_ok);  // reverse: all P = 0.5, one bin
  EXPECT_EQ(rep.tests[1].rows_failed, 2u);
  EXPECT_EQ(rep.rows_failed, 2u);
  EXPECT_FALSE(rep.ok());
  const ProportionPasses pp = proportion_passes(rep);
  EXPECT_EQ(pp.rows, 4u);
  EXPECT_EQ(pp.passed, 4u);
  // Expected false alarms: for k = 100, the interval [0.96015, 1.01985] fails iff passes <= 96:
  // P(Bin(100, 0.99) <= 96), by direct products here; k = 50: interval [0.94779, 1.03221] fails iff <= 47.
  auto binom_cdf = [](int k, int upto) {
    long double s = 0;
    for (int x = 0; x <= upto; ++x) {
      long double c = 1;
      for (int j = 1; j <= x; ++j) c = c * (k - x + j) / j;
      s += c * std::pow(0.99L, x) * std::pow(0.01L, k - x);
    }
    return static_cast<double>(s);
  };
  const double expected = 3 * binom_cdf(100, 96) + binom_cdf(50, 47) + 3 * 0.0001;
  EXPECT_NEAR(rep.expected_false_alarms, expected, 1e-12);
}

TEST(NistReport, TsvHasTheContractedColumnsAndNa) {
  std::ostringstream out;
  write_p_values_tsv(out, synthetic(2));
  EXPECT_EQ(out.str(),
            "sequence\ttest\tsub_test\tp_value\n"
            "0\tFrequency\tn=100\t0.25\n"
            "0\tCumulativeSums\tforward\t0.0050000000000000001\n"
            "0\tCumulativeSums\treverse\t0.5\n"
            "0\tRandomExcursions\tx=+1\t0.55000000000000004\n"
            "1\tFrequency\tn=100\t0.75\n"
            "1\tCumulativeSums\tforward\t0.0050000000000000001\n"
            "1\tCumulativeSums\treverse\t0.5\n"
            "1\tRandomExcursions\tx=+1\tNA\n");
}

TEST(NistReport, OverallVerdictAllowsChanceFailuresButNotDecisiveOnes) {
  // 100 sequences, 10 single-valued rows with uniform P-values (i + 0.5)/100: 99 pass each.
  auto make = [](uint64_t failing_passes) {
    std::vector<std::vector<TestResult>> out(100);
    for (int i = 0; i < 100; ++i) {
      for (int t = 0; t < 10; ++t) {
        TestResult r;
        r.test = static_cast<TestId>(t);
        double p = (i + 0.5) / 100;
        // Row 0: the first 100 - failing_passes sequences get P = 0.001 .. (below alpha).
        if (t == 0 && static_cast<uint64_t>(i) < 100 - failing_passes) p = 0.001 + 0.0001 * i;
        r.p_values = {{"", p}};
        out[i].push_back(r);
      }
    }
    return out;
  };
  // 96 of 100: outside [0.96015, 1.0198]; P(Bin(100, 0.99) <= 96) = 0.01837 (exact sum: 0.018374036444649640).
  const SuiteReport marginal = summarize(make(96));
  EXPECT_EQ(marginal.rows_failed, 1u);
  EXPECT_FALSE(marginal.decisive_failure);  // 0.0184 > 0.001 / 10
  EXPECT_NEAR(marginal.expected_false_alarms, 10 * 0.018374036444649640 + 10 * 0.0001, 1e-12);
  // P(Poisson(mu) >= 1) = 1 - e^-mu.
  EXPECT_NEAR(marginal.chance_p_value, 1 - std::exp(-marginal.expected_false_alarms), 1e-12);
  EXPECT_TRUE(marginal.ok());
  // 80 of 100 passing cannot happen by chance: decisive.
  const SuiteReport bad = summarize(make(80));
  EXPECT_EQ(bad.rows_failed, 1u);
  EXPECT_TRUE(bad.decisive_failure);
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(summarize(make(99)).ok());
}

TEST(NistSuite, ThreadsGiveIdenticalResultsAndProgressIsReported) {
  std::mt19937_64 gen(7);
  std::vector<BitSequence> seqs;
  for (int i = 0; i < 6; ++i) {
    std::vector<uint64_t> w(20000 / 64 + 1);
    for (auto& x : w) x = gen();
    seqs.push_back(BitSequence::from_words(w, 20000));
  }
  SuiteOptions one;
  uint64_t calls = 0;
  one.progress = [&](uint64_t done, uint64_t total) {
    ++calls;
    EXPECT_EQ(total, 6u);
    EXPECT_LE(done, total);
  };
  const auto r1 = run_suite(seqs, one);
  EXPECT_EQ(calls, 6u);
  SuiteOptions three;
  three.threads = 3;
  const auto r3 = run_suite(seqs, three);
  ASSERT_EQ(r1.size(), r3.size());
  for (size_t i = 0; i < r1.size(); ++i) {
    ASSERT_EQ(r1[i].size(), 15u);
    for (size_t t = 0; t < r1[i].size(); ++t) {
      ASSERT_EQ(r1[i][t].p_values.size(), r3[i][t].p_values.size());
      for (size_t j = 0; j < r1[i][t].p_values.size(); ++j) EXPECT_EQ(r1[i][t].p_values[j].p_value, r3[i][t].p_values[j].p_value);
    }
  }
  SuiteOptions bad;
  bad.threads = 0;
  EXPECT_THROW(run_suite(seqs, bad), Error);
}

TEST(NistSuite, SharedWindowCountsGiveIdenticalSerialAndApproximateEntropy) {
  std::mt19937_64 gen(11);
  std::vector<uint64_t> w(50000 / 64 + 1);
  for (auto& x : w) x = gen();
  const BitSequence s = BitSequence::from_words(w, 50001 - 64);
  for (auto [ms, ma] : std::vector<std::pair<int, int>>{{16, 10}, {5, 10}, {12, 11}, {3, 2}}) {
    SuiteOptions opt;
    opt.tests = {TestId::kApproximateEntropy, TestId::kSerial};
    opt.params.serial.block_length = ms;
    opt.params.approximate_entropy.block_length = ma;
    opt.params.apply_size_recommendations = false;  // m = 16 needs 2^19 bits; this compares counts, not rules
    const auto shared = run_suite(std::span(&s, 1), opt);
    const TestResult apen = approximate_entropy(s, {ma});
    const TestResult ser = serial(s, {ms});
    ASSERT_EQ(shared[0].size(), 2u);
    EXPECT_EQ(shared[0][0].p_values[0].p_value, apen.p_values[0].p_value) << ms << " " << ma;
    EXPECT_EQ(shared[0][1].p_values[0].p_value, ser.p_values[0].p_value) << ms << " " << ma;
    EXPECT_EQ(shared[0][1].p_values[1].p_value, ser.p_values[1].p_value) << ms << " " << ma;
  }
}

TEST(NistSuite, NotApplicableWhereStsGivesNoPValue) {
  std::mt19937_64 gen(3);
  std::vector<uint64_t> w(400000 / 64 + 1);
  for (auto& x : w) x = gen();
  const BitSequence s = BitSequence::from_words(w, 387839);
  const TestResult u = universal(s);
  EXPECT_FALSE(u.applicable);
  EXPECT_NE(u.not_applicable_reason.find("387,840"), std::string::npos);
  ASSERT_EQ(u.p_values.size(), 1u);
  EXPECT_FALSE(u.p_values[0].p_value.has_value());
  EXPECT_TRUE(universal(BitSequence::from_words(w, 387840)).applicable);
  // 20,000 random bits: J is about sqrt(n) ~ 100 < 500 cycles.
  const BitSequence small = s.slice(0, 20000);
  for (const TestResult& r : {random_excursions(small), random_excursions_variant(small)}) {
    EXPECT_FALSE(r.applicable);
    EXPECT_EQ(r.p_values.size(), r.test == TestId::kRandomExcursions ? 8u : 18u);
    for (const PValue& p : r.p_values) EXPECT_FALSE(p.p_value.has_value());
  }
  EXPECT_FALSE(rank(s.slice(0, 1023)).applicable);
  EXPECT_TRUE(rank(s.slice(0, 1024)).applicable);
  EXPECT_FALSE(longest_run(s.slice(0, 127)).applicable);
  EXPECT_FALSE(linear_complexity(s.slice(0, 499)).applicable);
  // The Runs prerequisite is a failure, not a lack of data: P = 0 with a warning, as in STS.
  const TestResult ones = runs(BitSequence::from_ascii(std::string(200, '1')));
  EXPECT_TRUE(ones.applicable);
  EXPECT_EQ(ones.p_values[0].p_value, 0.0);
  EXPECT_FALSE(ones.warnings.empty());
}

TEST(NistSuite, ParameterErrorsNameTheParameter) {
  const BitSequence s = BitSequence::from_ascii("0101010101");
  EXPECT_THROW(block_frequency(s, {0}), Error);
  EXPECT_THROW(longest_run(s, {Profile::kSts212, 100}), Error);
  EXPECT_THROW(serial(s, {30}), Error);
  EXPECT_THROW(universal(s, {17, 0}), Error);
  EXPECT_THROW(parse_profile("nist"), Error);
  EXPECT_EQ(parse_profile("corrected"), Profile::kCorrected);
  EXPECT_EQ(parse_test_name("FFT"), TestId::kFft);
  EXPECT_EQ(parse_test_name("15"), TestId::kLinearComplexity);
  try {
    parse_test_name("Monobit");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Monobit"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("LinearComplexity"), std::string::npos);
  }
}

}  // namespace
}  // namespace rngfree::nist
