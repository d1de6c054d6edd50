// Suite runner (worker threads over sequences) and the finalAnalysisReport-style summary of
// SP 800-22 section 4.2, with real-valued expected bin counts and untruncated proportion bounds.
#include "rngfree/nist/suite.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <map>
#include <ostream>
#include <mutex>
#include <thread>
#include <tuple>

#include <cstdio>
#include "rngfree/error.hpp"
#include "rngfree/nist/special.hpp"

namespace rngfree::nist {

std::vector<std::vector<TestResult>> run_suite(std::span<const BitSequence> sequences, const SuiteOptions& options) {
  if (options.threads < 1) throw Error("--threads = " + std::to_string(options.threads) + " (allowed: >= 1)");
  std::vector<TestId> tests = options.tests;
  if (tests.empty()) tests.assign(all_tests().begin(), all_tests().end());
  // Serial and ApproximateEntropy both count cyclic windows: when both run (with valid block
  // lengths), count once per sequence for the larger m and let the other marginalize.
  int shared_m = 0;
  {
    const bool has_serial = std::find(tests.begin(), tests.end(), TestId::kSerial) != tests.end();
    const bool has_apen = std::find(tests.begin(), tests.end(), TestId::kApproximateEntropy) != tests.end();
    const int ms = options.params.serial.block_length, ma = options.params.approximate_entropy.block_length;
    if (has_serial && has_apen && ms >= 2 && ms <= 24 && ma >= 1 && ma <= 23) shared_m = std::max(ms, ma + 1);
  }
  std::vector<std::vector<TestResult>> results(sequences.size());
  std::atomic<uint64_t> next{0};
  uint64_t done = 0;
  std::mutex mutex;
  std::exception_ptr failure;
  auto worker = [&] {
    for (;;) {
      const uint64_t i = next.fetch_add(1);
      if (i >= sequences.size()) return;
      try {
        std::vector<TestResult> r;
        r.reserve(tests.size());
        WindowCounts shared;
        if (shared_m > 0 && !sequences[i].empty()) shared = window_counts(sequences[i], shared_m);
        for (TestId id : tests) r.push_back(run_test(id, sequences[i], options.params, shared_m > 0 ? &shared : nullptr));
        results[i] = std::move(r);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        next.store(sequences.size());
        return;
      }
      std::lock_guard<std::mutex> lock(mutex);
      ++done;
      if (options.progress) options.progress(done, sequences.size());
    }
  };
  const int nthreads = static_cast<int>(std::min<uint64_t>(options.threads, std::max<uint64_t>(1, sequences.size())));
  if (nthreads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < nthreads; ++t) pool.emplace_back(worker);
    for (auto& th : pool) th.join();
  }
  if (failure) std::rethrow_exception(failure);
  return results;
}

std::pair<double, double> proportion_interval(double alpha, uint64_t k) {
  const double p_hat = 1.0 - alpha;
  const double half = 3.0 * std::sqrt(p_hat * (1.0 - p_hat) / static_cast<double>(k));
  return {p_hat - half, p_hat + half};
}

double uniformity_p_value(const std::array<uint64_t, 10>& bins) {
  uint64_t k = 0;
  for (uint64_t b : bins) k += b;
  const double expected = static_cast<double>(k) / 10.0;
  double chi2 = 0.0;
  for (uint64_t b : bins) chi2 += (static_cast<double>(b) - expected) * (static_cast<double>(b) - expected) / expected;
  return igamc(9.0 / 2.0, chi2 / 2.0);
}

int p_value_bin(double p) {
  const int b = static_cast<int>(std::floor(p * 10.0));
  return std::clamp(b, 0, 9);
}

namespace {
// P(the proportion of passes of an ideal generator falls outside [lower, upper]); passes ~ Bin(k, 1-alpha).
double proportion_false_alarm(double alpha, uint64_t k, double lower, double upper) {
  const double p = 1.0 - alpha;
  const double kd = static_cast<double>(k);
  double inside = 0.0;
  for (uint64_t x = 0; x <= k; ++x) {
    const double prop = static_cast<double>(x) / kd;
    if (prop < lower || prop > upper) continue;
    const double xd = static_cast<double>(x);
    const double log_pmf = log_gamma(kd + 1) - log_gamma(xd + 1) - log_gamma(kd - xd + 1) + xd * std::log(p) +
                           (kd - xd) * std::log1p(-p);
    inside += std::exp(log_pmf);
  }
  return std::max(0.0, 1.0 - inside);
}
// P(passes <= x) (lower) or P(passes >= x) (upper) for passes ~ Bin(k, 1 - alpha).
double binomial_tail(double alpha, uint64_t k, uint64_t x, bool lower) {
  const double p = 1.0 - alpha, kd = static_cast<double>(k);
  double sum = 0.0;
  const uint64_t from = lower ? 0 : x, to = lower ? x : k;
  for (uint64_t j = from; j <= to; ++j) {
    const double jd = static_cast<double>(j);
    sum += std::exp(log_gamma(kd + 1) - log_gamma(jd + 1) - log_gamma(kd - jd + 1) + jd * std::log(p) +
                    (kd - jd) * std::log1p(-p));
  }
  return std::min(1.0, sum);
}
}  // namespace

SuiteReport summarize(const std::vector<std::vector<TestResult>>& results, double alpha) {
  if (!(alpha > 0 && alpha < 1)) throw Error("alpha = " + std::to_string(alpha) + " (allowed: 0 < alpha < 1)");
  SuiteReport rep;
  rep.alpha = alpha;
  rep.sequences = results.size();
  std::map<std::pair<int, std::string>, size_t> index;
  for (const auto& seq : results) {
    for (const TestResult& t : seq) {
      for (const PValue& pv : t.p_values) {
        const auto key = std::make_pair(static_cast<int>(t.test), pv.sub_test);
        auto it = index.find(key);
        if (it == index.end()) {
          it = index.emplace(key, rep.rows.size()).first;
          ProportionRow row;
          row.test = t.test;
          row.sub_test = pv.sub_test;
          rep.rows.push_back(row);
        }
        ProportionRow& row = rep.rows[it->second];
        if (!pv.p_value) {
          if (row.not_applicable++ == 0) row.not_applicable_reason = t.not_applicable_reason;
          continue;
        }
        ++row.sequences;
        row.passed += *pv.p_value >= alpha;
        ++row.bins[p_value_bin(*pv.p_value)];
      }
    }
  }
  // Rows in test order, first-seen sub-test order within a test.
  std::stable_sort(rep.rows.begin(), rep.rows.end(),
                   [](const ProportionRow& a, const ProportionRow& b) { return a.test < b.test; });
  for (ProportionRow& row : rep.rows) {
    if (row.sequences == 0) continue;
    row.proportion = static_cast<double>(row.passed) / static_cast<double>(row.sequences);
    std::tie(row.lower, row.upper) = proportion_interval(alpha, row.sequences);
    row.proportion_ok = row.proportion >= row.lower && row.proportion <= row.upper;
    row.uniformity_p = uniformity_p_value(row.bins);
    row.uniformity_assessed = row.sequences >= 55;
    row.uniformity_ok = !row.uniformity_assessed || *row.uniformity_p >= 0.0001;
    rep.expected_false_alarms += proportion_false_alarm(alpha, row.sequences, row.lower, row.upper);
    if (row.uniformity_assessed) rep.expected_false_alarms += 0.0001;
  }
  for (const ProportionRow& row : rep.rows) {
    if (rep.tests.empty() || rep.tests.back().test != row.test) rep.tests.push_back({row.test});
    TestVerdict& v = rep.tests.back();
    ++v.rows;
    if (row.sequences == 0) ++v.rows_not_applicable;
    if (!row.ok()) ++v.rows_failed;
  }
  uint64_t judged = 0;
  for (const ProportionRow& row : rep.rows) {
    rep.rows_failed += !row.ok();
    judged += row.sequences > 0;
  }
  rep.rows_judged = judged;
  rep.rows_not_applicable = rep.rows.size() - judged;
  // Poisson tail P(N >= rows_failed) = P(rows_failed, mean) (regularized lower incomplete gamma).
  rep.chance_p_value = rep.rows_failed == 0 ? 1.0 : igam(static_cast<double>(rep.rows_failed), rep.expected_false_alarms);
  const double decisive = 0.001 / static_cast<double>(std::max<uint64_t>(judged, 1));
  for (const ProportionRow& row : rep.rows) {
    if (row.ok()) continue;
    const double tail = row.proportion_ok ? 1.0 : binomial_tail(alpha, row.sequences, row.passed, row.proportion < row.lower);
    const double unif = row.uniformity_ok ? 1.0 : *row.uniformity_p;
    if (tail < decisive || unif < decisive) rep.decisive_failure = true;
  }
  return rep;
}

std::string SuiteReport::note() const {
  size_t templates = 0, judged = 0;
  for (const ProportionRow& r : rows) {
    templates += r.test == TestId::kNonOverlappingTemplate && r.sequences > 0;
    judged += r.sequences > 0;
  }
  char buf[640];
  std::snprintf(buf, sizeof buf,
                "%zu P-value rows were judged; an ideal generator fails about %.2f of them by chance (exact binomial "
                "probability outside each proportion interval, plus 0.0001 per judged uniformity check).%s A few "
                "isolated failures are expected; repeated failures of the same test on fresh data are not.",
                judged, expected_false_alarms,
                templates > 1 ? (" The " + std::to_string(templates) +
                                 " NonOverlappingTemplate rows test the same bits and are correlated.").c_str()
                              : "");
  return buf;
}

void write_p_values_tsv(std::ostream& out, const std::vector<std::vector<TestResult>>& results) {
  out << "sequence\ttest\tsub_test\tp_value\n";
  char buf[40];
  for (size_t i = 0; i < results.size(); ++i) {
    for (const TestResult& t : results[i]) {
      for (const PValue& p : t.p_values) {
        if (p.p_value) {
          std::snprintf(buf, sizeof buf, "%.17g", *p.p_value);
        } else {
          std::snprintf(buf, sizeof buf, "NA");
        }
        out << i << '\t' << test_name(t.test) << '\t' << (p.sub_test.empty() ? "-" : p.sub_test) << '\t' << buf << '\n';
      }
    }
  }
}

ProportionPasses proportion_passes(const SuiteReport& report) {
  ProportionPasses p;
  for (const ProportionRow& row : report.rows) {
    ++p.rows;
    if (row.sequences == 0) {
      ++p.not_applicable;
      continue;
    }
    p.passed += row.proportion_ok;
  }
  return p;
}

}  // namespace rngfree::nist
