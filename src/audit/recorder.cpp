// SiteRecorder (audit.hpp): per (site, window), the words SR consumed and Philox words for the same
// elements, reduced on the fly to counts, NIST bits and bias samples; finish() runs NIST SP 800-22
// (profile sts-2.1.2) on the harvest and on calibration Philox streams of the same size. Bias samples
// use quantize_reference (the spec) with the call's scale, so fixed:WL:dyn and bfp are exact.
#include <fmt/core.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <unordered_set>

#include "rngfree/atomic_file.hpp"
#include "rngfree/audit/audit.hpp"
#include "rngfree/error.hpp"
#include "rngfree/nist/special.hpp"
#include "rngfree/nist/suite.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::audit {

std::string SiteKey::layer_label() const { return layer_name.empty() ? std::to_string(layer) : layer_name; }

void AuditOptions::validate() const {
  (void)checked_integer("audit nist_bits (--bits)", nist_bits, kAuditNistBits);
  (void)checked_integer("audit sequences (--sequences)", sequences, kAuditSequences);
  const int64_t length = nist_bits / sequences;
  if (length < 1) {
    throw Error(fmt::format("audit sequences = {} exceeds nist_bits = {} (allowed: sequences <= nist_bits)", sequences,
                            nist_bits));
  }
  if (min_sequence_bits < 0 || min_sequence_bits > length) {
    throw Error(fmt::format("audit min_sequence_bits = {} (allowed: 0 (the atlas's rule) or 1 .. nist_bits/sequences = {})",
                            min_sequence_bits, length));
  }
  if (sample_per_call < 1) throw Error(fmt::format("audit sample_per_call = {} (allowed: >= 1)", sample_per_call));
  (void)checked_integer("audit calibration_streams (--calibration)", calibration_streams, kAuditCalibration);
  (void)checked_integer("audit threads (--threads)", threads, kAuditThreads);
}

std::vector<uint8_t> pack_random_bits(std::span<const uint32_t> words, int random_bits) {
  RNGFREE_CHECK(random_bits >= 1 && random_bits <= 32, "pack_random_bits: random_bits must be 1..32");
  const int64_t bits = static_cast<int64_t>(words.size()) * random_bits;
  std::vector<uint8_t> out(static_cast<size_t>((bits + 7) / 8), 0);
  int64_t pos = 0;
  for (uint32_t w : words) {
    for (int b = random_bits - 1; b >= 0; --b, ++pos) {
      if ((w >> b) & 1U) out[static_cast<size_t>(pos >> 3)] |= static_cast<uint8_t>(0x80U >> (pos & 7));
    }
  }
  return out;
}

int nist_failure_units(std::span<const nist::ProportionRow> rows) {
  int units = 0;
  bool walk = false, excursions = false;
  for (const nist::ProportionRow& row : rows) {
    if (row.ok()) continue;
    switch (row.test) {
      case nist::TestId::kFrequency:
      case nist::TestId::kCumulativeSums: walk = true; break;
      case nist::TestId::kRandomExcursions:
      case nist::TestId::kRandomExcursionsVariant: excursions = true; break;
      default: ++units;
    }
  }
  return units + (walk ? 1 : 0) + (excursions ? 1 : 0);
}

bool nist_rule(int rows_failed, double expected_false_alarms, double calibration_mean_rows_failed,
               bool decisive_failure) {
  if (decisive_failure) return false;
  if (rows_failed <= 0) return true;
  const double lambda = std::max(expected_false_alarms, calibration_mean_rows_failed);
  if (!(lambda > 0)) return false;
  // P(N >= rows_failed) for N ~ Poisson(lambda) is the regularized lower incomplete gamma P(k, lambda).
  return nist::igam(static_cast<double>(rows_failed), lambda) >= 0.001;
}

bool bias_rule(double bias_h, double se_h, double bias_p, double se_p) {
  if (!std::isfinite(bias_h) || !std::isfinite(bias_p)) return true;  // no samples: not judged
  return std::abs(bias_h - bias_p) <= 4.0 * std::sqrt(se_h * se_h + se_p * se_p);
}

bool correlation_rule(double correlation, int64_t samples) {
  if (!std::isfinite(correlation) || samples < 2) return true;  // undefined (a constant side): not judged
  return std::abs(correlation) <= 4.0 / std::sqrt(static_cast<double>(samples));
}

namespace {

// Distinct r values: a bitmap of 2^R bits for R <= 24, else a hash set that stops at kDistinctCap.
class DistinctCounter {
 public:
  explicit DistinctCounter(int r_bits) : r_bits_(r_bits) {}
  void add(uint32_t r) {
    if (r_bits_ <= 24) {
      if (bitmap_.empty()) bitmap_.assign((size_t{1} << r_bits_) / 64 + 1, 0);
      uint64_t& w = bitmap_[r >> 6];
      const uint64_t bit = uint64_t{1} << (r & 63);
      count_ += (w & bit) == 0;
      w |= bit;
      return;
    }
    if (capped_) return;
    if (set_.insert(r).second) ++count_;
    if (count_ >= kDistinctCap) {
      capped_ = true;
      set_.clear();
    }
  }
  int64_t count() const { return count_; }
  bool capped() const { return capped_; }

 private:
  int r_bits_;
  std::vector<uint64_t> bitmap_;
  std::unordered_set<uint32_t> set_;
  int64_t count_ = 0;
  bool capped_ = false;
};

// Bits appended most significant first into 64-bit words (BitSequence's layout), up to a capacity.
class BitBuffer {
 public:
  explicit BitBuffer(int64_t capacity) : capacity_(capacity) {}
  bool full() const { return size_ >= capacity_; }
  // Appends the top min(width, room) of the `width`-bit value v.
  void push(uint64_t v, int width) {
    const int64_t room = capacity_ - size_;
    if (room <= 0) return;
    if (room < width) {
      v >>= width - room;
      width = static_cast<int>(room);
    }
    const int used = static_cast<int>(size_ & 63);
    if (used == 0) words_.push_back(0);
    const int free = 64 - used;
    if (width <= free) {
      words_.back() |= v << (free - width);
    } else {
      words_.back() |= v >> (width - free);
      words_.push_back(v << (64 - (width - free)));
    }
    size_ += width;
  }
  int64_t size() const { return size_; }
  const std::vector<uint64_t>& words() const { return words_; }

 private:
  int64_t capacity_;
  int64_t size_ = 0;
  std::vector<uint64_t> words_;
};

// Running mean and variance of a, b and their covariance (Welford).
struct Moments {
  int64_t n = 0;
  double mean_a = 0, mean_b = 0, m2_a = 0, m2_b = 0, c_ab = 0;
  void add(double a, double b) {
    ++n;
    const double da = a - mean_a;
    mean_a += da / static_cast<double>(n);
    const double db = b - mean_b;
    mean_b += db / static_cast<double>(n);
    m2_a += da * (a - mean_a);
    m2_b += db * (b - mean_b);
    c_ab += da * (b - mean_b);
  }
  double se_a() const { return n >= 2 ? std::sqrt(m2_a / static_cast<double>(n - 1) / static_cast<double>(n)) : NAN; }
  double correlation() const {
    if (n < 2 || !(m2_a > 0) || !(m2_b > 0)) return NAN;
    return c_ab / std::sqrt(m2_a * m2_b);
  }
};

// One word source's running counts.
struct SourceCounts {
  explicit SourceCounts(int r_bits) : distinct(r_bits) {}
  int64_t words = 0, zero_words = 0;
  DistinctCounter distinct;
  Moments bias;         // a = bias in steps, b = unused
  Moments correlation;  // a = r / 2^R, b = SR fraction
  void count(uint32_t r) {
    ++words;
    zero_words += r == 0;
    distinct.add(r);
  }
};

uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Keeps the characters safe in a file name.
std::string file_part(const std::string& s) {
  std::string out;
  for (char c : s) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-') ? c : '_';
  return out.empty() ? std::string("_") : out;
}

constexpr int64_t kChunk = 4096;  // Philox words drawn per step of add()

__extension__ typedef unsigned __int128 u128;

// One group of sequences (the harvest, or one calibration stream) through the suite's summary.
struct GroupSummary {
  int judged = 0, passed = 0;
  int failed_units = 0;  // nist_failure_units: failing rows, correlated families counted once
  double expected_false_alarms = 0;
  std::vector<std::string> failing_tests;
  std::set<std::pair<int, std::string>> failing_rows;   // (test, sub-test) of the rows that fail
  std::set<std::pair<int, std::string>> decisive_rows;  // failing beyond chance on their own
};

// P(passes <= x) for passes ~ Bin(k, p).
double binomial_lower_tail(uint64_t k, uint64_t x, double p) {
  const double kd = static_cast<double>(k);
  double sum = 0;
  for (uint64_t j = 0; j <= x; ++j) {
    const double jd = static_cast<double>(j);
    sum += std::exp(nist::log_gamma(kd + 1) - nist::log_gamma(jd + 1) - nist::log_gamma(kd - jd + 1) +
                    jd * std::log(p) + (kd - jd) * std::log1p(-p));
  }
  return std::min(1.0, sum);
}

GroupSummary summarize_group(const std::vector<std::vector<nist::TestResult>>& results) {
  GroupSummary g;
  const nist::SuiteReport rep = nist::summarize(results);
  g.expected_false_alarms = rep.expected_false_alarms;
  std::map<nist::TestId, std::pair<int, int>> fails;  // test -> (failed rows, rows)
  std::vector<nist::TestId> order;
  for (const nist::ProportionRow& row : rep.rows) g.judged += row.sequences > 0;
  // nist::summarize's decisive criterion, per row: a tail probability below 0.001 / judged rows.
  const double decisive = 0.001 / std::max(g.judged, 1);
  for (const nist::ProportionRow& row : rep.rows) {
    auto [it, fresh] = fails.try_emplace(row.test, 0, 0);
    if (fresh) order.push_back(row.test);
    ++it->second.second;
    if (row.sequences == 0) continue;
    if (row.ok()) {
      ++g.passed;
      continue;
    }
    ++it->second.first;
    const auto id = std::make_pair(static_cast<int>(row.test), row.sub_test);
    g.failing_rows.insert(id);
    const bool low = row.proportion < row.lower;
    const double tail = row.proportion_ok ? 1.0
                        : low ? binomial_lower_tail(row.sequences, row.passed, 1.0 - rep.alpha)
                              : binomial_lower_tail(row.sequences, row.sequences - row.passed, rep.alpha);
    const double unif = row.uniformity_ok ? 1.0 : row.uniformity_p.value_or(1.0);
    if (tail < decisive || unif < decisive) g.decisive_rows.insert(id);
  }
  g.failed_units = nist_failure_units(rep.rows);
  for (nist::TestId t : order) {
    const auto [failed, rows] = fails[t];
    if (failed == 0) continue;
    g.failing_tests.push_back(rows == 1 ? std::string(nist::test_name(t))
                                        : fmt::format("{}({}/{})", nist::test_name(t), failed, rows));
  }
  return g;
}

// A decisive row counts unless some calibration stream fails the same row: then the row is not
// calibrated at this size (e.g. a chi-square with expected counts below 1), not the source's fault.
bool decisive_against(const GroupSummary& g, const std::vector<const GroupSummary*>& calibration) {
  for (const auto& row : g.decisive_rows) {
    const bool excused = std::any_of(calibration.begin(), calibration.end(),
                                     [&](const GroupSummary* c) { return c->failing_rows.count(row) > 0; });
    if (!excused) return true;
  }
  return false;
}

// STS 2.1.2's parameters, with SP 800-22's recommended block lengths where a sequence is too short for
// its defaults: ApproximateEntropy m < floor(log2 n) - 5 (section 2.12.7), Serial m < floor(log2 n) - 2
// (section 2.11.7). At 10^6 bits both stay at STS's defaults (10 and 16).
nist::SuiteParams suite_params(int64_t n) {
  nist::SuiteParams p;
  p.set_profile(nist::Profile::kSts212);
  const int log2n = static_cast<int>(std::floor(std::log2(static_cast<double>(std::max<int64_t>(n, 2)))));
  p.approximate_entropy.block_length = std::clamp(log2n - 6, 1, p.approximate_entropy.block_length);
  p.serial.block_length = std::clamp(log2n - 3, 2, p.serial.block_length);
  return p;
}

std::vector<nist::BitSequence> cut(const std::vector<uint64_t>& words, int64_t bits, int sequences, int64_t length) {
  const nist::BitSequence all = nist::BitSequence::from_words(words, static_cast<uint64_t>(bits));
  std::vector<nist::BitSequence> out;
  for (int j = 0; j < sequences; ++j) {
    out.push_back(all.slice(static_cast<uint64_t>(j) * static_cast<uint64_t>(length), static_cast<uint64_t>(length)));
  }
  return out;
}

double ones_fraction(const std::vector<nist::BitSequence>& seqs) {
  uint64_t ones = 0, total = 0;
  for (const auto& s : seqs) {
    ones += s.count_ones();
    total += s.size();
  }
  return total ? static_cast<double>(ones) / static_cast<double>(total) : NAN;
}

}  // namespace

struct SiteRecorder::State {
  SiteKey key;
  Format format;
  Rounding rounding;
  AuditOptions options;
  int r_bits = 0;
  uint32_t mask = 0;
  uint64_t philox_site = 0;  // calibration stream c uses splitmix64_mix(philox_site + c)
  int64_t calls = 0, values = 0;
  SourceCounts harvest, philox;
  BitBuffer bits;
  Moments truncation;  // a = expected truncation bias in steps
  bool finished = false;
  std::vector<uint32_t> philox_words = std::vector<uint32_t>(kChunk);

  State(SiteKey k, Format f, Rounding r, const AuditOptions& o)
      : key(std::move(k)), format(f), rounding(r), options(o), r_bits(r.random_bits),
        mask(r.random_bits == 32 ? 0xFFFFFFFFu : ((uint32_t{1} << r.random_bits) - 1)),
        harvest(r.random_bits), philox(r.random_bits), bits(o.nist_bits) {
    uint64_t h = fnv1a(std::to_string(key.layer));
    for (const std::string* s : {&key.layer_name, &key.site, &key.window}) h = fnv1a("|" + *s, h);
    philox_site = h;
  }
  uint64_t stream_site(int c) const { return random::splitmix64_mix(philox_site + static_cast<uint64_t>(c)); }
};

SiteRecorder::SiteRecorder(SiteKey key, Format format, Rounding rounding, const AuditOptions& options) {
  format.validate();
  rounding.validate();
  options.validate();
  if (!rounding.is_stochastic()) {
    throw Error(fmt::format("audit site {}.{}: rounding '{}' is not stochastic (allowed: stochastic:R, R = 1..32)",
                            key.layer_label(), key.site, rounding.name()));
  }
  state_ = std::make_unique<State>(std::move(key), format, rounding, options);
}

SiteRecorder::~SiteRecorder() = default;
SiteRecorder::SiteRecorder(SiteRecorder&&) noexcept = default;
SiteRecorder& SiteRecorder::operator=(SiteRecorder&&) noexcept = default;

const SiteKey& SiteRecorder::key() const { return state_->key; }

void SiteRecorder::add(std::span<const float> in, std::span<const uint32_t> words) {
  State& s = *state_;
  RNGFREE_CHECK(!s.finished, "SiteRecorder::add after finish");
  RNGFREE_CHECK(in.size() == words.size(), "SiteRecorder::add: one word per value is required");
  const int64_t n = static_cast<int64_t>(in.size());
  if (n == 0) return;
  const int64_t position = s.values;  // Philox word index of element 0 of this call
  ++s.calls;
  s.values += n;

  // The call's scale: fixed:WL:dyn from the whole span, bfp per block (computed when first sampled).
  const FormatKind kind = s.format.kind;
  int call_exponent = 0;
  if (kind == FormatKind::kFixedDynamic) call_exponent = dynamic_step_exponent(in, s.format);
  int64_t cached_block = -1;
  int block_exponent = 0;
  const Rounding down{RoundingKind::kDown, 0}, up{RoundingKind::kUp, 0};
  const bool magnitude_rule = kind == FormatKind::kFloat || kind == FormatKind::kBlockFloat;
  const double two_r = std::ldexp(1.0, s.r_bits);

  const int64_t samples = std::min(n, s.options.sample_per_call);
  int64_t k = 0;  // next sample: element floor(k·n/samples)
  auto sample_index = [&](int64_t j) {
    return static_cast<int64_t>(static_cast<u128>(j) * static_cast<u128>(n) / static_cast<u128>(samples));
  };
  for (int64_t begin = 0; begin < n; begin += kChunk) {
    const int64_t len = std::min(kChunk, n - begin);
    std::span<uint32_t> pw(s.philox_words.data(), static_cast<size_t>(len));
    random::philox_fill(s.options.seed, s.stream_site(0), static_cast<uint64_t>(position + begin), pw);
    for (int64_t i = 0; i < len; ++i) {
      const uint32_t r = words[static_cast<size_t>(begin + i)] & s.mask;
      s.harvest.count(r);
      if (!s.bits.full()) s.bits.push(r, s.r_bits);
      s.philox.count(pw[static_cast<size_t>(i)] & s.mask);
    }
    for (; k < samples; ++k) {
      const int64_t i = sample_index(k);
      if (i >= begin + len) break;
      const float x = in[static_cast<size_t>(i)];
      if (!std::isfinite(x)) continue;
      int exponent = call_exponent;
      if (kind == FormatKind::kBlockFloat) {
        const int64_t block = i / s.format.block_size;
        if (block != cached_block) {
          const int64_t b0 = block * s.format.block_size, b1 = std::min(n, b0 + s.format.block_size);
          block_exponent = dynamic_step_exponent(in.subspan(static_cast<size_t>(b0), static_cast<size_t>(b1 - b0)),
                                                 s.format);
          cached_block = block;
        }
        exponent = block_exponent;
      }
      if (exponent == kNoScaleStepExponent) continue;  // the span/block is returned unchanged
      const float lo = quantize_reference(x, s.format, down, 0, exponent);
      const float hi = quantize_reference(x, s.format, up, 0, exponent);
      if (!(std::isfinite(lo) && std::isfinite(hi)) || lo == hi) continue;  // representable or saturated
      // Differences of FP32 values within one step are exact in double, and the step is a power of two.
      const double step = static_cast<double>(hi) - static_cast<double>(lo);
      const double frac_up = (static_cast<double>(x) - static_cast<double>(lo)) / step;
      // The fraction SR rounds: of the magnitude for float and bfp, of the two's complement value for fixed.
      const bool negative_magnitude = magnitude_rule && x < 0;
      const double frac = negative_magnitude ? 1.0 - frac_up : frac_up;
      const double sign = negative_magnitude ? -1.0 : 1.0;
      const double truncation = sign * (std::floor(frac * two_r) / two_r - frac);
      s.truncation.add(truncation, 0);
      const uint32_t words_of_x[2] = {words[static_cast<size_t>(i)], s.philox_words[static_cast<size_t>(i - begin)]};
      SourceCounts* sources[2] = {&s.harvest, &s.philox};
      for (int src = 0; src < 2; ++src) {
        const float q = quantize_reference(x, s.format, s.rounding, words_of_x[src], exponent);
        RNGFREE_CHECK(q == lo || q == hi, "SR result is not one of the two neighbours");
        sources[src]->bias.add((static_cast<double>(q) - static_cast<double>(x)) / step, 0);
        sources[src]->correlation.add(static_cast<double>(words_of_x[src] & s.mask) / two_r, frac);
      }
    }
  }
}

SiteResult SiteRecorder::finish() {
  State& s = *state_;
  RNGFREE_CHECK(!s.finished, "SiteRecorder::finish called twice");
  s.finished = true;
  const auto t0 = std::chrono::steady_clock::now();
  const AuditOptions& o = s.options;

  SiteResult res;
  res.key = s.key;
  res.format = s.format.name();
  res.rounding = s.rounding.name();
  res.random_bits = s.r_bits;
  res.calls = s.calls;
  res.values = s.values;
  res.truncation_bias_steps = s.truncation.n > 0 ? s.truncation.mean_a : NAN;

  auto fill_counts = [&](SourceStats& st, const SourceCounts& c) {
    st.words = c.words;
    st.zero_words = c.zero_words;
    st.zero_share = c.words ? static_cast<double>(c.zero_words) / static_cast<double>(c.words) : NAN;
    st.distinct = c.distinct.count();
    st.distinct_capped = c.distinct.capped();
    st.bias_samples = c.bias.n;
    st.bias_steps = c.bias.n > 0 ? c.bias.mean_a : NAN;
    st.bias_se = c.bias.se_a();
    st.correlation = c.correlation.correlation();
  };
  fill_counts(res.harvest, s.harvest);
  fill_counts(res.philox, s.philox);

  // Sizing (the atlas's rule): sequences of nist_bits/sequences bits, shorter when fewer were collected,
  // not judged below the minimum.
  const int64_t available = s.bits.size();
  const int64_t target = o.nist_bits / o.sequences;
  const int64_t length = available < target * o.sequences ? available / o.sequences : target;
  const int64_t min_length =
      o.min_sequence_bits > 0 ? o.min_sequence_bits : std::max<int64_t>(target / 10, std::min<int64_t>(target, 20'000));
  for (SourceStats* st : {&res.harvest, &res.philox}) {
    st->nist_bits_available = available;
    st->sequences = o.sequences;
    st->sequence_bits = length;
  }
  res.nist_judged = length >= std::max<int64_t>(min_length, 1);
  if (res.nist_judged) {
    const int64_t tested = length * o.sequences;
    std::vector<nist::BitSequence> all = cut(s.bits.words(), available, o.sequences, length);
    const double h_ones = ones_fraction(all);
    // Calibration streams: the low R bits of the first words of Philox streams, as many bits as the harvest's.
    const int64_t cal_words = (tested + s.r_bits - 1) / s.r_bits;
    std::vector<uint32_t> words(static_cast<size_t>(cal_words));
    double p_ones = NAN;
    for (int c = 0; c < o.calibration_streams; ++c) {
      random::philox_fill(o.seed, s.stream_site(c), 0, words);
      BitBuffer b(tested);
      for (uint32_t w : words) b.push(w & s.mask, s.r_bits);
      std::vector<nist::BitSequence> seqs = cut(b.words(), tested, o.sequences, length);
      if (c == 0) p_ones = ones_fraction(seqs);
      for (auto& q : seqs) all.push_back(std::move(q));
    }
    nist::SuiteOptions so;
    so.params = suite_params(length);
    so.threads = o.threads;
    const auto results = nist::run_suite(all, so);
    std::vector<GroupSummary> groups;
    for (int g = 0; g <= o.calibration_streams; ++g) {
      const auto first = results.begin() + static_cast<std::ptrdiff_t>(g) * o.sequences;
      groups.push_back(summarize_group({first, first + o.sequences}));
    }
    double cal_failed = 0;
    for (int c = 1; c <= o.calibration_streams; ++c) {
      res.calibration_rows_passed.push_back(groups[c].passed);
      res.calibration_rows_judged.push_back(groups[c].judged);
      cal_failed += groups[c].failed_units;
    }
    res.calibration_mean_rows_failed = cal_failed / o.calibration_streams;
    std::vector<const GroupSummary*> calibration;
    for (int c = 1; c <= o.calibration_streams; ++c) calibration.push_back(&groups[c]);
    auto fill_nist = [&](SourceStats& st, const GroupSummary& g, bool decisive, double ones) {
      st.nist_judged = true;
      st.nist_rows_judged = g.judged;
      st.nist_rows_passed = g.passed;
      st.expected_false_alarms = g.expected_false_alarms;
      st.decisive_failure = decisive;
      st.failing_tests = g.failing_tests;
      st.ones_fraction = ones;
    };
    // A calibration stream's decisive rows are judged against the other streams.
    auto others = [&](int c) {
      std::vector<const GroupSummary*> v;
      for (int d = 1; d <= o.calibration_streams; ++d) {
        if (d != c) v.push_back(&groups[d]);
      }
      return v;
    };
    const bool h_decisive = decisive_against(groups[0], calibration);
    fill_nist(res.harvest, groups[0], h_decisive, h_ones);
    fill_nist(res.philox, groups[1], decisive_against(groups[1], others(1)), p_ones);
    res.nist_ok = nist_rule(groups[0].failed_units, groups[0].expected_false_alarms,
                            res.calibration_mean_rows_failed, h_decisive);
    for (int c = 1; c <= o.calibration_streams; ++c) {
      res.calibration_ok = res.calibration_ok && nist_rule(groups[c].failed_units,
                                                           groups[c].expected_false_alarms,
                                                           res.calibration_mean_rows_failed,
                                                           decisive_against(groups[c], others(c)));
    }
  }
  res.bias_ok = bias_rule(res.harvest.bias_steps, res.harvest.bias_se, res.philox.bias_steps, res.philox.bias_se);
  res.correlation_ok = correlation_rule(res.harvest.correlation, res.harvest.bias_samples);

  if (!res.nist_ok) {
    res.failures.push_back(fmt::format(
        "NIST: {} of {} rows passed (calibration: {:.1f} rows fail on average){}{}", res.harvest.nist_rows_passed,
        res.harvest.nist_rows_judged, res.calibration_mean_rows_failed,
        res.harvest.decisive_failure ? "; a row fails far beyond chance" : "",
        res.harvest.failing_tests.empty() ? "" : "; failing: " + [&] {
          std::string t;
          for (size_t i = 0; i < res.harvest.failing_tests.size() && i < 6; ++i) t += (i ? ", " : "") + res.harvest.failing_tests[i];
          if (res.harvest.failing_tests.size() > 6) t += ", ...";
          return t;
        }()));
  }
  if (!res.bias_ok) {
    res.failures.push_back(fmt::format("bias: {:.4g} ± {:.2g} steps, Philox {:.4g} ± {:.2g}: the difference exceeds "
                                       "4 standard errors",
                                       res.harvest.bias_steps, res.harvest.bias_se, res.philox.bias_steps,
                                       res.philox.bias_se));
  }
  if (!res.correlation_ok) {
    res.failures.push_back(fmt::format("correlation of r with the fraction rounded: {:.3f} over {} samples (allowed "
                                       "|corr| <= 4/sqrt(N) = {:.3f}): the words depend on the values",
                                       res.harvest.correlation, res.harvest.bias_samples,
                                       4.0 / std::sqrt(static_cast<double>(res.harvest.bias_samples))));
  }

  if (!o.dump_dir.empty()) {
    const auto& w = s.bits.words();
    std::string bytes(static_cast<size_t>((available + 7) / 8), '\0');
    for (size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<char>(static_cast<uint8_t>(w[i / 8] >> (56 - 8 * (i % 8))));
    }
    res.dump_path = (std::filesystem::path(o.dump_dir) /
                     fmt::format("{}.{}.{}.bin", file_part(s.key.layer_label()), file_part(s.key.site),
                                 file_part(s.key.window)))
                        .string();
    write_file_atomic(res.dump_path, bytes);
  }
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace rngfree::audit
