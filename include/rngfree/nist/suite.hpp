// Running SP 800-22 over K sequences (threads, progress) and the suite report of STS 2.1.2's
// finalAnalysisReport (SP 800-22 section 4.2): per P-value, the proportion of sequences passing at
// alpha with its acceptance interval p^ +- 3 sqrt(p^(1-p^)/k), and the uniformity P-value of the
// P-values over 10 bins, igamc(9/2, chi2/2) — computed exactly (real expected counts, no truncation).
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rngfree/nist/sp800_22.hpp"

namespace rngfree::nist {

struct SuiteOptions {
  std::vector<TestId> tests;  // empty: all 15
  SuiteParams params;
  int threads = 1;            // >= 1
  // Called (from any worker, serialized) after each finished sequence: (done, total).
  std::function<void(uint64_t, uint64_t)> progress;
};

// results[i] holds the TestResults of sequence i, in the order of options.tests (or all_tests()).
std::vector<std::vector<TestResult>> run_suite(std::span<const BitSequence> sequences, const SuiteOptions& options);

// One row of the report: one P-value (test, sub_test) over the sequences where it applied.
struct ProportionRow {
  TestId test = TestId::kFrequency;
  std::string sub_test;
  uint64_t sequences = 0;      // k: sequences with a P-value (not applicable ones are left out)
  uint64_t not_applicable = 0;
  uint64_t passed = 0;         // P-value >= alpha
  double proportion = 0;       // passed / k
  double lower = 0, upper = 0; // p^ -+ 3 sqrt(p^(1-p^)/k), p^ = 1 - alpha
  bool proportion_ok = false;
  std::array<uint64_t, 10> bins{};    // C1..C10: P-values in [0,0.1), ..., [0.9,1]
  std::optional<double> uniformity_p; // empty when k == 0
  bool uniformity_assessed = false;   // k >= 55 (SP 800-22 4.2.2); otherwise uniformity is not judged
  bool uniformity_ok = true;          // uniformity P >= 0.0001 (or not assessed)
  std::string not_applicable_reason;  // why, for the first sequence where it did not apply ("" if none)
  bool applicable() const { return sequences > 0; }  // judged: some sequence gave a P-value
  bool ok() const { return sequences == 0 || (proportion_ok && uniformity_ok); }
};

struct TestVerdict {
  TestId test = TestId::kFrequency;
  uint64_t rows = 0, rows_failed = 0, rows_not_applicable = 0;
  bool ok() const { return rows_failed == 0; }
};

struct SuiteReport {
  double alpha = 0.01;
  uint64_t sequences = 0;
  std::vector<ProportionRow> rows;  // in test order, sub-tests in their order
  std::vector<TestVerdict> tests;
  uint64_t rows_failed = 0;
  uint64_t rows_judged = 0;          // rows with a P-value in some sequence
  uint64_t rows_not_applicable = 0;  // rows with none (rows.size() = judged + not applicable)
  // Expected number of rows failing the proportion check by chance for an ideal generator (exact
  // binomial probability outside the interval, summed over rows), plus alpha_u * rows for uniformity.
  double expected_false_alarms = 0;
  // P(at least rows_failed failing rows by chance), Poisson with mean expected_false_alarms (rows
  // treated as independent, which the correlated template rows are not: an approximation).
  double chance_p_value = 1;
  // Some row fails so clearly that chance is ruled out on its own: its binomial tail probability (or
  // its uniformity P-value) is below 0.001 / judged rows (Bonferroni).
  bool decisive_failure = false;
  // Overall verdict: no decisive failure and no more failing rows than chance explains (P >= 0.001).
  // rows_failed == 0 is the strict STS reading; with 188 rows and 100 sequences an ideal generator
  // fails about 3.5 rows, so the strict reading rejects most good generators.
  bool ok() const { return !decisive_failure && chance_p_value >= 0.001; }
  std::string note() const;  // what a few failures mean among many P-values
};

// The proportion interval p^ +- 3 sqrt(p^(1-p^)/k), p^ = 1 - alpha.
std::pair<double, double> proportion_interval(double alpha, uint64_t k);
// Uniformity P-value of P-values binned into 10 equal bins (expected k/10 each, as a real number).
double uniformity_p_value(const std::array<uint64_t, 10>& bins);
// Bin of a P-value (0..9; P = 1 goes to bin 9).
int p_value_bin(double p);

SuiteReport summarize(const std::vector<std::vector<TestResult>>& results, double alpha = 0.01);

// Every P-value as TSV: header "sequence\ttest\tsub_test\tp_value", sequences numbered from 0,
// 17 significant digits, "NA" where the test does not apply, "-" for an empty sub-test name.
void write_p_values_tsv(std::ostream& out, const std::vector<std::vector<TestResult>>& results);

// Compact: for each P-value row, whether its proportion check passes (the atlas counts these).
struct ProportionPasses {
  uint64_t rows = 0, passed = 0, not_applicable = 0;
};
ProportionPasses proportion_passes(const SuiteReport& report);

}  // namespace rngfree::nist
