// Tests of the randomness atlas (src/train/atlas.cpp, issue 6): bit accumulation against a naive
// bit-by-bit reference; a constant tap must fail the Frequency test and uniformly random mantissas
// (from std::mt19937_64, not from the project's generators) must pass; and an end-to-end quick run on
// a small synthetic IDX dataset, whose output is checked against counts computed here independently.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/nist/suite.hpp"
#include "rngfree/train/atlas.hpp"
#include "rngfree/train/optimizer.hpp"

namespace rngfree::train {
namespace {

namespace fs = std::filesystem;

// Bits of MSB-first bytes, one per element: the plain reference.
std::vector<int> reference_bits(const std::vector<uint8_t>& bytes, int64_t bits) {
  std::vector<int> out;
  for (int64_t i = 0; i < bits; ++i) out.push_back((bytes[static_cast<size_t>(i / 8)] >> (7 - i % 8)) & 1);
  return out;
}

// Invariant: appending byte streams of odd bit lengths keeps exactly their bits, in order, up to the
// capacity; offered() counts every bit offered.
TEST(AtlasBits, AppendBytesMatchesBitByBitReference) {
  std::mt19937_64 rng(7);
  BitAccumulator acc(5000);
  std::vector<int> expect;
  int64_t offered = 0;
  for (int round = 0; round < 60; ++round) {
    const int64_t bits = static_cast<int64_t>(rng() % 300);  // 0..299 bits: every alignment
    std::vector<uint8_t> bytes(static_cast<size_t>((bits + 7) / 8));
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    acc.append_bytes(bytes, bits);
    offered += bits;
    for (int v : reference_bits(bytes, bits)) {
      if (static_cast<int64_t>(expect.size()) < 5000) expect.push_back(v);
    }
  }
  ASSERT_GT(offered, 5000);  // the capacity was reached
  ASSERT_EQ(acc.size(), static_cast<int64_t>(expect.size()));
  EXPECT_EQ(acc.offered(), offered);
  EXPECT_TRUE(acc.full());
  for (int64_t i = 0; i < acc.size(); ++i) ASSERT_EQ(acc.bit(i), expect[static_cast<size_t>(i)]) << "bit " << i;
}

// Invariant: append_words writes each word's low `width` bits, most significant first.
TEST(AtlasBits, AppendWordsTakesLowBitsMsbFirst) {
  BitAccumulator acc(1000);
  const std::vector<uint32_t> words = {0xABCDu, 0x0001u, 0xFFFF8000u};
  acc.append_words(words, 16);
  // 0xABCD = 1010 1011 1100 1101; 0x0001; 0x8000 (low 16 bits of the third word)
  const std::string expect = "1010101111001101" "0000000000000001" "1000000000000000";
  ASSERT_EQ(acc.size(), 48);
  for (int i = 0; i < 48; ++i) EXPECT_EQ(acc.bit(i), expect[static_cast<size_t>(i)] - '0') << "bit " << i;
  EXPECT_EQ(acc.count_ones(), 10 + 1 + 1);  // popcount(0xABCD) = 10
  EXPECT_EQ(acc.count_zero_groups(16), 0);
  EXPECT_EQ(acc.count_zero_groups(8), 2);    // bytes AB CD 00 01 80 00: two zero bytes
  acc.append_words(std::vector<uint32_t>{0x10000u}, 16);  // low 16 bits are 0
  EXPECT_EQ(acc.count_zero_groups(16), 1);
  EXPECT_EQ(acc.count_zero_groups(8), 4);
  BitAccumulator one(10);
  one.append_words(std::vector<uint32_t>{1, 2, 3, 4}, 1);  // low bit of each: 1 0 1 0
  ASSERT_EQ(one.size(), 4);
  EXPECT_EQ(one.bit(0), 1);
  EXPECT_EQ(one.bit(1), 0);
  EXPECT_EQ(one.bit(2), 1);
  EXPECT_EQ(one.bit(3), 0);
}

// Invariant: the grid is what docs/atlas.md lists: bits 0..15 alone (fold 1, zeros kept and skipped),
// low 4/8/16 words x fold 1/2/4 x zeros kept/skipped, and whitened words (low8/w, low16/w, low16/w8) x
// fold 1/2/4 x zeros kept/skipped — 68 distinct extractors with distinct names.
TEST(AtlasGrid, FullGridIsTheDocumentedSixtyEight) {
  const auto g = atlas_extractor_grid(false);
  std::set<std::tuple<int, int, int64_t, bool, bool, int>> want, got;
  for (bool skip : {false, true}) {
    for (int b = 0; b < 16; ++b) want.insert({b, b, 1, skip, false, 0});
    for (int w : {4, 8, 16}) {
      for (int64_t k : {1, 2, 4}) want.insert({0, w - 1, k, skip, false, 0});
    }
    for (int w : {8, 16}) {
      for (int64_t k : {1, 2, 4}) want.insert({0, w - 1, k, skip, true, 0});
    }
    for (int64_t k : {1, 2, 4}) want.insert({0, 15, k, skip, true, 8});  // low16/w8
  }
  std::set<std::string> names;
  for (const auto& e : g) {
    got.insert({e.extractor.lo, e.extractor.hi, e.fold, e.extractor.zeros == harvest::ZeroPolicy::kSkip,
                e.extractor.mix == harvest::Mix::kWhiten32, e.emit});
    names.insert(e.name());
  }
  EXPECT_EQ(g.size(), 68U);
  EXPECT_EQ(got, want);
  EXPECT_EQ(names.size(), g.size());
}

CellVerdict test_values(const std::vector<float>& values, const AtlasExtractor& e, int64_t bits, int k) {
  BitAccumulator acc(bits * k);
  while (!acc.full()) append_harvest(acc, values, e);
  const auto seqs = cut_sequences(acc, bits, k, bits);
  nist::SuiteOptions so;
  so.threads = 2;
  return summarize_cell(nist::run_suite(seqs, so), seqs);
}

AtlasExtractor extractor(int lo, int hi) {
  AtlasExtractor e;
  e.extractor.lo = lo;
  e.extractor.hi = hi;
  return e;
}

// Independent check: a constant tensor's bits are constant, so the Frequency test must fail (and
// nearly everything else). 1.0f has an all-zero mantissa; 1.1f has a fixed nonzero pattern.
TEST(AtlasCell, ConstantTapFailsFrequency) {
  for (float c : {1.0f, 1.1f}) {
    const std::vector<float> values(4096, c);
    for (const auto& e : {extractor(0, 0), extractor(0, 15)}) {
      const CellVerdict v = test_values(values, e, 100'000, 2);
      ASSERT_TRUE(v.tested);
      EXPECT_EQ(v.rows, 188U);
      EXPECT_NE(std::find(v.failing_tests.begin(), v.failing_tests.end(), "Frequency"), v.failing_tests.end())
          << "constant " << c << ", " << e.name();
      EXPECT_LT(v.pass_rate(), 0.2);
    }
  }
}

// Independent check: FP32 values with uniformly random low 16 mantissa bits (std::mt19937_64) give
// bits that pass: at k = 4 a row fails by chance with probability 1 - 0.99^4 ~ 4%, so >= 85% of the
// applicable rows must pass. This also proves that the tap path (harvest_bits, append_bytes) keeps bits.
TEST(AtlasCell, RandomMantissasPass) {
  std::mt19937_64 rng(12345);
  std::vector<float> values(200'000);
  for (auto& v : values) v = std::bit_cast<float>(0x3f800000u | static_cast<uint32_t>(rng() & 0xffffu));
  const CellVerdict v = test_values(values, extractor(0, 15), 400'000, 4);
  ASSERT_TRUE(v.tested);
  EXPECT_EQ(v.sequences, 4);
  EXPECT_EQ(v.sequence_bits, 400'000);
  EXPECT_GE(v.pass_rate(), 0.85) << "passed " << v.passed << " of " << v.rows - v.not_applicable;
  EXPECT_NEAR(v.ones_fraction, 0.5, 0.005);
}

// Invariant: a "/w8" extractor emits the low 8 bits of whiten(field) per element, with the whitening
// written out here from its definition in harvest.hpp (w ^= w >> 16; w *= 0x7feb352d; w ^= w >> 15).
TEST(AtlasBits, WhitenedEmitTakesLowBitsOfTheMixedWord) {
  const std::vector<float> values = {1.5f, -2.25f, 3.0e-5f, 0.0f, 7.0f};
  AtlasExtractor e;
  e.extractor.lo = 0;
  e.extractor.hi = 15;
  e.extractor.mix = harvest::Mix::kWhiten32;
  e.emit = 8;
  BitAccumulator acc(1000);
  append_harvest(acc, values, e);
  ASSERT_EQ(acc.size(), 5 * 8);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t w = std::bit_cast<uint32_t>(values[i]) & 0xffffu;
    w ^= w >> 16;
    w *= 0x7feb352du;
    w ^= w >> 15;
    for (int b = 0; b < 8; ++b) {
      EXPECT_EQ(acc.bit(static_cast<int64_t>(i * 8 + b)), static_cast<int>((w >> (7 - b)) & 1U)) << i << "," << b;
    }
  }
  EXPECT_EQ(e.name(), "low16/w8");
}

// Invariant: sequences are cut as documented: k x n when there are enough bits, else k x floor(size/k)
// if that reaches min_bits, else none.
TEST(AtlasCell, CutSequencesShortensOrRefuses) {
  BitAccumulator acc(1'000'000);
  std::vector<uint32_t> w(10'000, 0x5555u);
  acc.append_words(w, 16);  // 160,000 bits
  EXPECT_EQ(cut_sequences(acc, 40'000, 4, 1000).size(), 4U);
  EXPECT_EQ(cut_sequences(acc, 40'000, 4, 1000)[0].size(), 40'000U);
  const auto s = cut_sequences(acc, 100'000, 4, 1000);
  ASSERT_EQ(s.size(), 4U);
  EXPECT_EQ(s[0].size(), 40'000U);
  EXPECT_TRUE(cut_sequences(acc, 100'000, 4, 50'000).empty());
}

// ---- end to end -------------------------------------------------------------------------------

void write_be32(std::ofstream& f, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  f.write(b, 4);
}

void write_idx(const fs::path& dir, const std::string& prefix, int count, std::mt19937_64& rng) {
  std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
  write_be32(img, 0x00000803);
  write_be32(img, static_cast<uint32_t>(count));
  write_be32(img, 28);
  write_be32(img, 28);
  std::ofstream lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
  write_be32(lab, 0x00000801);
  write_be32(lab, static_cast<uint32_t>(count));
  for (int i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng() % 10);
    lab.put(static_cast<char>(label));
    for (int p = 0; p < 28 * 28; ++p) {
      // a label-dependent bright square on a dark, noisy background
      const int r = p / 28, c = p % 28;
      const bool on = r >= 2 * label && r < 2 * label + 8 && c >= 10 && c < 18;
      img.put(static_cast<char>(on ? 200 + rng() % 56 : rng() % 40));
    }
  }
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / fmt::format("rngfree_atlas_test_{}_{}", name, ::getpid());
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

TEST(AtlasRun, QuickEndToEndOnSyntheticIdx) {
  const std::string data_dir = temp_dir("data");
  std::mt19937_64 rng(3);
  write_idx(data_dir, "train", 320, rng);
  write_idx(data_dir, "t10k", 64, rng);

  AtlasOptions o;
  apply_preset(o.train, "int8-sr-harvest");
  o.train.model = "lenet5";
  o.train.data = "mnist:" + data_dir;
  o.train.batch = 32;
  o.train.threads = 1;
  o.quick = true;
  o.threads = 2;
  const AtlasResult r = run_atlas(o);

  // Independent counts: quick = 5 taps x 7 extractors x 3 phases, then 6 generators x the 6 fold-1,
  // zeros-kept extractors.
  const auto grid = atlas_extractor_grid(true);
  ASSERT_EQ(grid.size(), 7U);
  ASSERT_EQ(r.phases.size(), 3U);
  size_t tap_cells = 0, gen_cells = 0;
  std::set<std::string> gens;
  for (const auto& c : r.cells) {
    (c.source == "tap" ? tap_cells : gen_cells)++;
    if (c.source == "generator") gens.insert(c.tap);
    EXPECT_LE(c.verdict.passed + c.verdict.not_applicable, c.verdict.rows);
    if (c.verdict.tested) {
      EXPECT_EQ(c.verdict.rows, 188U);
      EXPECT_EQ(c.verdict.sequences, 4);
      EXPECT_LE(c.verdict.sequence_bits, 100'000);
      EXPECT_GE(c.verdict.sequence_bits, r.options.min_bits);
      EXPECT_GE(c.bits_available, 4 * c.verdict.sequence_bits);
    } else {
      EXPECT_LT(c.bits_available, 4 * r.options.min_bits) << c.layer_name << "." << c.tap << " " << c.extractor.name();
    }
  }
  EXPECT_EQ(tap_cells, 5U * 7U * 3U);
  EXPECT_EQ(gen_cells, 6U * 6U);
  EXPECT_EQ(gens, (std::set<std::string>{"lfsr:16", "lfsr:32", "xorshift32", "xoshiro128pp", "philox", "mt19937"}));

  // Phases: 3 windows of 2 steps, back to back (quick: steps = 3 x window).
  EXPECT_EQ(r.phases[0].first_step, 0);
  EXPECT_EQ(r.phases[1].first_step, 2);
  EXPECT_EQ(r.phases[2].first_step, 4);

  for (const auto& c : r.cells) {
    if (c.source != "tap") continue;
    // Supply = elements x width / fold (zeros kept), computed here from the batch and layer shapes.
    if (c.tap == "input") {
      EXPECT_EQ(c.elements_per_step, 32 * 28 * 28);
    }
    if (c.layer_name == "conv1" && c.tap != "weights") {
      EXPECT_EQ(c.elements_per_step, 32 * 6 * 28 * 28);
    }
    if (c.extractor.name() == "low16") {
      EXPECT_DOUBLE_EQ(c.supply_bits_per_step, 16.0 * static_cast<double>(c.elements_per_step));
    }
    if (c.extractor.name() == "b0") {
      EXPECT_DOUBLE_EQ(c.supply_bits_per_step, 1.0 * static_cast<double>(c.elements_per_step));
    }
    // Demand of the preset's pairing (docs/training.md), named by the engine's own default taps.
    if (c.layer_name == "conv1" && c.tap == "act") {
      // E: stochastic:8 per output element; G: stochastic:8 and U: stochastic:16 per weight (6 x 1 x 5 x 5).
      EXPECT_EQ(c.demand_basis, "paired: E@conv1 G@conv1 U@conv1");
      EXPECT_DOUBLE_EQ(c.demand_bits_per_step, 8.0 * 32 * 6 * 28 * 28 + 8.0 * 150 + 16.0 * 150);
    }
    if (c.layer_name == "conv1" && c.tap == "err") {
      // The preset's pairing feeds nothing from err (G <- act): the layer's SR sites are the basis.
      EXPECT_EQ(c.demand_basis, "layer");
      EXPECT_DOUBLE_EQ(c.demand_bits_per_step, 8.0 * 32 * 6 * 28 * 28 + 8.0 * 150 + 16.0 * 150);
    }
    if (c.layer_name == "fc1" && c.tap == "grad") {
      // The preset's pairing feeds nothing from grad (U <- act): the layer's SR sites are the basis,
      // E (8 bits x 32 x 120 outputs) + G (8 bits x 48,000 weights) + U (16 bits x 48,000 weights).
      EXPECT_EQ(c.demand_basis, "layer");
      EXPECT_DOUBLE_EQ(c.demand_bits_per_step, 8.0 * 32 * 120 + 8.0 * 400 * 120 + 16.0 * 400 * 120);
    }
  }

  // philox is a good generator: >= 85% of applicable rows pass at k = 4 (4% chance failure per row).
  for (const auto& c : r.cells) {
    if (c.tap != "philox") continue;
    ASSERT_TRUE(c.verdict.tested);
    EXPECT_GE(c.verdict.pass_rate(), 0.85) << c.extractor.name();
  }

  const std::string out = temp_dir("out");
  write_atlas(r, out);
  for (const char* f : {"atlas.md", "atlas.csv", "heatmap_early.svg", "heatmap_middle.svg", "heatmap_late.svg", "pass_rate.svg"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  std::ifstream csv(fs::path(out) / "atlas.csv");
  std::string line;
  size_t lines = 0;
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, r.cells.size() + 1);  // header + one line per cell
  std::stringstream md;
  md << std::ifstream(fs::path(out) / "atlas.md").rdbuf();
  EXPECT_NE(md.str().find("## Generator baselines"), std::string::npos);
  EXPECT_NE(md.str().find("| philox | low16 |"), std::string::npos);
  fs::remove_all(out);
  fs::remove_all(data_dir);
}

TEST(AtlasRun, BadOptionsNameTheParameter) {
  AtlasOptions o;
  apply_preset(o.train, "int8-sr-harvest");
  o.phases = {"early", "later"};
  try {
    (void)run_atlas(o);
    FAIL() << "expected rngfree::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--phases 'later'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rngfree::train
