// The 15 SP 800-22 Rev 1a tests (sections 2.1-2.15, formulas of section 3), turning the exact counts
// of kernels.hpp into P-values with NIST STS 2.1.2's arithmetic and constants (profile sts-2.1.2)
// or with the corrected constants (profile corrected). Parameter checks throw rngfree::Error.
#include "rngfree/nist/sp800_22.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numbers>

#include "rngfree/error.hpp"
#include "rngfree/nist/kernels.hpp"
#include "rngfree/nist/special.hpp"

namespace rngfree::nist {

namespace {
constexpr std::array<std::string_view, kNumTests> kTestNames = {
    "Frequency",           "BlockFrequency",     "CumulativeSums",   "Runs",
    "LongestRun",          "Rank",               "FFT",              "NonOverlappingTemplate",
    "OverlappingTemplate", "Universal",          "ApproximateEntropy", "RandomExcursions",
    "RandomExcursionsVariant", "Serial",         "LinearComplexity"};

TestResult make(TestId id) {
  TestResult r;
  r.test = id;
  return r;
}
TestResult not_applicable(TestResult r, std::vector<std::string> sub_tests, std::string reason) {
  r.applicable = false;
  r.not_applicable_reason = std::move(reason);
  r.p_values.clear();
  for (auto& s : sub_tests) r.p_values.push_back({std::move(s), std::nullopt});
  return r;
}
std::string ntos(uint64_t v) { return std::to_string(v); }
std::string gtos(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
void warn_if(TestResult& r, bool cond, const std::string& msg) {
  if (cond) r.warnings.push_back(msg);
}
void require(bool cond, const std::string& msg) {
  if (!cond) throw Error(msg);
}
// Item 1 of check_supported_length: `what` (a length in bits, the most a 32-bit count can reach) fits.
void require_count_fits(TestId id, const std::string& what, uint64_t bits, const std::string& hint) {
  if (bits <= kMaxCount) return;
  throw Error(std::string(test_name(id)) + ": " + what + " = " + ntos(bits) + " bits is too long (allowed: at most " +
              ntos(kMaxCount) + " = 2^32 - 1, the range of its 32-bit counts" + hint + ")");
}
}  // namespace

std::string_view profile_name(Profile p) { return p == Profile::kSts212 ? "sts-2.1.2" : "corrected"; }
Profile parse_profile(std::string_view name) {
  if (name == "sts-2.1.2") return Profile::kSts212;
  if (name == "corrected") return Profile::kCorrected;
  throw Error("--profile = '" + std::string(name) + "' is not a profile (allowed: sts-2.1.2, corrected)");
}

const std::array<TestId, kNumTests>& all_tests() {
  static const std::array<TestId, kNumTests> ids = [] {
    std::array<TestId, kNumTests> a{};
    for (int i = 0; i < kNumTests; ++i) a[i] = static_cast<TestId>(i);
    return a;
  }();
  return ids;
}
std::string_view test_name(TestId id) { return kTestNames[static_cast<int>(id)]; }
TestId parse_test_name(std::string_view name) {
  for (int i = 0; i < kNumTests; ++i) {
    if (kTestNames[i] == name || std::to_string(i + 1) == name) return static_cast<TestId>(i);
  }
  std::string allowed;
  for (auto n : kTestNames) allowed += (allowed.empty() ? "" : ", ") + std::string(n);
  throw Error("test '" + std::string(name) + "' is unknown (allowed: " + allowed + ", or their numbers 1-15)");
}

void check_supported_length(TestId id, uint64_t n, const SuiteParams& p) {
  switch (id) {
    case TestId::kBlockFrequency:  // ones per block <= M; no block when n < M
      require_count_fits(id, "block length M", std::min(n, p.block_frequency.block_length), "");
      break;
    case TestId::kNonOverlappingTemplate:  // occurrences per block <= M = n/N
      if (p.non_overlapping_template.blocks >= 1) {
        require_count_fits(id, "block length M = n/N with n = " + ntos(n) + ", N = " +
                                   ntos(p.non_overlapping_template.blocks),
                           n / p.non_overlapping_template.blocks, "; use more blocks N");
      }
      break;
    case TestId::kOverlappingTemplate:
      require_count_fits(id, "block length M", std::min(n, p.overlapping_template.block_length), "");
      break;
    case TestId::kApproximateEntropy:  // cyclic window counts <= n
    case TestId::kSerial:
      require_count_fits(id, "n", n, "; test shorter sequences (--bits, --streams)");
      break;
    case TestId::kFft:
      require(n < (uint64_t{1} << 31), "FFT: n = " + ntos(n) + " bits (allowed: below 2^31 = 2147483648, FFTW's int sizes)");
      break;
    default:  // 64-bit counts, or block lengths bounded by the parameter checks
      break;
  }
}

std::optional<double> TestResult::statistic(std::string_view name) const {
  for (const auto& [k, v] : statistics)
    if (k == name) return v;
  return std::nullopt;
}

// 2.1 Frequency (monobit).
TestResult frequency(const BitSequence& s) {
  TestResult r = make(TestId::kFrequency);
  const uint64_t n = s.size();
  const std::string sub = "n=" + ntos(n);
  if (n == 0) return not_applicable(r, {sub}, "empty sequence");
  warn_if(r, n < 100, "n = " + ntos(n) + " is below the recommended 100 bits");
  const double sum = 2.0 * static_cast<double>(s.count_ones()) - static_cast<double>(n);
  const double s_obs = std::fabs(sum) / std::sqrt(static_cast<double>(n));
  r.p_values.push_back({sub, std::erfc(s_obs / std::numbers::sqrt2)});
  r.statistics = {{"S_n", sum}, {"s_obs", s_obs}};
  return r;
}

// 2.2 Frequency within a block.
TestResult block_frequency(const BitSequence& s, const BlockFrequencyParams& p) {
  TestResult r = make(TestId::kBlockFrequency);
  require(p.block_length >= 1, "BlockFrequency block length M = 0 (allowed: M >= 1)");
  SuiteParams limits;
  limits.block_frequency = p;
  check_supported_length(TestId::kBlockFrequency, s.size(), limits);
  const uint64_t n = s.size(), M = p.block_length, N = n / M;
  const std::string sub = "M=" + ntos(M);
  if (N == 0) return not_applicable(r, {sub}, "n = " + ntos(n) + " < M = " + ntos(M) + ": no complete block");
  warn_if(r, n < 100, "n = " + ntos(n) + " is below the recommended 100 bits");
  warn_if(r, M < 20 || 100 * M <= n || N >= 100, "SP 800-22 recommends M >= 20, M > 0.01 n and N < 100");
  double sum = 0.0;
  for (uint32_t ones : kernels::block_ones(s, M)) {
    const double v = static_cast<double>(ones) / static_cast<double>(M) - 0.5;
    sum += v * v;
  }
  const double chi2 = 4.0 * static_cast<double>(M) * sum;
  r.p_values.push_back({sub, igamc(static_cast<double>(N) / 2.0, chi2 / 2.0)});
  r.statistics = {{"N", static_cast<double>(N)}, {"chi2", chi2}};
  return r;
}

namespace {
// 2.13.4 step (4), with C's truncating integer bounds as in STS 2.1.2.
double cusum_p_value(int64_t n, int64_t z) {
  const double sqrt_n = std::sqrt(static_cast<double>(n));
  double sum1 = 0.0;
  for (int64_t k = (-n / z + 1) / 4; k <= (n / z - 1) / 4; ++k) {
    sum1 += normal_cdf(static_cast<double>((4 * k + 1) * z) / sqrt_n);
    sum1 -= normal_cdf(static_cast<double>((4 * k - 1) * z) / sqrt_n);
  }
  double sum2 = 0.0;
  for (int64_t k = (-n / z - 3) / 4; k <= (n / z - 1) / 4; ++k) {
    sum2 += normal_cdf(static_cast<double>((4 * k + 3) * z) / sqrt_n);
    sum2 -= normal_cdf(static_cast<double>((4 * k + 1) * z) / sqrt_n);
  }
  // 1 - sum1 + sum2 is a probability, but its rounding can land a few ulps above 1 when z is small
  // (found by fuzz/nist_ascii.cpp: 1 + 1.3e-15 for the 190 bits 0110 0110 ... 01, where z = 1).
  return std::clamp(1.0 - sum1 + sum2, 0.0, 1.0);
}
}  // namespace

// 2.13 Cumulative sums, forward (mode 0) and reverse (mode 1).
TestResult cumulative_sums(const BitSequence& s) {
  TestResult r = make(TestId::kCumulativeSums);
  const auto n = static_cast<int64_t>(s.size());
  if (n == 0) return not_applicable(r, {"forward", "reverse"}, "empty sequence");
  warn_if(r, n < 100, "n = " + ntos(n) + " is below the recommended 100 bits");
  const kernels::WalkExtremes w = kernels::walk_extremes(s);
  const int64_t z = std::max(w.max_sum, -w.min_sum);
  const int64_t zrev = std::max(w.max_sum - w.final_sum, w.final_sum - w.min_sum);
  r.p_values.push_back({"forward", cusum_p_value(n, z)});
  r.p_values.push_back({"reverse", cusum_p_value(n, zrev)});
  r.statistics = {{"z_forward", static_cast<double>(z)}, {"z_reverse", static_cast<double>(zrev)}};
  return r;
}

// 2.3 Runs. A sequence failing the frequency prerequisite gets P = 0, as in STS (it is not a lack of
// data but a failed sequence).
TestResult runs(const BitSequence& s) {
  TestResult r = make(TestId::kRuns);
  const uint64_t n = s.size();
  const std::string sub = "n=" + ntos(n);
  if (n == 0) return not_applicable(r, {sub}, "empty sequence");
  warn_if(r, n < 100, "n = " + ntos(n) + " is below the recommended 100 bits");
  const double nd = static_cast<double>(n);
  const double pi = static_cast<double>(s.count_ones()) / nd;
  r.statistics = {{"pi", pi}};
  if (std::fabs(pi - 0.5) > 2.0 / std::sqrt(nd)) {
    r.warnings.push_back("frequency prerequisite failed: |pi - 1/2| = " + std::to_string(std::fabs(pi - 0.5)) + " > 2/sqrt(n); P-value 0");
    r.p_values.push_back({sub, 0.0});
    return r;
  }
  const double v_obs = 1.0 + static_cast<double>(kernels::transitions(s));
  const double arg = std::fabs(v_obs - 2.0 * nd * pi * (1 - pi)) / (2.0 * pi * (1 - pi) * std::sqrt(2 * nd));
  r.p_values.push_back({sub, std::erfc(arg)});
  r.statistics.push_back({"V_obs", v_obs});
  return r;
}

// 2.4 Longest run of ones in a block.
TestResult longest_run(const BitSequence& s, const LongestRunParams& p) {
  TestResult r = make(TestId::kLongestRun);
  const uint64_t n = s.size();
  uint64_t M = p.block_length;
  if (M == 0) M = n < 6272 ? 8 : (n < 750000 ? 128 : 10000);
  require(M == 8 || M == 128 || M == 10000,
          "LongestRun block length M = " + ntos(M) + " (allowed: 0 for automatic, 8, 128, 10000)");
  const int K = M == 8 ? 3 : (M == 128 ? 5 : 6);
  const std::string sub = "M=" + ntos(M) + ";K=" + std::to_string(K);
  const uint64_t min_n = M == 8 ? 128 : (M == 128 ? 6272 : 750000);
  if (n < 128) return not_applicable(r, {sub}, "n = " + ntos(n) + " < 128 bits");
  warn_if(r, n < min_n, "n = " + ntos(n) + " is below the " + ntos(min_n) + " bits SP 800-22 recommends for M = " + ntos(M));
  const uint64_t N = n / M;
  if (N == 0) return not_applicable(r, {sub}, "n = " + ntos(n) + " < M = " + ntos(M));
  std::array<uint32_t, 7> V{};
  std::vector<double> pi;
  if (M == 8) {
    V = {1, 2, 3, 4};
    pi = {0.21484375, 0.3671875, 0.23046875, 0.1875};
  } else if (M == 128) {
    V = {4, 5, 6, 7, 8, 9};
    pi = {0.1174035788, 0.242955959, 0.249363483, 0.17517706, 0.102701071, 0.112398847};
  } else {
    V = {10, 11, 12, 13, 14, 15, 16};
    if (p.profile == Profile::kSts212) {
      pi = {0.0882, 0.2092, 0.2483, 0.1933, 0.1208, 0.0675, 0.0727};
    } else {
      pi = {0.0866323110799528, 0.2082006483876034, 0.2484185819416996, 0.1939127867416569,
            0.1214584850890044, 0.0680110893039400, 0.0733660974561430};
    }
  }
  std::vector<uint64_t> nu(K + 1, 0);
  for (uint32_t run : kernels::longest_runs(s, M)) {
    if (run < V[0]) ++nu[0];
    for (int j = 0; j <= K; ++j)
      if (run == V[j]) ++nu[j];
    if (run > V[K]) ++nu[K];
  }
  double chi2 = 0.0;
  const double Nd = static_cast<double>(N);
  for (int i = 0; i <= K; ++i) chi2 += (nu[i] - Nd * pi[i]) * (nu[i] - Nd * pi[i]) / (Nd * pi[i]);
  r.p_values.push_back({sub, igamc(K / 2.0, chi2 / 2.0)});
  r.statistics = {{"N", Nd}, {"chi2", chi2}};
  for (int i = 0; i <= K; ++i) r.statistics.push_back({"nu" + std::to_string(i), static_cast<double>(nu[i])});
  return r;
}

namespace {
// Probability that a random rows x cols GF(2) matrix has rank r (SP 800-22 3.5), in STS's order.
double rank_probability(int r, int rows, int cols) {
  double product = 1;
  for (int i = 0; i <= r - 1; ++i) {
    product *= ((1.e0 - std::pow(2, i - cols)) * (1.e0 - std::pow(2, i - rows))) / (1.e0 - std::pow(2, i - r));
  }
  return std::pow(2, r * (cols + rows - r) - rows * cols) * product;
}
}  // namespace

std::array<double, 3> rank_class_probabilities(int rows, int cols) {
  require(rows >= 2 && rows <= 1024, "Rank rows M = " + std::to_string(rows) + " (allowed: 2..1024)");
  require(cols >= 2 && cols <= 64, "Rank columns Q = " + std::to_string(cols) + " (allowed: 2..64)");
  const int full = std::min(rows, cols);
  // The lower class summed over its ranks (each term exact to rounding; they fall off like 2^-(M-r)(Q-r)),
  // not as 1 - (p_full + p_full-1), which cancels to nothing or a rounding error for tall matrices.
  double rest = 0.0;
  for (int r = full - 2; r >= 0; --r) rest += rank_probability(r, rows, cols);
  return {rank_probability(full, rows, cols), rank_probability(full - 1, rows, cols), rest};
}

// 2.5 Binary matrix rank.
TestResult rank(const BitSequence& s, const RankParams& p) {
  TestResult r = make(TestId::kRank);
  require(p.rows >= 2 && p.rows <= 1024, "Rank rows M = " + std::to_string(p.rows) + " (allowed: 2..1024)");
  require(p.cols >= 2 && p.cols <= 64, "Rank columns Q = " + std::to_string(p.cols) + " (allowed: 2..64)");
  const std::string sub = p.rows == p.cols ? "M=Q=" + std::to_string(p.rows)
                                           : "M=" + std::to_string(p.rows) + ";Q=" + std::to_string(p.cols);
  const uint64_t n = s.size(), per = static_cast<uint64_t>(p.rows) * p.cols, N = n / per;
  if (N == 0) return not_applicable(r, {sub}, "n = " + ntos(n) + " < M*Q = " + ntos(per) + ": no complete matrix");
  warn_if(r, N < 38, "N = " + ntos(N) + " matrices; SP 800-22 recommends at least 38");
  const int full = std::min(p.rows, p.cols);
  const auto [p_full, p_minus1, p_rest] = rank_class_probabilities(p.rows, p.cols);
  uint64_t f_full = 0, f_minus1 = 0;
  for (int rk : kernels::ranks(s, p.rows, p.cols)) {
    f_full += rk == full;
    f_minus1 += rk == full - 1;
  }
  const uint64_t f_rest = N - f_full - f_minus1;
  const double Nd = static_cast<double>(N);
  // A class whose probability underflows to 0 (the lower class of a very tall matrix) adds its limit:
  // 0 when it is empty, infinity (P = 0) when a matrix falls into it anyway.
  auto term = [&](uint64_t observed, double prob) {
    if (prob == 0) return observed == 0 ? 0.0 : std::numeric_limits<double>::infinity();
    return std::pow(observed - Nd * prob, 2) / (Nd * prob);
  };
  const double chi2 = term(f_full, p_full) + term(f_minus1, p_minus1) + term(f_rest, p_rest);
  r.p_values.push_back({sub, std::exp(-chi2 / 2.0)});
  r.statistics = {{"N", Nd}, {"F_full", static_cast<double>(f_full)}, {"F_full-1", static_cast<double>(f_minus1)},
                  {"F_rest", static_cast<double>(f_rest)}, {"chi2", chi2}};
  return r;
}

// 2.6 Discrete Fourier transform (spectral).
TestResult fft(const BitSequence& s) {
  TestResult r = make(TestId::kFft);
  const uint64_t n = s.size();
  const std::string sub = "n=" + ntos(n);
  if (n < 2) return not_applicable(r, {sub}, "n = " + ntos(n) + " < 2 bits");
  check_supported_length(TestId::kFft, n);
  warn_if(r, n < 1000, "n = " + ntos(n) + " is below the recommended 1000 bits");
  const double nd = static_cast<double>(n);
  const double threshold = std::sqrt(2.995732274 * nd);
  const double n1 = static_cast<double>(kernels::dft_count_below(s, threshold));
  const double n0 = 0.95 * nd / 2.0;
  const double d = (n1 - n0) / std::sqrt(nd / 4.0 * 0.95 * 0.05);
  r.p_values.push_back({sub, std::erfc(std::fabs(d) / std::sqrt(2.0))});
  r.statistics = {{"N1", n1}, {"N0", n0}, {"d", d}};
  return r;
}

namespace {
std::string template_string(uint32_t t, int m) {
  std::string out(m, '0');
  for (int k = 0; k < m; ++k) out[k] = static_cast<char>('0' + ((t >> (m - 1 - k)) & 1));
  return out;
}
}  // namespace

// 2.7 Non-overlapping template matching.
TestResult non_overlapping_template(const BitSequence& s, const NonOverlappingTemplateParams& p) {
  TestResult r = make(TestId::kNonOverlappingTemplate);
  const int m = p.template_length;
  require(m >= 2 && m <= 21, "NonOverlappingTemplate template length m = " + std::to_string(m) + " (allowed: 2..21)");
  require(p.blocks >= 1, "NonOverlappingTemplate blocks N = 0 (allowed: N >= 1)");
  {
    SuiteParams limits;
    limits.non_overlapping_template.blocks = p.blocks;
    check_supported_length(TestId::kNonOverlappingTemplate, s.size(), limits);
  }
  std::vector<uint32_t> templates = p.templates;
  if (templates.empty()) {
    templates = kernels::aperiodic_templates(m);
    if (templates.size() > 148) templates.resize(148);  // STS's MAXNUMOFTEMPLATES
  }
  for (uint32_t t : templates) {
    require(t < (uint32_t{1} << m), "NonOverlappingTemplate template " + std::to_string(t) + " has more than m = " +
                                        std::to_string(m) + " bits");
  }
  std::vector<std::string> subs;
  for (uint32_t t : templates) subs.push_back("B=" + template_string(t, m));
  const uint64_t n = s.size(), N = p.blocks, M = n / N;
  const double lambda = static_cast<double>(static_cast<int64_t>(M) - m + 1) / std::pow(2, m);
  const double var_w = static_cast<double>(M) * (1.0 / std::pow(2.0, m) - (2.0 * m - 1.0) / std::pow(2.0, 2.0 * m));
  if (M < static_cast<uint64_t>(m) || lambda <= 0) {
    return not_applicable(r, subs, "block length M = n/N = " + ntos(M) + " < m = " + std::to_string(m));
  }
  warn_if(r, N > 100, "N = " + ntos(N) + " blocks; SP 800-22 recommends N <= 100");
  warn_if(r, n < 1000000, "n = " + ntos(n) + " is below the 10^6 bits SP 800-22's examples use");
  const auto counts = kernels::template_counts(s, templates, m, M, N);
  for (size_t t = 0; t < templates.size(); ++t) {
    double chi2 = 0.0;
    for (uint64_t i = 0; i < N; ++i) chi2 += std::pow((counts[t][i] - lambda) / std::pow(var_w, 0.5), 2);
    r.p_values.push_back({subs[t], igamc(static_cast<double>(N) / 2.0, chi2 / 2.0)});
  }
  r.statistics = {{"M", static_cast<double>(M)}, {"lambda", lambda}, {"var_W", var_w}};
  return r;
}

namespace {
// STS 2.1.2's Pr(u, eta): the probabilities its overlapping test uses (the spec's 3.8 formula, which
// Hamano and Kaneko showed to be inaccurate).
double sts_overlapping_pr(int u, double eta) {
  if (u == 0) return std::exp(-eta);
  double sum = 0.0;
  for (int l = 1; l <= u; ++l) {
    sum += std::exp(-eta - u * std::log(2) + l * std::log(eta) - log_gamma(l + 1) + log_gamma(u) - log_gamma(l) -
                    log_gamma(u - l + 1));
  }
  return sum;
}
}  // namespace

std::vector<double> overlapping_class_probabilities_exact(int m, uint64_t M, int K) {
  // Exact distribution of the number of (overlapping) occurrences of 1^m in M random bits: a Markov
  // chain on (trailing ones, capped at m) x (occurrences, capped at K).
  std::vector<double> cur((m + 1) * (K + 1), 0.0), next(cur.size());
  cur[0] = 1.0;
  for (uint64_t step = 0; step < M; ++step) {
    std::fill(next.begin(), next.end(), 0.0);
    for (int run = 0; run <= m; ++run) {
      for (int c = 0; c <= K; ++c) {
        const double pr = cur[run * (K + 1) + c];
        if (pr == 0) continue;
        next[0 * (K + 1) + c] += 0.5 * pr;  // a zero
        const int run1 = std::min(run + 1, m);
        const int c1 = run1 == m ? std::min(c + 1, K) : c;
        next[run1 * (K + 1) + c1] += 0.5 * pr;
      }
    }
    std::swap(cur, next);
  }
  std::vector<double> pi(K + 1, 0.0);
  for (int run = 0; run <= m; ++run)
    for (int c = 0; c <= K; ++c) pi[c] += cur[run * (K + 1) + c];
  return pi;
}

namespace {
// The class probabilities pi_0..pi_K the overlapping test uses under the profile.
std::vector<double> overlapping_pi(const OverlappingTemplateParams& p) {
  const int m = p.template_length, K = p.classes;
  if (p.profile != Profile::kSts212) {
    // exact; for m = 9, M = 1032, K = 5 these are Hamano-Kaneko's 0.364091, 0.185659, ...
    return overlapping_class_probabilities_exact(m, p.block_length, K);
  }
  std::vector<double> pi(K + 1);
  const double lambda = static_cast<double>(static_cast<int64_t>(p.block_length) - m + 1) / std::pow(2, m);
  const double eta = lambda / 2.0;
  double sum = 0.0;
  for (int i = 0; i < K; ++i) {
    pi[i] = sts_overlapping_pr(i, eta);
    sum += pi[i];
  }
  pi[K] = 1 - sum;
  return pi;
}
}  // namespace

// 2.8 Overlapping template matching (template of m ones).
TestResult overlapping_template(const BitSequence& s, const OverlappingTemplateParams& p) {
  TestResult r = make(TestId::kOverlappingTemplate);
  const int m = p.template_length, K = p.classes;
  const uint64_t M = p.block_length;
  require(m >= 1 && m <= 32, "OverlappingTemplate template length m = " + std::to_string(m) + " (allowed: 1..32)");
  require(K >= 1 && K <= 64, "OverlappingTemplate classes K = " + std::to_string(K) + " (allowed: 1..64)");
  require(M >= static_cast<uint64_t>(m), "OverlappingTemplate block length M = " + ntos(M) + " (allowed: M >= m)");
  {
    SuiteParams limits;
    limits.overlapping_template.block_length = M;
    check_supported_length(TestId::kOverlappingTemplate, s.size(), limits);
  }
  const std::string sub = "m=" + std::to_string(m) + ";M=" + ntos(M) + ";K=" + std::to_string(K);
  const uint64_t n = s.size(), N = n / M;
  if (N == 0) return not_applicable(r, {sub}, "n = " + ntos(n) + " < M = " + ntos(M) + ": no complete block");
  warn_if(r, n < 1000000, "n = " + ntos(n) + " is below the recommended 10^6 bits");
  const std::vector<double> pi = overlapping_pi(p);
  std::vector<uint64_t> nu(K + 1, 0);
  const uint32_t ones = m == 32 ? ~uint32_t{0} : (uint32_t{1} << m) - 1;
  for (uint32_t w : kernels::overlapping_counts(s, ones, m, M, N)) ++nu[std::min<uint32_t>(w, K)];
  double chi2 = 0.0;
  const double Nd = static_cast<double>(N);
  for (int i = 0; i <= K; ++i) chi2 += std::pow(static_cast<double>(nu[i]) - Nd * pi[i], 2) / (Nd * pi[i]);
  r.p_values.push_back({sub, igamc(K / 2.0, chi2 / 2.0)});
  r.statistics = {{"N", Nd}, {"chi2", chi2}};
  for (int i = 0; i <= K; ++i) r.statistics.push_back({"nu" + std::to_string(i), static_cast<double>(nu[i])});
  return r;
}

// 2.9 Maurer's universal statistical test.
TestResult universal(const BitSequence& s, const UniversalParams& p) {
  TestResult r = make(TestId::kUniversal);
  // SP 800-22 2.9.4 table: expected value and variance of f_n for L = 1..16.
  static constexpr double kExpected[17] = {0,         0.7326495, 1.5374383, 2.4016068, 3.3112247, 4.2534266,
                                           5.2177052, 6.1962507, 7.1836656, 8.1764248, 9.1723243, 10.170032,
                                           11.168765, 12.168070, 13.167693, 14.167488, 15.167379};
  static constexpr double kVariance[17] = {0,     0.690, 1.338, 1.901, 2.358, 2.705, 2.954, 3.125, 3.238,
                                           3.311, 3.356, 3.384, 3.401, 3.410, 3.416, 3.419, 3.421};
  const uint64_t n = s.size();
  int L = p.block_length;
  if (L == 0) {
    // STS 2.1.2's choice of L from n.
    static constexpr uint64_t kMinN[] = {387840,    904960,    2068480,   4654080,   10342400, 22753280,
                                         49643520,  107560960, 231669760, 496435200, 1059061760};
    L = 5;
    for (int i = 0; i < 11; ++i)
      if (n >= kMinN[i]) L = 6 + i;
    if (L < 6) {
      return not_applicable(r, {"L=auto"}, "n = " + ntos(n) + " < 387,840 bits (STS needs L >= 6)");
    }
  }
  require(L >= 1 && L <= 16, "Universal block length L = " + std::to_string(L) + " (allowed: 0 for automatic, 1..16)");
  const uint64_t Q = p.init_blocks != 0 ? p.init_blocks : 10 * (uint64_t{1} << L);
  const std::string sub = "L=" + std::to_string(L) + ";Q=" + ntos(Q);
  const uint64_t total_blocks = n / L;
  if (total_blocks <= Q) {
    return not_applicable(r, {sub}, "n/L = " + ntos(total_blocks) + " blocks leave no test blocks after Q = " + ntos(Q));
  }
  const uint64_t K = total_blocks - Q;
  warn_if(r, Q < 10 * (uint64_t{1} << L), "Q = " + ntos(Q) + " is below the recommended 10*2^L");
  warn_if(r, K < 1000 * (uint64_t{1} << L), "K = " + ntos(K) + " test blocks, below the recommended 1000*2^L");
  const double Kd = static_cast<double>(K);
  const double c = 0.7 - 0.8 / static_cast<double>(L) + (4 + 32 / static_cast<double>(L)) * std::pow(Kd, -3 / static_cast<double>(L)) / 15;
  const double sigma = c * std::sqrt(kVariance[L] / Kd);
  const double phi = kernels::universal_log_sum(s, L, Q, K) / Kd;
  const double arg = std::fabs(phi - kExpected[L]) / (std::sqrt(2) * sigma);
  r.p_values.push_back({sub, std::erfc(arg)});
  r.statistics = {{"L", static_cast<double>(L)}, {"Q", static_cast<double>(Q)}, {"K", Kd}, {"f_n", phi}, {"sigma", sigma}};
  return r;
}

WindowCounts window_counts(const BitSequence& s, int m) {
  check_supported_length(TestId::kSerial, s.size());  // the counts Serial and ApproximateEntropy share
  return {m, kernels::cyclic_window_counts(s, m)};
}

namespace {
// Cyclic m-bit window counts, from `shared` by marginalization when it holds counts for m or more bits.
std::vector<uint32_t> counts_for(const BitSequence& s, int m, const WindowCounts* shared) {
  if (shared == nullptr || shared->m < m || shared->counts.size() != (size_t{1} << shared->m)) {
    return kernels::cyclic_window_counts(s, m);
  }
  std::vector<uint32_t> c = shared->counts;
  for (int k = shared->m; k > m; --k) c = kernels::marginalize_prefix(c);
  return c;
}
}  // namespace

// 2.12 Approximate entropy: one pass of cyclic (m+1)-bit window counts, marginalized to m bits.
TestResult approximate_entropy(const BitSequence& s, const ApproximateEntropyParams& p, const WindowCounts* shared) {
  TestResult r = make(TestId::kApproximateEntropy);
  const int m = p.block_length;
  require(m >= 1 && m <= 23, "ApproximateEntropy block length m = " + std::to_string(m) + " (allowed: 1..23)");
  check_supported_length(TestId::kApproximateEntropy, s.size());
  const std::string sub = "m=" + std::to_string(m);
  const uint64_t n = s.size();
  if (n == 0) return not_applicable(r, {sub}, "empty sequence");
  const double nd = static_cast<double>(n);
  warn_if(r, m > static_cast<int>(std::log(nd) / std::log(2) - 5),
          "m = " + std::to_string(m) + " exceeds floor(log2 n) - 5, as SP 800-22 recommends");
  const std::vector<uint32_t> c1 = counts_for(s, m + 1, shared);
  const std::vector<uint32_t> c0 = kernels::marginalize_prefix(c1);
  auto phi = [&](const std::vector<uint32_t>& counts) {
    double sum = 0.0;
    for (uint32_t c : counts)
      if (c > 0) sum += c * std::log(c / nd);
    return sum / nd;
  };
  const double ap_en = phi(c0) - phi(c1);
  const double chi2 = 2.0 * nd * (std::log(2) - ap_en);
  r.p_values.push_back({sub, igamc(std::pow(2, m - 1), chi2 / 2.0)});
  r.statistics = {{"ApEn", ap_en}, {"chi2", chi2}};
  return r;
}

namespace {
constexpr int kExcursionStates[8] = {-4, -3, -2, -1, 1, 2, 3, 4};
std::string state_name(int x) { return x < 0 ? "x=" + std::to_string(x) : "x=+" + std::to_string(x); }
}  // namespace

// 2.14 Random excursions.
TestResult random_excursions(const BitSequence& s, const RandomExcursionsParams& p) {
  TestResult r = make(TestId::kRandomExcursions);
  std::vector<std::string> subs;
  for (int x : kExcursionStates) subs.push_back(state_name(x));
  const uint64_t n = s.size();
  if (n == 0) return not_applicable(r, subs, "empty sequence");
  const kernels::Excursions ex = kernels::excursions(s);
  const double J = static_cast<double>(ex.cycles);
  r.statistics = {{"J", J}};
  if (p.require_min_cycles) {
    const double max_zeros = std::max(1000.0, std::floor(static_cast<double>(n) / 100));
    if (static_cast<double>(ex.zeros) > max_zeros) {
      return not_applicable(r, subs, "J exceeds STS's maximum number of cycles max(1000, n/100)");
    }
    const double constraint = std::max(0.005 * std::pow(static_cast<double>(n), 0.5), 500.0);
    if (J < constraint) {
      return not_applicable(r, subs, "J = " + ntos(ex.cycles) + " cycles < max(0.005 sqrt(n), 500) = " + gtos(constraint));
    }
  }
  if (ex.cycles == 0) return not_applicable(r, subs, "no cycles");
  warn_if(r, n < 1000000, "n = " + ntos(n) + " is below the recommended 10^6 bits");
  // STS 2.1.2's table of pi_k(x) (10 decimals), k = 0..5, |x| = 1..4.
  static constexpr double kPi[5][6] = {
      {0.0000000000, 0.00000000000, 0.00000000000, 0.00000000000, 0.00000000000, 0.0000000000},
      {0.5000000000, 0.25000000000, 0.12500000000, 0.06250000000, 0.03125000000, 0.0312500000},
      {0.7500000000, 0.06250000000, 0.04687500000, 0.03515625000, 0.02636718750, 0.0791015625},
      {0.8333333333, 0.02777777778, 0.02314814815, 0.01929012346, 0.01607510288, 0.0803755143},
      {0.8750000000, 0.01562500000, 0.01367187500, 0.01196289063, 0.01046752930, 0.0732727051}};
  for (int i = 0; i < 8; ++i) {
    const int ax = std::abs(kExcursionStates[i]);
    double sum = 0.0;
    for (int k = 0; k < 6; ++k) {
      sum += std::pow(static_cast<double>(ex.nu[k][i]) - J * kPi[ax][k], 2) / (J * kPi[ax][k]);
    }
    r.p_values.push_back({subs[i], igamc(2.5, sum / 2.0)});
    r.statistics.push_back({"chi2(" + subs[i] + ")", sum});
  }
  return r;
}

// 2.15 Random excursions variant.
TestResult random_excursions_variant(const BitSequence& s, const RandomExcursionsParams& p) {
  TestResult r = make(TestId::kRandomExcursionsVariant);
  std::vector<std::string> subs;
  std::vector<int> states;
  for (int x = -9; x <= 9; ++x)
    if (x != 0) {
      states.push_back(x);
      subs.push_back(state_name(x));
    }
  const uint64_t n = s.size();
  if (n == 0) return not_applicable(r, subs, "empty sequence");
  const kernels::Excursions ex = kernels::excursions(s);
  const double J = static_cast<double>(ex.cycles);
  r.statistics = {{"J", J}};
  if (p.require_min_cycles) {
    const auto constraint = static_cast<int64_t>(std::max(0.005 * std::pow(static_cast<double>(n), 0.5), 500.0));
    if (static_cast<int64_t>(ex.cycles) < constraint) {
      return not_applicable(r, subs, "J = " + ntos(ex.cycles) + " cycles < max(0.005 sqrt(n), 500) = " + gtos(constraint));
    }
  }
  if (ex.cycles == 0) return not_applicable(r, subs, "no cycles");
  warn_if(r, n < 1000000, "n = " + ntos(n) + " is below the recommended 10^6 bits");
  for (size_t j = 0; j < states.size(); ++j) {
    const double count = static_cast<double>(ex.visits[j]);
    const double x = std::fabs(static_cast<double>(states[j]));
    r.p_values.push_back({subs[j], std::erfc(std::fabs(count - J) / std::sqrt(2.0 * J * (4.0 * x - 2)))});
    r.statistics.push_back({"count(" + subs[j] + ")", count});
  }
  return r;
}

// 2.11 Serial: one pass of cyclic m-bit window counts; m-1 and m-2 by exact marginalization.
TestResult serial(const BitSequence& s, const SerialParams& p, const WindowCounts* shared) {
  TestResult r = make(TestId::kSerial);
  const int m = p.block_length;
  require(m >= 2 && m <= 24, "Serial block length m = " + std::to_string(m) + " (allowed: 2..24)");
  check_supported_length(TestId::kSerial, s.size());
  const uint64_t n = s.size();
  if (n == 0) return not_applicable(r, {"p_value1", "p_value2"}, "empty sequence");
  const double nd = static_cast<double>(n);
  warn_if(r, m >= static_cast<int>(std::floor(std::log2(nd))) - 2,
          "m = " + std::to_string(m) + " is not below floor(log2 n) - 2, as SP 800-22 recommends");
  auto psi2 = [&](const std::vector<uint32_t>& counts, int mm) {
    if (mm <= 0) return 0.0;
    double sum = 0.0;
    for (uint32_t c : counts) sum += std::pow(static_cast<double>(c), 2);
    return (sum * std::pow(2, mm) / nd) - nd;
  };
  const std::vector<uint32_t> c0 = counts_for(s, m, shared);
  const std::vector<uint32_t> c1 = kernels::marginalize_prefix(c0);
  const double psim0 = psi2(c0, m), psim1 = psi2(c1, m - 1);
  const double psim2 = m - 2 >= 1 ? psi2(kernels::marginalize_prefix(c1), m - 2) : 0.0;
  const double del1 = psim0 - psim1;
  const double del2 = psim0 - 2.0 * psim1 + psim2;
  r.p_values.push_back({"p_value1", igamc(std::pow(2, m - 1) / 2, del1 / 2.0)});
  r.p_values.push_back({"p_value2", igamc(std::pow(2, m - 2) / 2, del2 / 2.0)});
  r.statistics = {{"psi2_m", psim0}, {"psi2_m-1", psim1}, {"psi2_m-2", psim2}, {"del1", del1}, {"del2", del2}};
  return r;
}

// 2.10 Linear complexity.
TestResult linear_complexity(const BitSequence& s, const LinearComplexityParams& p) {
  TestResult r = make(TestId::kLinearComplexity);
  const uint64_t M = p.block_length;
  require(M >= 2 && M <= 100000, "LinearComplexity block length M = " + ntos(M) + " (allowed: 2..100000)");
  const std::string sub = "M=" + ntos(M);
  const uint64_t n = s.size(), N = n / M;
  if (N == 0) return not_applicable(r, {sub}, "n = " + ntos(n) + " < M = " + ntos(M) + ": no complete block");
  warn_if(r, M < 500 || M > 5000, "SP 800-22 recommends 500 <= M <= 5000");
  warn_if(r, N < 200, "N = " + ntos(N) + " blocks; SP 800-22 recommends N >= 200");
  constexpr int K = 6;
  const std::array<double, 7> pi =
      p.profile == Profile::kSts212
          ? std::array<double, 7>{0.01047, 0.03125, 0.12500, 0.50000, 0.25000, 0.06250, 0.020833}
          : std::array<double, 7>{1.0 / 96, 1.0 / 32, 1.0 / 8, 1.0 / 2, 1.0 / 4, 1.0 / 16, 1.0 / 48};
  const double Md = static_cast<double>(M);
  // 2.10.4 step (4): mu = M/2 + (9 + (-1)^(M+1))/36 - (M/3 + 2/9)/2^M; T = (-1)^M (L - mu) + 2/9.
  const double sign_mu = (M + 1) % 2 == 0 ? 1.0 : -1.0;
  const double mean = Md / 2.0 + (9.0 + sign_mu) / 36.0 - 1.0 / std::pow(2, Md) * (Md / 3.0 + 2.0 / 9.0);
  const double sign_t = M % 2 == 0 ? 1.0 : -1.0;
  std::array<uint64_t, 7> nu{};
  for (int L : kernels::linear_complexities(s, M, N)) {
    const double t = sign_t * (L - mean) + 2.0 / 9.0;
    if (t <= -2.5) ++nu[0];
    else if (t <= -1.5) ++nu[1];
    else if (t <= -0.5) ++nu[2];
    else if (t <= 0.5) ++nu[3];
    else if (t <= 1.5) ++nu[4];
    else if (t <= 2.5) ++nu[5];
    else ++nu[6];
  }
  double chi2 = 0.0;
  const double Nd = static_cast<double>(N);
  for (int i = 0; i < K + 1; ++i) chi2 += std::pow(nu[i] - Nd * pi[i], 2) / (Nd * pi[i]);
  r.p_values.push_back({sub, igamc(K / 2.0, chi2 / 2.0)});
  r.statistics = {{"N", Nd}, {"chi2", chi2}};
  for (int i = 0; i <= K; ++i) r.statistics.push_back({"nu" + std::to_string(i), static_cast<double>(nu[i])});
  return r;
}

std::optional<std::string> size_recommendation_unmet(TestId id, uint64_t n, const SuiteParams& p) {
  const std::string n_is = "n = " + ntos(n);
  switch (id) {
    case TestId::kFrequency:
    case TestId::kRuns:
    case TestId::kCumulativeSums:
      if (n < 100) return n_is + " < 100 bits (SP 800-22 2.1.7, 2.3.7, 2.13.7)";
      break;
    case TestId::kBlockFrequency: {
      // M > 0.01 n and N < 100 (also in 2.2.7) stay warnings: STS's default M = 128 breaks them at
      // n = 10^6, and they concern the power of the test, not the validity of its chi-square.
      const uint64_t M = p.block_frequency.block_length;
      if (n < 100) return n_is + " < 100 bits (SP 800-22 2.2.7)";
      if (M < 20) return "block length M = " + ntos(M) + " < 20 (SP 800-22 2.2.7)";
      break;
    }
    case TestId::kLongestRun: {
      uint64_t M = p.longest_run.block_length;
      if (M == 0) M = n < 6272 ? 8 : (n < 750000 ? 128 : 10000);
      const uint64_t min_n = M == 8 ? 128 : (M == 128 ? 6272 : 750000);
      if (n < min_n) return n_is + " < " + ntos(min_n) + " bits, the minimum for M = " + ntos(M) + " (SP 800-22 2.4.2)";
      break;
    }
    case TestId::kRank: {
      const uint64_t per = static_cast<uint64_t>(std::max(p.rank.rows, 1)) * static_cast<uint64_t>(std::max(p.rank.cols, 1));
      if (n / per < 38) {
        return "N = " + ntos(n / per) + " matrices < 38, n >= 38 M Q = " + ntos(38 * per) + " bits (SP 800-22 2.5.7)";
      }
      break;
    }
    case TestId::kFft:
      if (n < 1000) return n_is + " < 1000 bits (SP 800-22 2.6.7)";
      break;
    case TestId::kNonOverlappingTemplate: {
      const NonOverlappingTemplateParams& q = p.non_overlapping_template;
      if (q.blocks < 1 || q.template_length < 2 || q.template_length > 21) break;
      const uint64_t N = q.blocks, M = n / N;
      if (N > 100) return "N = " + ntos(N) + " blocks > 100 (SP 800-22 2.7.7)";
      // Each block's count W_j is compared with a normal law of mean mu = (M-m+1)/2^m: with a mean
      // below 5 (the usual condition for a chi-square, which 2.8.7 states for its classes) W_j is a
      // few small integers and the chi-square's tail is far from its nominal level.
      const double mu = (static_cast<double>(M) - q.template_length + 1) / std::pow(2.0, q.template_length);
      if (mu < 5) {
        return "mean count per block (M-m+1)/2^m = " + gtos(std::max(mu, 0.0)) + " < 5 with M = n/N = " + ntos(M) +
               ", m = " + std::to_string(q.template_length) + " (needs n >= " +
               ntos(N * (5 * (uint64_t{1} << q.template_length) + q.template_length - 1)) + " bits)";
      }
      break;
    }
    case TestId::kOverlappingTemplate: {
      const OverlappingTemplateParams& q = p.overlapping_template;
      if (q.template_length < 1 || q.template_length > 32 || q.classes < 1 || q.classes > 64 ||
          q.block_length < static_cast<uint64_t>(q.template_length)) {
        break;
      }
      const uint64_t N = n / q.block_length;
      const std::vector<double> pi = overlapping_pi(q);
      const double min_pi = *std::min_element(pi.begin(), pi.end());
      if (!(static_cast<double>(N) * min_pi > 5)) {
        return "N min(pi_i) = " + ntos(N) + " x " + gtos(min_pi) + " = " + gtos(static_cast<double>(N) * min_pi) +
               " is not above 5, N = n/M blocks of M = " + ntos(q.block_length) + " (SP 800-22 2.8.7; needs n >= " +
               ntos(q.block_length * (static_cast<uint64_t>(std::floor(5 / min_pi)) + 1)) + " bits)";
      }
      break;
    }
    case TestId::kUniversal: {
      const int L = p.universal.block_length;
      if (L < 1 || L > 16) break;  // automatic L meets the rules (or is not applicable in universal())
      const uint64_t Q = p.universal.init_blocks != 0 ? p.universal.init_blocks : 10 * (uint64_t{1} << L);
      const uint64_t blocks = n / static_cast<uint64_t>(L), K = blocks > Q ? blocks - Q : 0;
      if (Q < 10 * (uint64_t{1} << L)) return "Q = " + ntos(Q) + " < 10 2^L for L = " + std::to_string(L) + " (SP 800-22 2.9.7)";
      if (K < 1000 * (uint64_t{1} << L)) {
        return "K = " + ntos(K) + " test blocks < 1000 2^L for L = " + std::to_string(L) + " (SP 800-22 2.9.7)";
      }
      break;
    }
    case TestId::kApproximateEntropy: {
      const int m = p.approximate_entropy.block_length;
      const int bound = n == 0 ? 0 : static_cast<int>(std::bit_width(n)) - 1 - 5;  // floor(log2 n) - 5
      if (m >= bound) {
        return "m = " + std::to_string(m) + " is not below floor(log2 n) - 5 = " + std::to_string(bound) + " for " + n_is +
               " (SP 800-22 2.12.7; needs n >= 2^" + std::to_string(m + 6) + ")";
      }
      break;
    }
    case TestId::kSerial: {
      const int m = p.serial.block_length;
      const int bound = n == 0 ? 0 : static_cast<int>(std::bit_width(n)) - 1 - 2;  // floor(log2 n) - 2
      if (m >= bound) {
        return "m = " + std::to_string(m) + " is not below floor(log2 n) - 2 = " + std::to_string(bound) + " for " + n_is +
               " (SP 800-22 2.11.7; needs n >= 2^" + std::to_string(m + 3) + ")";
      }
      break;
    }
    case TestId::kLinearComplexity: {
      const uint64_t M = p.linear_complexity.block_length;
      if (M < 2) break;
      if (M < 500 || M > 5000) return "block length M = " + ntos(M) + " is outside 500..5000 (SP 800-22 2.10.7)";
      if (n / M < 200) return "N = " + ntos(n / M) + " blocks < 200 for M = " + ntos(M) + " (SP 800-22 2.10.7)";
      break;
    }
    case TestId::kRandomExcursions:
    case TestId::kRandomExcursionsVariant:
      break;  // their rule is on the number of cycles J, which the tests themselves apply
  }
  return std::nullopt;
}

namespace {
TestResult run_test_as_is(TestId id, const BitSequence& s, const SuiteParams& p, const WindowCounts* shared) {
  switch (id) {
    case TestId::kFrequency: return frequency(s);
    case TestId::kBlockFrequency: return block_frequency(s, p.block_frequency);
    case TestId::kCumulativeSums: return cumulative_sums(s);
    case TestId::kRuns: return runs(s);
    case TestId::kLongestRun: return longest_run(s, p.longest_run);
    case TestId::kRank: return rank(s, p.rank);
    case TestId::kFft: return fft(s);
    case TestId::kNonOverlappingTemplate: return non_overlapping_template(s, p.non_overlapping_template);
    case TestId::kOverlappingTemplate: return overlapping_template(s, p.overlapping_template);
    case TestId::kUniversal: return universal(s, p.universal);
    case TestId::kApproximateEntropy: return approximate_entropy(s, p.approximate_entropy, shared);
    case TestId::kRandomExcursions: return random_excursions(s, p.random_excursions);
    case TestId::kRandomExcursionsVariant: return random_excursions_variant(s, p.random_excursions);
    case TestId::kSerial: return serial(s, p.serial, shared);
    case TestId::kLinearComplexity: return linear_complexity(s, p.linear_complexity);
  }
  RNGFREE_CHECK(false, "unknown test id");
}
}  // namespace

TestResult run_test(TestId id, const BitSequence& s, const SuiteParams& p, const WindowCounts* shared) {
  TestResult r = run_test_as_is(id, s, p, shared);
  if (!p.apply_size_recommendations || !r.applicable) return r;
  if (std::optional<std::string> why = size_recommendation_unmet(id, s.size(), p)) {
    r.applicable = false;
    r.not_applicable_reason = *why;
    for (PValue& v : r.p_values) v.p_value.reset();
  }
  return r;
}

}  // namespace rngfree::nist
