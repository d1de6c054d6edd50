// The 15 statistical tests of NIST SP 800-22 Rev 1a (sections 2.1-2.15), one function each, with
// NIST STS 2.1.2's defaults. Profile kSts212 reproduces STS 2.1.2's P-values (including its
// constants); kCorrected replaces three wrong constants (LongestRun M=10000 class probabilities,
// LinearComplexity pi_0, OverlappingTemplate probabilities per Hamano-Kaneko). A test that STS
// would not evaluate for lack of data is "not applicable" with a reason, never a P-value of 0; run_test
// (the suite) also marks a test not applicable where SP 800-22's input-size rules fail (2.x.7).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rngfree/nist/bit_sequence.hpp"

namespace rngfree::nist {

enum class Profile { kSts212, kCorrected };
std::string_view profile_name(Profile p);           // "sts-2.1.2", "corrected"
Profile parse_profile(std::string_view name);       // throws rngfree::Error naming the allowed values

enum class TestId {
  kFrequency,
  kBlockFrequency,
  kCumulativeSums,
  kRuns,
  kLongestRun,
  kRank,
  kFft,
  kNonOverlappingTemplate,
  kOverlappingTemplate,
  kUniversal,
  kApproximateEntropy,
  kRandomExcursions,
  kRandomExcursionsVariant,
  kSerial,
  kLinearComplexity,
};
inline constexpr int kNumTests = 15;
// All 15, in STS's order (the order above).
const std::array<TestId, kNumTests>& all_tests();
std::string_view test_name(TestId id);   // "Frequency", ..., "LinearComplexity"
TestId parse_test_name(std::string_view name);  // exact name or 1-based STS number; throws rngfree::Error

struct PValue {
  std::string sub_test;           // "" for a single-valued test; else e.g. "forward", "B=000000001", "x=-4", "p_value1"
  std::optional<double> p_value;  // empty: not applicable
};

struct TestResult {
  TestId test = TestId::kFrequency;
  bool applicable = true;
  std::string not_applicable_reason;
  std::vector<PValue> p_values;  // always the full list of sub-tests (empty values when not applicable)
  std::vector<std::pair<std::string, double>> statistics;  // e.g. {"chi2", 7.2}, {"N", 10}
  std::vector<std::string> warnings;
  std::optional<double> statistic(std::string_view name) const;
};

struct BlockFrequencyParams { uint64_t block_length = 128; };
struct LongestRunParams {
  Profile profile = Profile::kSts212;
  uint64_t block_length = 0;  // 0: STS's choice from n (8, 128 or 10000); else 8, 128 or 10000
};
struct RankParams { int rows = 32, cols = 32; };  // cols <= 64
struct NonOverlappingTemplateParams {
  int template_length = 9;             // m, 2..21
  uint64_t blocks = 8;                 // N
  std::vector<uint32_t> templates;     // empty: all aperiodic templates of length m (148 for m = 9)
};
struct OverlappingTemplateParams {
  Profile profile = Profile::kSts212;
  int template_length = 9;        // m: the template is m ones
  uint64_t block_length = 1032;   // M
  int classes = 5;                // K (degrees of freedom)
};
struct UniversalParams {
  int block_length = 0;         // L: 0 chooses STS's L from n (not applicable below 387,840 bits); else 1..16
  uint64_t init_blocks = 0;     // Q: 0 means 10 * 2^L
};
struct ApproximateEntropyParams { int block_length = 10; };
struct SerialParams { int block_length = 16; };
struct LinearComplexityParams {
  Profile profile = Profile::kSts212;
  uint64_t block_length = 500;  // M
};
struct RandomExcursionsParams {
  // STS's rule: not applicable when J < max(0.005 sqrt(n), 500). Off: evaluate any J >= 1 (for the
  // spec's small worked examples).
  bool require_min_cycles = true;
};

TestResult frequency(const BitSequence& s);
TestResult block_frequency(const BitSequence& s, const BlockFrequencyParams& p = {});
TestResult cumulative_sums(const BitSequence& s);
TestResult runs(const BitSequence& s);
TestResult longest_run(const BitSequence& s, const LongestRunParams& p = {});
TestResult rank(const BitSequence& s, const RankParams& p = {});
TestResult fft(const BitSequence& s);
TestResult non_overlapping_template(const BitSequence& s, const NonOverlappingTemplateParams& p = {});
TestResult overlapping_template(const BitSequence& s, const OverlappingTemplateParams& p = {});
TestResult universal(const BitSequence& s, const UniversalParams& p = {});
// Cyclic m-bit window counts of one sequence (kernels::cyclic_window_counts), shared by the tests that
// need them for an m up to `m` (smaller m by exact marginalization): run_suite computes them once per
// sequence for Serial and ApproximateEntropy. The results equal those computed without sharing.
struct WindowCounts {
  int m = 0;
  std::vector<uint32_t> counts;
};
WindowCounts window_counts(const BitSequence& s, int m);

TestResult approximate_entropy(const BitSequence& s, const ApproximateEntropyParams& p = {},
                               const WindowCounts* shared = nullptr);
TestResult random_excursions(const BitSequence& s, const RandomExcursionsParams& p = {});
TestResult random_excursions_variant(const BitSequence& s, const RandomExcursionsParams& p = {});
TestResult serial(const BitSequence& s, const SerialParams& p = {}, const WindowCounts* shared = nullptr);
TestResult linear_complexity(const BitSequence& s, const LinearComplexityParams& p = {});

// Class probabilities of the Rank test for a random rows x cols GF(2) matrix (SP 800-22 section 3.5):
// {rank = min(M,Q), rank = min(M,Q) - 1, any lower rank}; the last is the sum over ranks 0..min-2
// (so it is accurate for tall matrices, where 1 - the other two cancels). Throws for shapes that
// rank() refuses.
std::array<double, 3> rank_class_probabilities(int rows, int cols);

// Exact class probabilities of the overlapping template test (occurrences 0..K-1 and >= K of m ones
// in M random bits), by a Markov chain; the corrected profile uses them (for m = 9, M = 1032, K = 5
// they round to Hamano and Kaneko's values in SP 800-22 Rev 1a section 3.8).
std::vector<double> overlapping_class_probabilities_exact(int m, uint64_t M, int K);

// All parameters of a suite run.
struct SuiteParams {
  BlockFrequencyParams block_frequency;
  LongestRunParams longest_run;
  RankParams rank;
  NonOverlappingTemplateParams non_overlapping_template;
  OverlappingTemplateParams overlapping_template;
  UniversalParams universal;
  ApproximateEntropyParams approximate_entropy;
  RandomExcursionsParams random_excursions;
  SerialParams serial;
  LinearComplexityParams linear_complexity;
  // run_test marks a test "not applicable" where SP 800-22's input-size recommendations that its
  // reference distribution rests on fail (size_recommendation_unmet). Off: STS 2.1.2's behaviour,
  // which evaluates any input with enough bits for the formula.
  bool apply_size_recommendations = true;
  void set_profile(Profile p) {
    longest_run.profile = overlapping_template.profile = linear_complexity.profile = p;
  }
};
// Runs one test with the suite's parameters (and shared window counts, if given); when
// p.apply_size_recommendations, a test whose size recommendations fail comes back not applicable
// (its sub-tests listed without P-values, its statistics kept, the reason from size_recommendation_unmet).
TestResult run_test(TestId id, const BitSequence& s, const SuiteParams& p = {}, const WindowCounts* shared = nullptr);

// SP 800-22 Rev 1a's input-size recommendations (sections 2.x.7) on which the validity of test `id`'s
// reference distribution rests, for an n-bit sequence: the reason it is not applicable, or empty when
// they hold (also empty for parameters the test itself rejects). The rules, per test (docs/nist.md):
// Frequency, BlockFrequency, Runs, CumulativeSums n >= 100; BlockFrequency M >= 20; LongestRun n at
// least 128, 6272 or 750,000 for M = 8, 128, 10000; Rank N >= 38 matrices; FFT n >= 1000;
// NonOverlappingTemplate N <= 100 and mean count (M-m+1)/2^m >= 5; OverlappingTemplate N min(pi) > 5;
// Universal (fixed L) Q >= 10 2^L and K >= 1000 2^L; ApproximateEntropy m < floor(log2 n) - 5;
// Serial m < floor(log2 n) - 2; LinearComplexity 500 <= M <= 5000 and N >= 200. STS 2.1.2's
// default parameters meet all of them at n = 10^6. The per-test functions do not apply them (they
// evaluate the spec's small worked examples), they warn instead.
std::optional<std::string> size_recommendation_unmet(TestId id, uint64_t n, const SuiteParams& p = {});

// The largest count a kernel's 32-bit counter holds (ones per block, template occurrences per block,
// cyclic window counts): 2^32 - 1.
inline constexpr uint64_t kMaxCount = 0xFFFFFFFFu;
// Throws rngfree::Error, naming the test, the length (n, or the block length M) and the limit, when
// test `id` with parameters `p` cannot evaluate an n-bit sequence: a count could pass kMaxCount
// (Serial and ApproximateEntropy for n > 2^32 - 1; BlockFrequency, NonOverlappingTemplate and
// OverlappingTemplate for a block length M > 2^32 - 1), or FFT for n >= 2^31 (FFTW's int sizes). Every
// test calls it first; it takes only the length, so callers can check before reading the data.
void check_supported_length(TestId id, uint64_t n, const SuiteParams& p = {});

}  // namespace rngfree::nist
