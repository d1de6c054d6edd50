// The randomness atlas (issue 6): trains a model and, at chosen phases of training, harvests bits
// from every tap of every layer with a grid of extractors, runs NIST SP 800-22 on each, and reports
// how many of the 188 P-values pass the proportion test, which tests fail, and supply vs demand —
// with the generator baselines beside them — so users choose taps on evidence (Yuan, Chang et al.,
// ECCV 2022 claim such bits are random). No libtorch in this header; docs/atlas.md explains the output.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "rngfree/harvest/harvest.hpp"
#include "rngfree/nist/sp800_22.hpp"
#include "rngfree/train/config.hpp"

namespace rngfree::train {

// One extractor of the grid: a bit field of the raw FP32 pattern, a zero policy and an XOR fold of k
// whole copies of the tap (harvest::harvest_bits: n elements give floor(n/k) fields per event).
struct AtlasExtractor {
  harvest::Extractor extractor;  // lo..hi, zero policy, whitening (only the `/w` extractors)
  int64_t fold = 1;
  // Bits emitted per word: 0 = the field's width (harvest::harvest_bits); else the low `emit` bits of
  // the (whitened) word — what SR with R = emit takes from a harvested word (`/w8`: the trainer's
  // default E and G sites, 8 bits of a whitened 16-bit field).
  int emit = 0;
  int emit_width() const { return emit > 0 ? emit : extractor.width(); }
  // "b3" (bit 3 alone), "low16" (bits 0-15 as a word); then "/f2" for fold 2, "/w" for whitening (the
  // harvester's mix, then the field's width of low bits; "/w8": then the low 8 bits) and "/skip" for
  // skipped zeros.
  std::string name() const;
  bool single_bit() const { return extractor.lo == extractor.hi; }
};

// The grid (docs/atlas.md): bits 0..15 alone (fold 1, zeros kept and skipped), words of the low 4, 8,
// 16 bits (fold 1, 2, 4; zeros kept and skipped), and whitened words as the trainer's harvester makes
// them — low8/w, low16/w and low16/w8 (8 bits of a whitened 16-bit field), fold 1, 2, 4; zeros kept
// and skipped: 32 + 18 + 18 = 68 extractors. quick: b0, b8, b15, low8, low16, low16/w, low16/f2/skip. Beyond the grid: `bit_hi` > 15 extends the single-bit sweep
// (up to 31), and each of `fields` ("LO-HI") adds a word extractor with fold 1, 2, 4 x zeros kept/skipped.
std::vector<AtlasExtractor> atlas_extractor_grid(bool quick, int bit_hi = 15, const std::vector<std::string>& fields = {});

// A growing bit sequence, most significant bit first, that stops at a capacity (extra bits are
// dropped but counted in offered()).
class BitAccumulator {
 public:
  explicit BitAccumulator(int64_t capacity = 0) : capacity_(capacity) {}
  // Appends the first `bits` bits of MSB-first `bytes`.
  void append_bytes(std::span<const uint8_t> bytes, int64_t bits);
  // Appends the low `width` (1..32) bits of each word, bit width-1 first.
  void append_words(std::span<const uint32_t> words, int width);
  int64_t size() const { return size_; }          // bits kept (<= capacity)
  int64_t count_ones() const;                      // ones among the kept bits
  // Kept bits cut into consecutive groups of `width`: the number of whole groups that are all zero.
  int64_t count_zero_groups(int width) const;
  int64_t offered() const { return offered_; }    // bits offered, kept or not
  int64_t capacity() const { return capacity_; }
  bool full() const { return size_ >= capacity_; }
  // Bit i (0-based, i < size()).
  int bit(int64_t i) const { return static_cast<int>((words_[i >> 6] >> (63 - (i & 63))) & 1U); }
  std::span<const uint64_t> words() const { return words_; }
  void clear();

 private:
  void push(uint64_t value, int width);  // width 1..57 bits, value < 2^width
  std::vector<uint64_t> words_;
  int64_t size_ = 0, offered_ = 0, capacity_ = 0;
};

// The atlas's extraction of one tap event: harvest::harvest_bits(values, extractor, fold) appended.
void append_harvest(BitAccumulator& acc, std::span<const float> values, const AtlasExtractor& extractor);

// NIST verdict on the bits of one cell: k sequences of n bits each, where n = requested bits if the
// accumulator holds k·bits, else floor(size/k) if that is >= min_bits; otherwise not tested.
struct CellVerdict {
  bool tested = false;
  int sequences = 0;
  int64_t sequence_bits = 0;
  uint64_t rows = 0, passed = 0, not_applicable = 0;  // P-value rows (188 with the defaults)
  std::vector<std::string> failing_tests;              // "Runs", "NonOverlappingTemplate(12/148)", ...
  double ones_fraction = 0;                             // over the bits tested (bias diagnostic)
  double pass_rate() const;  // passed / (rows - not_applicable); NaN when not tested
};

// The sequences of one cell, cut as CellVerdict describes (empty when too few bits).
std::vector<nist::BitSequence> cut_sequences(const BitAccumulator& acc, int64_t bits, int sequences, int64_t min_bits);
// Summarizes the suite results of one cell's sequences (rows whose proportion test passes).
CellVerdict summarize_cell(const std::vector<std::vector<nist::TestResult>>& results, const std::vector<nist::BitSequence>& seqs);

// The allowed ranges of AtlasOptions' numbers once resolved (resolve() and the flags check these).
inline constexpr IntRange<int64_t> kAtlasSteps{1, std::numeric_limits<int64_t>::max(), "at least --window x phases"};
inline constexpr IntRange<int64_t> kAtlasWindow{1, 100'000};
inline constexpr IntRange<int64_t> kAtlasBits{1000, 100'000'000};
inline constexpr IntRange<int> kAtlasSequences{1, 1000};
inline constexpr IntRange<int64_t> kAtlasMinBits{1, std::numeric_limits<int64_t>::max(), "at most --bits"};
inline constexpr IntRange<int> kNistThreads{1, 1024};

struct AtlasOptions {
  TrainConfig train;              // model, data, preset, batch, lr, seed, threads
  bool quick = false;             // a handful of taps and extractors, short sequences, few steps
  int64_t steps = 0;              // training steps in all (0: 2 epochs; quick: 3 phases x window)
  int64_t window = 0;             // consecutive steps captured per phase (0: 64; quick: 2)
  std::vector<std::string> phases = {"early", "middle", "late"};  // any of these three
  int64_t bits = 0;               // N, bits per sequence (0: 1,000,000; quick: 100,000)
  int sequences = 0;              // K, sequences per cell (0: 10; quick: 4)
  int64_t min_bits = 0;           // shortest sequence tested when a tap has fewer than K·N bits
                                  // (0: N/10 but at least 20,000)
  std::vector<std::string> taps;  // only these taps, "LAYER.KIND" ("conv1.act", "input"); empty: all
  int bit_hi = 15;                  // single-bit sweep b0..b<bit_hi> (15..31)
  std::vector<std::string> fields;  // extra word fields "LO-HI" (see atlas_extractor_grid)
  std::vector<std::string> generators = {"lfsr:16", "lfsr:32", "xorshift32", "xoshiro128pp", "philox", "mt19937"};
  nist::Profile profile = nist::Profile::kSts212;
  int threads = 1;                // NIST threads (training uses train.threads)
  std::function<void(const std::string&)> log;  // progress lines (stderr in the app)
};

struct AtlasPhase {
  std::string name;
  int64_t first_step = 0, last_step = 0;  // inclusive, optimizer steps from 0
  double train_loss = 0, train_accuracy = 0;
};

// One row of the atlas: a (tap, layer, extractor, phase) cell, or a generator baseline
// (source "generator", phase "-", layer -1, tap = the generator spec).
struct AtlasCell {
  std::string phase;
  std::string source;  // "tap" or "generator"
  int layer = -1;
  std::string layer_name;
  std::string tap;     // input, weights, act, err, grad; or the generator spec
  AtlasExtractor extractor;
  int64_t elements_per_step = 0;      // tap size (mean over the window)
  double zero_fraction = 0;           // exact zeros among the tap's elements
  double changed_fraction = 0;        // elements whose bits differ from the previous step's tensor
  int64_t bits_available = 0;         // bits the window yielded (all, not only those kept)
  double supply_bits_per_step = 0;    // bits_available / steps in the window
  // Over all bits kept for the cell (tested or not): the fraction of ones, and for word extractors
  // (width > 1) the fraction of words whose field is 0 — a word SR would use as r = 0 (round down).
  double ones_fraction = 0;
  double zero_word_fraction = 0;
  double demand_bits_per_step = 0;    // see demand_basis
  std::string demand_basis;           // "paired: E@conv1 ..." (sites the preset feeds from this tap), "layer" (all SR
                                      // sites of the tap's layer, which it could feed), "none" (no SR site)
  CellVerdict verdict;
};

struct AtlasResult {
  TrainConfig config;
  AtlasOptions options;  // resolved sizes (log cleared)
  std::vector<AtlasPhase> phases;
  std::vector<AtlasCell> cells;  // taps (phase order, tap order, extractor order), then generators
  double final_test_accuracy = -1;  // after the last step (evaluation on the test split)
  double seconds = 0;
};

// Trains and measures (see the file comment). Throws rngfree::Error on bad options.
AtlasResult run_atlas(const AtlasOptions& options);

// Writes into dir (created): atlas.md, atlas.csv, heatmap_<phase>.svg (pass rate by tap x bit
// position, zeros kept), heatmap_<phase>_skip.svg (zeros skipped), pass_rate.svg (pass rate over
// training of the preset's extractor, with generators for reference). Atomic writes.
void write_atlas(const AtlasResult& result, const std::string& dir);

// The CSV text (header + one line per cell) and the markdown report.
std::string atlas_csv(const AtlasResult& result);
std::string atlas_markdown(const AtlasResult& result);

}  // namespace rngfree::train
