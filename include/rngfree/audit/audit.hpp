// The audit's statistics engine (DESIGN.md "audit"): per (layer, site, window), the words that a
// stochastic rounding site consumed are judged against a Philox generator fed the same values —
// NIST SP 800-22 on their low R bits (docs/formats.md: r = the low R bits of each word), the share
// of r = 0, distinct r values, the SR bias in steps and the correlation of r with the fraction it
// rounds. No libtorch: the trainer hands over plain spans. docs/audit.md states the verdict rules.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rngfree/format.hpp"
#include "rngfree/nist/suite.hpp"
#include "rngfree/number_input.hpp"
#include "rngfree/rounding.hpp"

namespace rngfree::audit {

// Which rounding site a recorder watches. `window` names a span of training steps ("early",
// "middle", "late"); `source` describes where the words came from (e.g. "harvest:err lo=0..15").
struct SiteKey {
  int layer = 0;               // index of the layer in the model
  std::string layer_name;      // e.g. "conv1"; may be empty
  std::string site;            // "W", "A", "E", "G", "U", ...
  std::string window;          // "early", "middle", "late", ...
  std::string source;          // description of the word source
  // layer_name if set, else the layer index: the "layer" part of "layer.site" labels and file names.
  std::string layer_label() const;
};

// The allowed ranges of AuditOptions' numbers (validate() and the command-line flags check these).
inline constexpr IntRange<int64_t> kAuditNistBits{1000, 1'000'000'000};
inline constexpr IntRange<int> kAuditSequences{1, 1000};
inline constexpr IntRange<int> kAuditCalibration{1, 64};
inline constexpr IntRange<int> kAuditThreads{1, 1024};

struct AuditOptions {
  // NIST: at most nist_bits harvested bits, cut into `sequences` sequences of nist_bits/sequences.
  // With fewer bits collected, the sequences shrink to collected/sequences bits each; below
  // min_sequence_bits they are not tested ("not judged"). 0: the atlas's rule,
  // max(L/10, min(L, 20000)) with L = nist_bits/sequences (100,000 for the defaults).
  int64_t nist_bits = 10'000'000;      // 1000 .. 10^9
  int sequences = 10;                  // 1 .. 1000; >= 55 also judges the uniformity of P-values
  int64_t min_sequence_bits = 0;       // 0 or 1 .. nist_bits/sequences
  int64_t sample_per_call = 1 << 16;   // bias samples per add(): at most this many, evenly spread; >= 1
  int calibration_streams = 4;         // independent Philox streams run through NIST; 1 .. 64
  uint64_t seed = 1;                   // Philox key of the calibration
  int threads = 1;                     // NIST worker threads in finish(); >= 1
  std::string dump_dir;                // non-empty: finish() writes <layer>.<site>.<window>.bin here
  // Throws rngfree::Error naming the field, its value and the allowed range.
  void validate() const;
};

// Statistics of one word source at one site: the harvest, or the Philox calibration fed the same
// values. Counts cover every word add() received; NIST covers the first nist_bits bits.
struct SourceStats {
  int64_t words = 0;            // words consumed (one per rounded element)
  int64_t zero_words = 0;       // words whose low R bits are all zero (r = 0: never rounds away)
  double zero_share = 0;        // zero_words / words (expected 2^-R for a uniform source)
  int64_t distinct = 0;         // distinct r values seen (exact; a lower bound if distinct_capped)
  bool distinct_capped = false; // R > 24 and more than kDistinctCap distinct values: counting stopped

  // NIST SP 800-22 (profile sts-2.1.2, alpha 0.01) on sequences x sequence_bits bits; below 2^20
  // bits ApproximateEntropy's and Serial's block lengths follow SP 800-22's recommendations
  // (m < floor(log2 n) - 5 and m < floor(log2 n) - 2) instead of STS's fixed 10 and 16.
  bool nist_judged = false;     // false: too few bits (see AuditOptions::min_sequence_bits)
  int64_t nist_bits_available = 0;  // low-R bits collected (capped at nist_bits)
  int sequences = 0;
  int64_t sequence_bits = 0;
  int nist_rows_judged = 0;     // P-value rows with at least one applicable sequence
  int nist_rows_passed = 0;     // judged rows passing the proportion (and, k >= 55, uniformity) check
  double expected_false_alarms = 0;  // the suite's exact expectation of failing rows for an ideal source
  bool decisive_failure = false;     // a row fails beyond chance on its own, and no calibration stream fails it
  std::vector<std::string> failing_tests;  // e.g. "Frequency", "NonOverlappingTemplate(3/148)"
  double ones_fraction = 0;     // share of ones in the tested bits

  // SR bias, over the sampled values that are neither representable nor saturated.
  int64_t bias_samples = 0;
  double bias_steps = 0;        // mean of (Q_sr(x) - x) / (up - down)
  double bias_se = 0;           // its standard error, sd / sqrt(samples)
  double correlation = 0;       // Pearson correlation of r/2^R with the SR fraction; NaN if undefined
};

// The verdict of one (site, window) and everything it rests on.
struct SiteResult {
  SiteKey key;
  std::string format;            // Format::name()
  std::string rounding;          // Rounding::name()
  int random_bits = 0;           // R
  int64_t calls = 0;             // add() calls
  int64_t values = 0;            // elements rounded
  SourceStats harvest;
  SourceStats philox;            // calibration stream 0: the same values, Philox words
  // NIST rows passed of each calibration stream (stream 0 first), same size as the harvest.
  std::vector<int> calibration_rows_passed;
  std::vector<int> calibration_rows_judged;
  double calibration_mean_rows_failed = 0;
  // Expected SR bias of R-bit SR for the same samples, from the fractions alone (an ideal source):
  // the mean of sign·(floor(frac·2^R)/2^R - frac) — frac the fraction SR rounds (magnitude for
  // float and bfp formats, sign = that of x; two's complement for fixed, sign = +1).
  double truncation_bias_steps = 0;

  // Verdicts. nist_judged false: the site is judged on bias and correlation only.
  bool nist_judged = false;
  bool nist_ok = true;
  bool bias_ok = true;
  bool correlation_ok = true;
  bool calibration_ok = true;    // every calibration stream passes the NIST rule (else: warning)
  bool ok() const { return nist_ok && bias_ok && correlation_ok; }
  std::vector<std::string> failures;  // plain-language reasons, empty when ok()
  std::string dump_path;              // the raw bit file, when AuditOptions::dump_dir was set
  double seconds = 0;                 // wall time of finish()
};

// Distinct values are counted exactly with a bitmap for R <= 24, with a hash set up to this many
// values for larger R.
inline constexpr int64_t kDistinctCap = int64_t{1} << 20;

// Collects one (site, window). Not thread-safe: one recorder per (site, window), one caller.
class SiteRecorder {
 public:
  // rounding must be stochastic:R. Throws rngfree::Error for a non-stochastic rounding, an invalid
  // format or invalid options.
  SiteRecorder(SiteKey key, Format format, Rounding rounding, const AuditOptions& options = {});
  ~SiteRecorder();
  SiteRecorder(SiteRecorder&&) noexcept;
  SiteRecorder& operator=(SiteRecorder&&) noexcept;

  // One rounding call: in = the exact values of the tensor rounded (the whole span the kernel saw:
  // fixed:WL:dyn and bfp take their scale from it), words = the words SR consumed for them, word i
  // for element i (same size). Also draws Philox words for the same elements (the calibration).
  void add(std::span<const float> in, std::span<const uint32_t> words);

  // Runs NIST on the harvested bits and on calibration_streams Philox streams of the same size, and
  // judges the site. Writes the raw dump if options.dump_dir is set. Call once.
  SiteResult finish();

  const SiteKey& key() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The low R bits of each word, most significant first, in order, packed MSB-first into bytes (the
// last byte padded with zero bits): the layout `rngfree nist --input binary` reads.
std::vector<uint8_t> pack_random_bits(std::span<const uint32_t> words, int random_bits);

// Failing rows of a NIST report counted as failure units: rows that are statistics of the same
// +-1 walk and fail together count once per family — Frequency and both CumulativeSums rows are one
// unit (seen with Philox at 10 x 20,000 bits: all three at 8/10), the 8 RandomExcursions and 18
// RandomExcursionsVariant rows another (the same cycles of the same walk, judged on the few
// sequences with J >= 500; 6 of 60 Philox streams at 10 x 10^6 bits failed 6-8 of them at once).
// Every other failing row is a unit of its own.
int nist_failure_units(std::span<const nist::ProportionRow> rows);

// Verdict rules, exposed for the report and for tests.
// NIST: the harvest passes unless a row fails decisively or P(Poisson(lambda) >= failure units)
// < 0.001 (nist_failure_units), with lambda = max(the suite's exact expectation for the harvest's judged rows, the mean
// number of failing rows over the calibration streams). A row is decisive as in nist::summarize
// (tail probability below 0.001 / judged rows) unless a calibration stream fails the same row
// (then the row is miscalibrated at this size, not the source's fault); finish() computes that.
bool nist_rule(int rows_failed, double expected_false_alarms, double calibration_mean_rows_failed,
               bool decisive_failure);
// Bias: |b_h - b_p| <= 4 sqrt(se_h^2 + se_p^2). Correlation: |corr| <= 4/sqrt(N) (NaN: not judged).
bool bias_rule(double bias_h, double se_h, double bias_p, double se_p);
bool correlation_rule(double correlation, int64_t samples);

// One audit: the sites' results and what ran them.
struct AuditReport {
  std::string command;   // the command line
  std::string model;
  std::string preset;
  AuditOptions options;
  std::vector<SiteResult> sites;
  bool ok() const;       // every site passes
};

// The writers (deterministic text). write_report writes audit.md, audit.csv, audit.svg and
// audit.json into `dir` (created if missing), each atomically.
std::string to_markdown(const AuditReport& report);
std::string to_csv(const AuditReport& report);
std::string to_svg(const AuditReport& report);
std::string to_json(const AuditReport& report);
void write_report(const AuditReport& report, const std::string& dir);

}  // namespace rngfree::audit
