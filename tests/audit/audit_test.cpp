// The audit's statistics engine against independent numbers: a generator's words pass, constant
// words and words equal to the fraction bits fail (NIST/bias, correlation); bias and truncation bias
// of hand-built inputs equal exact rational values; counts of a hand-made word list; the raw dump's
// bytes; the verdict rules on hand-computed Poisson tails; the JSON's required fields.
#include "rngfree/audit/audit.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <random>

#include "rngfree/error.hpp"
#include "rngfree/nist/bit_sequence.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::audit {
namespace {

// Small NIST runs: 10 sequences of 20,000 bits (the atlas's minimum sequence length for that size),
// 2 calibration streams.
AuditOptions small_options() {
  AuditOptions o;
  o.nist_bits = 200'000;
  o.sequences = 10;
  o.calibration_streams = 2;
  o.threads = 2;
  return o;
}

SiteKey key(const std::string& site = "E", const std::string& window = "early") {
  return SiteKey{1, "conv1", site, window, "test"};
}

// Values uniformly spread over [-4, 4), not on the fixed:8:4 grid (most are inexact).
std::vector<float> uniform_values(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-4.0f, 4.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

const Format kFixed84 = Format::parse("fixed:8:4");

TEST(Audit, GeneratorWordsPassEveryCheck) {
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:16"), small_options());
  auto gen = random::make_generator("xoshiro128pp", 7);
  for (int call = 0; call < 5; ++call) {
    const std::vector<float> x = uniform_values(4000, 100 + call);
    std::vector<uint32_t> w(x.size());
    gen->fill(w);
    rec.add(x, w);
  }
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.words, 20'000);
  ASSERT_TRUE(r.nist_judged);
  EXPECT_EQ(r.harvest.sequence_bits, 20'000);
  // At 20,000 bits SP 800-22's input-size recommendations (docs/nist.md) leave 10 rows: Frequency,
  // BlockFrequency, CumulativeSums (2), Runs, LongestRun, FFT, ApproximateEntropy, Serial (2);
  // NonOverlappingTemplate needs about 20,544 bits, Rank 38,912, the others far more.
  EXPECT_EQ(r.harvest.nist_rows_judged, 10);
  EXPECT_TRUE(r.nist_ok) << r.harvest.nist_rows_passed << "/" << r.harvest.nist_rows_judged;
  EXPECT_TRUE(r.bias_ok);
  EXPECT_TRUE(r.correlation_ok);
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(r.calibration_ok);
  EXPECT_EQ(r.calibration_rows_passed.size(), 2u);
  // 20,000 uniform draws of 16 bits: 65536 (1 - (1 - 2^-16)^20000) = 17236.4 distinct values
  // expected (sd about 40), and 20000 / 65536 = 0.31 zero words.
  EXPECT_NEAR(static_cast<double>(r.harvest.distinct), 17236.4, 250);
  EXPECT_NEAR(static_cast<double>(r.philox.distinct), 17236.4, 250);
  EXPECT_LE(r.harvest.zero_words, 4);
  // About 7/8 of uniform values on [-4, 4) are inexact in fixed:8:4 (float has 20+ fraction bits).
  EXPECT_GT(r.harvest.bias_samples, 19'000);
  // Ideal 16-bit SR: bias = truncation bias, of order -2^-17 — tiny next to the standard error.
  EXPECT_LT(std::abs(r.harvest.bias_steps), 4 * r.harvest.bias_se);
  EXPECT_LT(std::abs(r.truncation_bias_steps), 2e-5);
}

TEST(Audit, GeneratorsPassAtTheSmallestJudgedSize) {
  // 10 sequences of 20,000 bits (the atlas's smallest judged size for these options): three
  // generators, three seeds each, must pass every check. There STS's fixed Serial m = 16 would have
  // expected pattern counts below 1; the audit uses SP 800-22's recommended block lengths.
  for (const char* spec : {"xoshiro128pp", "mt19937", "philox"}) {
    for (uint64_t seed : {2u, 3u, 4u}) {
      SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:16"), small_options());
      auto gen = random::make_generator(spec, seed);
      const std::vector<float> x = uniform_values(12'500, static_cast<uint32_t>(seed));
      std::vector<uint32_t> w(x.size());
      gen->fill(w);
      rec.add(x, w);
      const SiteResult r = rec.finish();
      ASSERT_TRUE(r.nist_judged);
      EXPECT_TRUE(r.ok()) << spec << " seed " << seed << ": " << r.harvest.nist_rows_passed << "/"
                          << r.harvest.nist_rows_judged << (r.failures.empty() ? "" : " " + r.failures[0]);
    }
  }
}

TEST(Audit, ConstantWordsFailNistAndBias) {
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:16"), small_options());
  const std::vector<float> x = uniform_values(20'000, 5);
  const std::vector<uint32_t> w(x.size(), 0xABCD1234u);  // r = 0x1234: rounds up only when frac >= 0.93
  rec.add(x, w);
  const SiteResult r = rec.finish();
  ASSERT_TRUE(r.nist_judged);
  EXPECT_FALSE(r.nist_ok);
  EXPECT_TRUE(r.harvest.decisive_failure);
  EXPECT_FALSE(r.bias_ok);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.harvest.distinct, 1);
  EXPECT_EQ(r.harvest.zero_words, 0);
  // The constant r rounds x up iff frac >= 1 - 0x1234/2^16 = 0.9289...: mean bias over uniform frac is
  // E[1{frac >= c}] - E[frac] = (1 - c) - 1/2 = 0.0711 - 0.5 = -0.4289.
  EXPECT_NEAR(r.harvest.bias_steps, 0x1234 / 65536.0 - 0.5, 0.02);
  EXPECT_FALSE(r.failures.empty());
}

TEST(Audit, WordsEqualToTheFractionCorrelateAndFail) {
  // x = (lo + u/2^8)·step with u in 1..255: the top 8 fraction bits are exactly u; the word is u.
  AuditOptions o = small_options();
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:8"), o);
  std::mt19937 gen(3);
  std::vector<float> x(25'000);
  std::vector<uint32_t> w(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const int lo = static_cast<int>(gen() % 64) - 32;
    const uint32_t u = 1 + gen() % 255;
    x[i] = static_cast<float>((lo + u / 256.0) / 16.0);
    w[i] = u;
  }
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_GT(r.harvest.correlation, 0.99);  // r/2^8 equals the fraction exactly
  EXPECT_LT(std::abs(r.philox.correlation), 4 / std::sqrt(25'000.0));
  EXPECT_FALSE(r.correlation_ok);
  EXPECT_FALSE(r.ok());
}

TEST(Audit, BiasOfAKnownFixedInputIsExact) {
  // fixed:8:4 (step 1/16), x = 1 + 3/8 step, R = 2: f = floor(3/8 · 4) = 1, so x rounds up iff r = 3.
  // Words 0..3 evenly: bias = (3·(-3/8) + 5/8) / 4 = -1/8 step; the R-bit truncation bias is
  // floor(3/2)/4 - 3/8 = -1/8 too. Samples: 300 of -3/8, 100 of 5/8: sum of squared deviations from
  // -1/8 is 300/16 + 100·9/16 = 75, so se = sqrt(75 / 399 / 400).
  AuditOptions o = small_options();
  o.sample_per_call = 1000;
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:2"), o);
  const std::vector<float> x(400, 1.0f + 3.0f / 128.0f);
  std::vector<uint32_t> w(400);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint32_t>(i % 4) | 0xFFFF0000u;  // high bits ignored
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.bias_samples, 400);
  EXPECT_DOUBLE_EQ(r.harvest.bias_steps, -0.125);
  EXPECT_NEAR(r.harvest.bias_se, std::sqrt(75.0 / 399.0 / 400.0), 1e-12);
  EXPECT_DOUBLE_EQ(r.truncation_bias_steps, -0.125);
  EXPECT_FALSE(r.nist_judged);  // 800 bits: too few; judged on bias and correlation
  EXPECT_TRUE(std::isnan(r.harvest.correlation));  // one value: the fraction does not vary
}

TEST(Audit, BiasOfANegativeFloatIsOnTheMagnitude) {
  // bf16 around 1 has step 2^-7. x = -(1 + 5/16 step): the magnitude's fraction 5/16, R = 2:
  // f = floor(5/4) = 1, away from zero iff r = 3. Signed q - x: toward zero +5/16 step (3 of 4),
  // away -11/16 step: mean (15/16 - 11/16)/4 = +1/16. Truncation: -(1/4 - 5/16) = +1/16.
  AuditOptions o = small_options();
  SiteRecorder rec(key(), Format::parse("bf16"), Rounding::parse("stochastic:2"), o);
  const std::vector<float> x(8, -(1.0f + 5.0f / 2048.0f));
  const std::vector<uint32_t> w = {0, 1, 2, 3, 3, 2, 1, 0};
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.bias_samples, 8);
  EXPECT_DOUBLE_EQ(r.harvest.bias_steps, 1.0 / 16);
  EXPECT_DOUBLE_EQ(r.truncation_bias_steps, 1.0 / 16);
}

TEST(Audit, TruncationBiasAveragesTheSampledFractions) {
  // fixed:8:4, R = 2. Fractions 1/4 (two bits: no truncation, 0), 3/8 (0.011b: 1/4 - 3/8 = -1/8),
  // 7/8 (0.111b: 3/4 - 7/8 = -1/8); 2.0 is representable and not sampled. Mean: -1/12.
  AuditOptions o = small_options();
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:2"), o);
  const std::vector<float> x = {1.0f + 1.0f / 64, -2.0f + 3.0f / 128, 2.0f, 0.5f + 7.0f / 128};
  const std::vector<uint32_t> w = {0, 1, 2, 3};
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.bias_samples, 3);
  EXPECT_DOUBLE_EQ(r.truncation_bias_steps, -1.0 / 12);
}

TEST(Audit, DynamicFixedUsesTheWholeCallsStep) {
  // fixed:8:dyn on {3, 0.1f}: max 3, e = 1, FL = 8 - 2 - 1 = 5, step 1/32; 3 is exact, 0.1f is
  // 3.2000000477 steps: R = 2 gives f = 0, truncation bias -(0.1f·32 - 3). (A scale taken from 0.1f
  // alone, step 2^-10, would give the fraction 0.4 and f = 1 instead.)
  AuditOptions o = small_options();
  SiteRecorder rec(key(), Format::parse("fixed:8:dyn"), Rounding::parse("stochastic:2"), o);
  const std::vector<float> x = {3.0f, 0.1f};
  const std::vector<uint32_t> w = {0, 0};
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.bias_samples, 1);
  EXPECT_DOUBLE_EQ(r.truncation_bias_steps, -(static_cast<double>(0.1f) * 32 - 3));
  EXPECT_DOUBLE_EQ(r.harvest.bias_steps, -(static_cast<double>(0.1f) * 32 - 3));  // r = 0: rounds down
}

TEST(Audit, SamplesAreBoundedPerCall) {
  AuditOptions o = small_options();
  o.sample_per_call = 10;
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:8"), o);
  const std::vector<float> x(1000, 0.01f);  // 0.16 steps: inexact everywhere
  const std::vector<uint32_t> w(1000, 7);
  rec.add(x, w);
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.bias_samples, 20);
  EXPECT_EQ(r.harvest.words, 2000);
  EXPECT_EQ(r.calls, 2);
}

TEST(Audit, CountsOfAHandMadeWordList) {
  // R = 4: low nibbles 0, 1, 0, 3, 3, 5, 0 -> 3 zero words, distinct {0, 1, 3, 5}.
  SiteRecorder rec(key(), kFixed84, Rounding::parse("stochastic:4"), small_options());
  const std::vector<uint32_t> w = {0x10, 0x21, 0x00, 0xF3, 0x13, 0x05, 0x1F0};
  const std::vector<float> x(w.size(), 1.5f);
  rec.add(x, w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(r.harvest.words, 7);
  EXPECT_EQ(r.harvest.zero_words, 3);
  EXPECT_DOUBLE_EQ(r.harvest.zero_share, 3.0 / 7);
  EXPECT_EQ(r.harvest.distinct, 4);
  EXPECT_EQ(r.harvest.bias_samples, 0);  // 1.5 is on the grid
  EXPECT_EQ(r.philox.words, 7);

  // R = 28 (hash set): low 28 bits 1, 2^27, 1, 2^28 - 1, 0 -> distinct 4, one zero.
  SiteRecorder wide(key(), kFixed84, Rounding::parse("stochastic:28"), small_options());
  const std::vector<uint32_t> w2 = {1, 1u << 27, 0xF0000001u, 0x0FFFFFFFu, 0x10000000u};
  wide.add(std::vector<float>(w2.size(), 1.5f), w2);
  const SiteResult r2 = wide.finish();
  EXPECT_EQ(r2.harvest.distinct, 4);
  EXPECT_EQ(r2.harvest.zero_words, 1);
  EXPECT_FALSE(r2.harvest.distinct_capped);
}

TEST(Audit, DumpHoldsTheLowBitsMostSignificantFirst) {
  // R = 3: 5 -> 101, 3 -> 011, 0xFF -> 111, 8 -> 000: 1010 1111 1000 (+ 0000 padding) = AF 80.
  const std::vector<uint32_t> w = {5, 3, 0xFF, 8};
  const std::vector<uint8_t> expected = {0xAF, 0x80};
  EXPECT_EQ(pack_random_bits(w, 3), expected);

  const std::filesystem::path dir = std::filesystem::path(RNGFREE_BINARY_DIR) / "audit_test_dump";
  std::filesystem::remove_all(dir);
  AuditOptions o = small_options();
  o.dump_dir = dir.string();
  SiteRecorder rec(key("G", "late"), kFixed84, Rounding::parse("stochastic:3"), o);
  rec.add(std::vector<float>(w.size(), 0.3f), w);
  const SiteResult r = rec.finish();
  EXPECT_EQ(std::filesystem::path(r.dump_path).filename(), "conv1.G.late.bin");
  std::ifstream in(r.dump_path, std::ios::binary);
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(bytes, expected);
  // As `rngfree nist --input binary` reads it.
  EXPECT_EQ(nist::BitSequence::from_bytes(bytes, 12).to_string(), "101011111000");
  std::filesystem::remove_all(dir);
}

// Invariant: rows of one walk fail together and count once per family (Frequency + CumulativeSums;
// RandomExcursions + RandomExcursionsVariant); every other failing row counts; not-applicable rows
// (no sequences) never count.
TEST(Audit, FailureUnitsCountCorrelatedFamiliesOnce) {
  auto row = [](nist::TestId t, bool ok, uint64_t sequences = 10) {
    nist::ProportionRow r;
    r.test = t;
    r.sequences = sequences;
    r.proportion_ok = ok;
    return r;
  };
  using T = nist::TestId;
  std::vector<nist::ProportionRow> rows;
  EXPECT_EQ(nist_failure_units(rows), 0);
  for (int i = 0; i < 8; ++i) rows.push_back(row(T::kRandomExcursions, i % 2 == 0));
  for (int i = 0; i < 18; ++i) rows.push_back(row(T::kRandomExcursionsVariant, i < 12));
  EXPECT_EQ(nist_failure_units(rows), 1);  // 4 + 6 failing excursion rows: one unit
  rows.push_back(row(T::kFrequency, false));
  rows.push_back(row(T::kCumulativeSums, false));
  rows.push_back(row(T::kCumulativeSums, false));
  EXPECT_EQ(nist_failure_units(rows), 2);  // the walk's three rows: one more
  rows.push_back(row(T::kNonOverlappingTemplate, false));
  rows.push_back(row(T::kNonOverlappingTemplate, false));
  rows.push_back(row(T::kRuns, false));
  rows.push_back(row(T::kSerial, true));
  rows.push_back(row(T::kFft, false, 0));  // not applicable: ok() whatever the proportion
  EXPECT_EQ(nist_failure_units(rows), 5);
}

TEST(Audit, VerdictRulesOnHandComputedTails) {
  // Poisson(0.8): P(N >= 5) = 0.001411, P(N >= 6) = 0.000184; Poisson(0.5): P(N >= 5) = 0.000172
  // (1 - sum of the pmf).
  EXPECT_TRUE(nist_rule(0, 0.0, 0.0, false));
  EXPECT_TRUE(nist_rule(5, 0.8, 0.0, false));
  EXPECT_FALSE(nist_rule(6, 0.8, 0.0, false));
  EXPECT_FALSE(nist_rule(5, 0.5, 0.0, false));
  EXPECT_TRUE(nist_rule(5, 0.5, 0.8, false));  // the calibration's mean raises lambda to 0.8
  EXPECT_FALSE(nist_rule(0, 0.8, 0.8, true));  // a decisive row fails on its own
  // Bias: 4 sqrt(0.02^2 + 0.01^2) = 0.0894.
  EXPECT_TRUE(bias_rule(0.08, 0.02, 0.0, 0.01));
  EXPECT_FALSE(bias_rule(0.1, 0.02, 0.0, 0.01));
  EXPECT_TRUE(bias_rule(NAN, NAN, NAN, NAN));  // no samples: not judged
  // Correlation: 4/sqrt(10000) = 0.04.
  EXPECT_TRUE(correlation_rule(0.039, 10'000));
  EXPECT_FALSE(correlation_rule(-0.041, 10'000));
  EXPECT_TRUE(correlation_rule(NAN, 10'000));
}

TEST(Audit, BadOptionsAndNonStochasticRoundingAreRejectedByName) {
  AuditOptions o;
  o.sequences = 0;
  try {
    o.validate();
    FAIL() << "sequences = 0 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "audit sequences (--sequences) 0: allowed 1..1000");
  }
  o = AuditOptions{};
  o.calibration_streams = 0;
  EXPECT_THROW(o.validate(), Error);
  o = AuditOptions{};
  o.nist_bits = 10;
  EXPECT_THROW(o.validate(), Error);
  try {
    SiteRecorder rec(key(), kFixed84, Rounding::parse("nearest-even"), AuditOptions{});
    FAIL() << "nearest-even accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("nearest-even"), std::string::npos) << e.what();
  }
}

TEST(Audit, ReportWritersCarryTheRequiredFields) {
  AuditReport rep;
  rep.command = "rngfree audit --model lenet5";
  rep.model = "lenet5";
  rep.preset = "int8-sr-harvest";
  rep.options = small_options();
  {
    SiteRecorder rec(key("E", "early"), kFixed84, Rounding::parse("stochastic:2"), rep.options);
    std::vector<uint32_t> w(400);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<uint32_t>(i % 4);
    rec.add(std::vector<float>(400, 1.0f + 3.0f / 128.0f), w);
    rep.sites.push_back(rec.finish());
  }
  {
    SiteRecorder rec(key("G", "late"), kFixed84, Rounding::parse("stochastic:2"), rep.options);
    rec.add(std::vector<float>(400, 1.0f + 3.0f / 128.0f), std::vector<uint32_t>(400, 0));  // always down
    rep.sites.push_back(rec.finish());
  }
  ASSERT_TRUE(rep.sites[0].ok());
  ASSERT_FALSE(rep.sites[1].ok());  // bias -3/8 vs Philox's about -1/8
  EXPECT_FALSE(rep.ok());

  const nlohmann::json j = nlohmann::json::parse(to_json(rep));
  EXPECT_EQ(j.at("verdict"), "fail");
  ASSERT_EQ(j.at("sites").size(), 2u);
  for (const auto& s : j.at("sites")) {
    for (const char* field : {"layer", "site", "window", "source", "nist_rows_passed", "nist_rows_judged",
                              "bias_steps", "verdict", "harvest", "philox", "calibration"}) {
      EXPECT_TRUE(s.contains(field)) << field;
    }
    EXPECT_TRUE(s.at("nist_rows_passed").is_number_integer());
    EXPECT_TRUE(s.at("bias_steps").is_number_float());
  }
  EXPECT_EQ(j.at("sites")[0].at("verdict"), "pass");
  EXPECT_EQ(j.at("sites")[1].at("verdict"), "fail");
  EXPECT_EQ(j.at("sites")[1].at("site"), "G");
  EXPECT_DOUBLE_EQ(j.at("sites")[1].at("bias_steps").get<double>(), -0.375);
  EXPECT_TRUE(j.at("calibration").contains("streams"));

  const std::string md = to_markdown(rep);
  EXPECT_NE(md.find("**conv1.G (late)** fails: bias"), std::string::npos) << md;
  const std::string csv = to_csv(rep);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 3);
  const std::string svg = to_svg(rep);
  EXPECT_NE(svg.find(">conv1.E<"), std::string::npos);
  EXPECT_NE(svg.find(">n/j<"), std::string::npos);

  const std::filesystem::path dir = std::filesystem::path(RNGFREE_BINARY_DIR) / "audit_test_report";
  std::filesystem::remove_all(dir);
  write_report(rep, dir.string());
  for (const char* f : {"audit.md", "audit.csv", "audit.svg", "audit.json"}) {
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace rngfree::audit
