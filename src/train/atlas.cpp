// The randomness atlas (atlas.hpp, issue 6): one training run, tap events captured in windows of
// consecutive steps, every extractor of the grid fed from the same captured tensors in one pass,
// then one NIST SP 800-22 batch per phase. No libtorch here: the Trainer's interface is enough.
// Guarantees: a cell's bits are exactly what harvest::harvest_bits gives for each event, in event
// order; pass counts are those of nist::summarize (proportion test at alpha = 0.01).
#include "rngfree/atomic_file.hpp"
#include "rngfree/train/atlas.hpp"

#include <fmt/core.h>
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "rngfree/error.hpp"
#include "rngfree/nist/suite.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/report/svg.hpp"
#include "rngfree/rounding.hpp"
#include "rngfree/train/trainer.hpp"

namespace rngfree::train {
namespace {

constexpr int64_t kDefaultBits = 1'000'000;
constexpr int kDefaultSequences = 10;
constexpr int64_t kDefaultWindow = 64;
constexpr int64_t kQuickBits = 100'000;
constexpr int kQuickSequences = 4;
constexpr int64_t kQuickWindow = 2;

AtlasExtractor make_extractor(int lo, int hi, int64_t fold, bool skip, bool whiten = false) {
  AtlasExtractor e;
  e.extractor.lo = lo;
  e.extractor.hi = hi;
  e.extractor.mix = whiten ? harvest::Mix::kWhiten32 : harvest::Mix::kNone;
  e.extractor.zeros = skip ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
  e.fold = fold;
  return e;
}

bool skips(const AtlasExtractor& e) { return e.extractor.zeros == harvest::ZeroPolicy::kSkip; }

// Bits the extractor yields from a tap event of n elements with nz nonzero ones.
int64_t yield_bits(const AtlasExtractor& e, int64_t n, int64_t nz) {
  const int64_t kept = skips(e) ? nz : n;
  return kept / e.fold * e.emit_width();
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string s;
  for (size_t i = 0; i < parts.size(); ++i) s += (i ? std::string(sep) : std::string()) + parts[i];
  return s;
}

}  // namespace

namespace {

// Tap slot of (layer, kind): 0 is the input; then 4 per layer (weights, act, err, grad). The atlas
// trains the classification models only, which have no prob tap (a gpt's prob: -1, not captured).
int tap_slot(int layer, harvest::TapKind kind) {
  if (kind == harvest::TapKind::kInput) return 0;
  if (kind == harvest::TapKind::kProb) return -1;
  return 1 + layer * 4 + (static_cast<int>(kind) - 1);
}

struct TapState {
  int layer = 0;
  harvest::TapKind kind = harvest::TapKind::kInput;
  std::string label;  // "input", "conv1.act"
  bool selected = false;
  // per window
  int64_t events = 0, elements = 0, zeros = 0, changed = 0, compared = 0;
  std::set<int64_t> steps;
  std::vector<uint32_t> previous;
  std::vector<BitAccumulator> acc;
  std::vector<int64_t> offered;
  void reset(size_t extractors, int64_t capacity) {
    events = elements = zeros = changed = compared = 0;
    steps.clear();
    previous.clear();
    acc.assign(extractors, BitAccumulator(capacity));
    offered.assign(extractors, 0);
  }
};

double nan() { return std::numeric_limits<double>::quiet_NaN(); }

}  // namespace

// ---- extractors and bits ------------------------------------------------------------------------

std::string AtlasExtractor::name() const {
  std::string s = single_bit() ? fmt::format("b{}", extractor.lo)
                  : extractor.lo == 0 ? fmt::format("low{}", extractor.width())
                                      : fmt::format("bits{}-{}", extractor.lo, extractor.hi);
  if (fold != 1) s += fmt::format("/f{}", fold);
  if (extractor.mix == harvest::Mix::kWhiten32) s += emit > 0 ? fmt::format("/w{}", emit) : std::string("/w");
  if (extractor.mix == harvest::Mix::kField) s += emit > 0 ? fmt::format("/m{}", emit) : std::string("/m");
  if (extractor.zeros == harvest::ZeroPolicy::kSkip) s += "/skip";
  return s;
}

std::vector<AtlasExtractor> atlas_extractor_grid(bool quick, int bit_hi, const std::vector<std::string>& fields) {
  if (bit_hi < 15 || bit_hi > 31) throw Error(fmt::format("--bit-range 0-{}: the upper bit must be 15..31", bit_hi));
  std::vector<harvest::Extractor> extra;
  for (const auto& f : fields) extra.push_back(harvest::Extractor::parse_bits(f));
  std::vector<AtlasExtractor> g;
  if (quick) {
    for (int b : {0, 8, 15}) g.push_back(make_extractor(b, b, 1, false));
    g.push_back(make_extractor(0, 7, 1, false));
    g.push_back(make_extractor(0, 15, 1, false));
    g.push_back(make_extractor(0, 15, 1, false, true));
    g.push_back(make_extractor(0, 15, 2, true));
    for (const auto& e : extra) g.push_back(make_extractor(e.lo, e.hi, 1, false));
    return g;
  }
  for (bool skip : {false, true}) {
    for (int b = 0; b <= bit_hi; ++b) g.push_back(make_extractor(b, b, 1, skip));
  }
  for (bool skip : {false, true}) {
    for (int w : {4, 8, 16}) {
      for (int64_t k : {1, 2, 4}) g.push_back(make_extractor(0, w - 1, k, skip));
    }
    for (int w : {8, 16, 0}) {  // 0: low16/w8
      for (int64_t k : {1, 2, 4}) {
        g.push_back(make_extractor(0, w == 0 ? 15 : w - 1, k, skip, true));
        if (w == 0) g.back().emit = 8;
      }
    }
    for (const auto& e : extra) {
      for (int64_t k : {1, 2, 4}) g.push_back(make_extractor(e.lo, e.hi, k, skip));
    }
  }
  return g;
}

void BitAccumulator::push(uint64_t value, int width) {
  const int64_t room = capacity_ - size_;
  if (room <= 0) return;
  if (width > room) {  // keep only the first `room` bits (the most significant ones)
    value >>= (width - room);
    width = static_cast<int>(room);
  }
  const int64_t need = (size_ + width + 63) / 64 + 1;  // one zero guard word
  if (static_cast<int64_t>(words_.size()) < need) words_.resize(std::max<int64_t>(need, words_.size() * 3 / 2 + 2), 0);
  const int used = static_cast<int>(size_ & 63);
  const int64_t q = size_ >> 6;
  const int free_bits = 64 - used;
  if (width <= free_bits) {
    words_[q] |= value << (free_bits - width);
  } else {
    const int rest = width - free_bits;
    words_[q] |= value >> rest;
    words_[q + 1] |= value << (64 - rest);
  }
  size_ += width;
}

void BitAccumulator::append_bytes(std::span<const uint8_t> bytes, int64_t bits) {
  RNGFREE_CHECK(bits >= 0 && bits <= static_cast<int64_t>(bytes.size()) * 8, "append_bytes: bit count past the bytes");
  offered_ += bits;
  int64_t i = 0;
  // 7 bytes (56 bits) at a time.
  for (; i + 56 <= bits && !full(); i += 56) {
    const size_t b = static_cast<size_t>(i / 8);
    uint64_t v = 0;
    for (int j = 0; j < 7; ++j) v = (v << 8) | bytes[b + j];
    push(v, 56);
  }
  for (; i + 8 <= bits && !full(); i += 8) push(bytes[static_cast<size_t>(i / 8)], 8);
  if (i < bits && !full()) {
    const int rest = static_cast<int>(bits - i);
    push(bytes[static_cast<size_t>(i / 8)] >> (8 - rest), rest);
  }
}

void BitAccumulator::append_words(std::span<const uint32_t> words, int width) {
  RNGFREE_CHECK(width >= 1 && width <= 32, "append_words: width must be 1..32");
  offered_ += static_cast<int64_t>(words.size()) * width;
  const uint64_t mask = (uint64_t{1} << width) - 1;
  for (uint32_t w : words) {
    if (full()) break;
    push(w & mask, width);
  }
}

int64_t BitAccumulator::count_ones() const {
  int64_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);  // bits past size() are zero
  return n;
}

int64_t BitAccumulator::count_zero_groups(int width) const {
  RNGFREE_CHECK(width >= 1 && width <= 32, "count_zero_groups: width must be 1..32");
  int64_t zeros = 0;
  for (int64_t g = 0; g + width <= size_; g += width) {
    const int64_t q = g >> 6;
    const int r = static_cast<int>(g & 63);
    uint64_t v = words_[q] << r;
    if (r + width > 64) v |= words_[q + 1] >> (64 - r);
    zeros += (v >> (64 - width)) == 0;
  }
  return zeros;
}

void BitAccumulator::clear() {
  words_.clear();
  words_.shrink_to_fit();
  size_ = offered_ = 0;
}

void append_harvest(BitAccumulator& acc, std::span<const float> values, const AtlasExtractor& extractor) {
  if (extractor.emit == 0) {
    const harvest::BitStream bs = harvest::harvest_bits(values, extractor.extractor, extractor.fold);
    acc.append_bytes(bs.bytes, bs.bits);
    return;
  }
  // The words a folded pairing gives a site of floor(n/k) elements (n after the zero policy), as the
  // trainer's harvester makes them; SR takes their low `emit` bits.
  int64_t n = static_cast<int64_t>(values.size());
  if (extractor.extractor.zeros == harvest::ZeroPolicy::kSkip) {
    n = std::count_if(values.begin(), values.end(),
                      [](float x) { return (std::bit_cast<uint32_t>(x) & 0x7fffffffu) != 0; });
  }
  const int64_t m = n / extractor.fold;
  if (m == 0) return;
  harvest::Pairing p;
  p.kind = harvest::PairingKind::kFolded;
  p.fold = extractor.fold;
  std::vector<uint32_t> words(static_cast<size_t>(m));
  harvest::harvest_words(values, extractor.extractor, p, words);
  acc.append_words(words, extractor.emit);
}

double CellVerdict::pass_rate() const {
  if (!tested || rows <= not_applicable) return nan();
  return static_cast<double>(passed) / static_cast<double>(rows - not_applicable);
}

std::vector<nist::BitSequence> cut_sequences(const BitAccumulator& acc, int64_t bits, int sequences, int64_t min_bits) {
  RNGFREE_CHECK(bits > 0 && sequences > 0, "cut_sequences: sizes must be positive");
  int64_t n = bits;
  if (acc.size() < bits * sequences) n = acc.size() / sequences;
  std::vector<nist::BitSequence> out;
  if (n < std::max<int64_t>(min_bits, 1)) return out;
  const nist::BitSequence all = nist::BitSequence::from_words(acc.words(), static_cast<uint64_t>(acc.size()));
  for (int j = 0; j < sequences; ++j) out.push_back(all.slice(static_cast<uint64_t>(j * n), static_cast<uint64_t>(n)));
  return out;
}

CellVerdict summarize_cell(const std::vector<std::vector<nist::TestResult>>& results,
                           const std::vector<nist::BitSequence>& seqs) {
  CellVerdict v;
  if (seqs.empty()) return v;
  v.tested = true;
  v.sequences = static_cast<int>(seqs.size());
  v.sequence_bits = static_cast<int64_t>(seqs.front().size());
  uint64_t ones = 0, total = 0;
  for (const auto& s : seqs) {
    ones += s.count_ones();
    total += s.size();
  }
  v.ones_fraction = total ? static_cast<double>(ones) / static_cast<double>(total) : nan();
  const nist::SuiteReport report = nist::summarize(results);
  const nist::ProportionPasses p = nist::proportion_passes(report);
  v.rows = p.rows;
  v.passed = p.passed;
  v.not_applicable = p.not_applicable;
  // Failing tests: those with a row whose proportion check fails, with the count for multi-row tests.
  std::map<nist::TestId, std::pair<int, int>> fails;  // test -> (failed rows, rows)
  std::vector<nist::TestId> order;
  for (const auto& row : report.rows) {
    auto [it, fresh] = fails.try_emplace(row.test, 0, 0);
    if (fresh) order.push_back(row.test);
    ++it->second.second;
    if (row.sequences > 0 && !row.proportion_ok) ++it->second.first;
  }
  for (nist::TestId t : order) {
    const auto [failed, rows] = fails[t];
    if (failed == 0) continue;
    v.failing_tests.push_back(rows == 1 ? std::string(nist::test_name(t))
                                        : fmt::format("{}({}/{})", nist::test_name(t), failed, rows));
  }
  return v;
}

// ---- the run ------------------------------------------------------------------------------------

namespace {

struct PendingCell {
  size_t cell = 0;
  std::vector<nist::BitSequence> seqs;
};

// Runs the suite on every pending cell's sequences in one batch (threads busy across cells).
void test_cells(std::vector<PendingCell>& pending, std::vector<AtlasCell>& cells, const AtlasOptions& o,
                const std::string& what) {
  std::vector<nist::BitSequence> all;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto& p : pending) {
    ranges.emplace_back(all.size(), p.seqs.size());
    for (auto& s : p.seqs) all.push_back(std::move(s));
    p.seqs.clear();
  }
  nist::SuiteOptions so;
  so.params.set_profile(o.profile);
  so.threads = std::max(1, o.threads);
  const auto t0 = std::chrono::steady_clock::now();
  double last_report = 0;
  so.progress = [&](uint64_t done, uint64_t total) {
    if (!o.log) return;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (done == total || s - last_report >= 10) {  // a line every 10 s at most
      last_report = s;
      const double eta = done ? s / static_cast<double>(done) * static_cast<double>(total - done) : 0;
      o.log(fmt::format("  nist {}: {}/{} sequences, {:.0f} s (ETA {:.0f} s)", what, done, total, s, eta));
    }
  };
  std::vector<std::vector<nist::TestResult>> results;
  if (!all.empty()) results = nist::run_suite(all, so);
  for (size_t i = 0; i < pending.size(); ++i) {
    const auto [begin, count] = ranges[i];
    if (count == 0) continue;
    std::vector<std::vector<nist::TestResult>> mine(results.begin() + static_cast<std::ptrdiff_t>(begin),
                                                    results.begin() + static_cast<std::ptrdiff_t>(begin + count));
    std::vector<nist::BitSequence> seqs(all.begin() + static_cast<std::ptrdiff_t>(begin),
                                        all.begin() + static_cast<std::ptrdiff_t>(begin + count));
    cells[pending[i].cell].verdict = summarize_cell(mine, seqs);
  }
  pending.clear();
}

AtlasOptions resolve(const AtlasOptions& in) {
  AtlasOptions o = in;
  if (o.window == 0) o.window = o.quick ? kQuickWindow : kDefaultWindow;
  if (o.bits == 0) o.bits = o.quick ? kQuickBits : kDefaultBits;
  if (o.sequences == 0) o.sequences = o.quick ? kQuickSequences : kDefaultSequences;
  if (o.min_bits == 0) o.min_bits = std::max<int64_t>(o.bits / 10, std::min<int64_t>(o.bits, 20'000));
  if (o.quick && o.taps.empty()) o.taps = {"input", "conv1.act", "conv1.err", "conv2.weights", "fc1.grad"};
  if (o.quick && o.steps == 0) o.steps = o.window * 3;
  (void)checked_integer("--window", o.window, kAtlasWindow);
  (void)checked_integer("--bits", o.bits, kAtlasBits);
  (void)checked_integer("--sequences", o.sequences, kAtlasSequences);
  (void)checked_integer("--min-bits", o.min_bits, kAtlasMinBits);
  if (o.min_bits > o.bits) {
    throw Error(fmt::format("--min-bits {}: allowed 1..--bits ({})", o.min_bits, o.bits));
  }
  (void)checked_integer("--threads", o.threads, kNistThreads);
  if (o.phases.empty()) throw Error("--phases: empty; allowed: early, middle, late (comma separated)");
  for (const auto& p : o.phases) {
    if (p != "early" && p != "middle" && p != "late") {
      throw Error(fmt::format("--phases '{}': unknown phase; allowed: early, middle, late", p));
    }
  }
  for (const auto& g : o.generators) (void)random::make_generator(g, 0, 0);  // validates the spec
  return o;
}

}  // namespace

AtlasResult run_atlas(const AtlasOptions& options) {
  const auto t_start = std::chrono::steady_clock::now();
  AtlasOptions o = resolve(options);
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  AtlasResult result;
  const std::vector<AtlasExtractor> grid = atlas_extractor_grid(o.quick, o.bit_hi, o.fields);

  // The trainer; epochs chosen so that the learning-rate schedule spans the atlas's steps.
  TrainConfig cfg = o.train;
  auto trainer = std::make_unique<Trainer>(cfg);
  const int64_t spe = trainer->steps_per_epoch();
  if (o.steps == 0) o.steps = 2 * spe;
  const int64_t min_steps = o.window * static_cast<int64_t>(o.phases.size());
  if (o.steps < min_steps) {
    throw Error(fmt::format("--steps {}: must be at least --window x phases = {} x {} = {}", o.steps, o.window,
                            o.phases.size(), min_steps));
  }
  const int epochs = static_cast<int>((o.steps + spe - 1) / spe);
  if (epochs != cfg.epochs) {
    cfg.epochs = epochs;
    trainer.reset();
    trainer = std::make_unique<Trainer>(cfg);
  }
  result.config = cfg;
  const std::vector<LayerInfo> layers = trainer->layers();
  const int nl = static_cast<int>(layers.size());

  // Taps.
  std::vector<TapState> taps(static_cast<size_t>(1 + 4 * nl));
  std::vector<std::string> allowed;
  for (int l = -1; l < nl; ++l) {
    for (int k = (l < 0 ? 0 : 1); k <= (l < 0 ? 0 : static_cast<int>(harvest::TapKind::kGrad)); ++k) {
      const auto kind = static_cast<harvest::TapKind>(k);
      TapState& t = taps[static_cast<size_t>(tap_slot(std::max(l, 0), kind))];
      t.layer = std::max(l, 0);
      t.kind = kind;
      t.label = l < 0 ? "input" : fmt::format("{}.{}", layers[static_cast<size_t>(l)].name, tap_name(kind));
      allowed.push_back(t.label);
    }
  }
  for (auto& t : taps) t.selected = o.taps.empty();
  for (const auto& name : o.taps) {
    auto it = std::find_if(taps.begin(), taps.end(), [&](const TapState& t) { return t.label == name; });
    if (it == taps.end()) {
      throw Error(fmt::format("--taps '{}': no such tap in model {}; allowed: {}", name, cfg.model, join(allowed, ", ")));
    }
    it->selected = true;
  }
  // Sizes of every tap (for demand), seen in any window.
  std::vector<int64_t> tap_size(taps.size(), 0);

  const int64_t capacity = o.bits * o.sequences;
  int64_t current_step = 0;
  bool capturing = false;
  auto callback = [&](const TapEvent& ev) {
    if (!capturing) return;
    const int slot = tap_slot(ev.layer, ev.kind);
    if (slot < 0 || slot >= static_cast<int>(taps.size())) return;
    tap_size[static_cast<size_t>(slot)] = static_cast<int64_t>(ev.values.size());
    TapState& t = taps[static_cast<size_t>(slot)];
    if (!t.selected) return;
    const int64_t n = static_cast<int64_t>(ev.values.size());
    int64_t zeros = 0, changed = 0;
    const bool compare = static_cast<int64_t>(t.previous.size()) == n;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t b = std::bit_cast<uint32_t>(ev.values[static_cast<size_t>(i)]);
      zeros += (b & 0x7fffffffu) == 0;
      if (compare) changed += t.previous[static_cast<size_t>(i)] != b;
    }
    if (compare) {
      t.changed += changed;
      t.compared += n;
    }
    t.previous.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) t.previous[static_cast<size_t>(i)] = std::bit_cast<uint32_t>(ev.values[static_cast<size_t>(i)]);
    ++t.events;
    t.elements += n;
    t.zeros += zeros;
    t.steps.insert(ev.step);
    for (size_t e = 0; e < grid.size(); ++e) {
      t.offered[e] += yield_bits(grid[e], n, n - zeros);
      if (!t.acc[e].full()) append_harvest(t.acc[e], ev.values, grid[e]);
    }
  };
  trainer->set_tap_callback(callback);

  auto progress_fn = [&](const std::string& what) {
    return [&, what](int64_t done, int64_t total, double loss, double acc, double ips) {
      if (!o.log) return;
      if (done == total || done % std::max<int64_t>(total / 4, 1) == 0) {
        o.log(fmt::format("  {}: step {}/{}, loss {:.4f}, accuracy {:.3f}, {:.0f} images/s", what, done, total, loss,
                          acc, ips));
      }
    };
  };
  auto train_to = [&](int64_t target, const std::string& what) {
    if (target <= current_step) return StepStats{};
    const StepStats st = trainer->train_steps(target - current_step, progress_fn(what));
    current_step = target;
    return st;
  };

  // Demand of SR sites: per layer (all SR sites) and per feeding tap (the preset's pairing).
  auto demand = [&](std::vector<double>& layer_bits, std::vector<double>& paired_bits,
                    std::vector<std::vector<std::string>>& paired_names) {
    layer_bits.assign(static_cast<size_t>(nl), 0);
    paired_bits.assign(taps.size(), 0);
    paired_names.assign(taps.size(), {});
    for (const PlannedSite* p : trainer->site_plan().stochastic_sites()) {
      const int l = p->layer;
      int64_t elements = 0;
      switch (p->site) {
        case Site::kErrors: elements = tap_size[static_cast<size_t>(tap_slot(l, harvest::TapKind::kAct))]; break;
        case Site::kActivations:
          // The input of layers > 0 is not a tap (it is act@-1 after ReLU/pooling): unknown size.
          elements = l == 0 ? tap_size[0] : 0;
          break;
        default: elements = tap_size[static_cast<size_t>(tap_slot(l, harvest::TapKind::kWeights))]; break;
      }
      const double bits = static_cast<double>(elements) * p->rounding.random_bits;
      layer_bits[static_cast<size_t>(l)] += bits;
      if (p->source != SourceKind::kHarvest || p->tap == harvest::TapKind::kSelf) continue;
      std::vector<std::pair<harvest::TapKind, int>> read{{p->tap, p->tap_layer}};
      for (const auto& e : p->extra) read.emplace_back(e.tap, e.tap_layer);
      for (const auto& [kind, at] : read) {
        if (tap_slot(at, kind) < 0) continue;  // a tap the atlas does not capture
        const auto slot = static_cast<size_t>(tap_slot(at, kind));
        paired_bits[slot] += bits;
        paired_names[slot].push_back(fmt::format("{}@{}", kSiteNames[static_cast<size_t>(p->site)],
                                                 layers[static_cast<size_t>(l)].name));
      }
    }
  };

  // Phases.
  std::vector<std::pair<std::string, int64_t>> starts;
  for (const auto& p : o.phases) {
    const int64_t start = p == "early" ? 0 : p == "middle" ? (o.steps - o.window) / 2 : o.steps - o.window;
    starts.emplace_back(p, start);
  }
  std::stable_sort(starts.begin(), starts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  log(fmt::format("atlas: model {}, data {}, preset {}, {} steps ({} per epoch), window {} steps, {} taps x {} "
                  "extractors, {} x {} bits per cell",
                  cfg.model, cfg.data, cfg.preset, o.steps, spe, o.window,
                  std::count_if(taps.begin(), taps.end(), [](const TapState& t) { return t.selected; }), grid.size(),
                  o.sequences, o.bits));
  for (const auto& [phase, start0] : starts) {
    const int64_t start = std::max(start0, current_step);  // overlapping phases (tiny --steps) run back to back
    train_to(start, fmt::format("training to the {} phase", phase));
    for (auto& t : taps) t.reset(t.selected ? grid.size() : 0, capacity);
    capturing = true;
    const StepStats st = train_to(start + o.window, fmt::format("{} phase (capturing)", phase));
    capturing = false;
    AtlasPhase ph;
    ph.name = phase;
    ph.first_step = start;
    ph.last_step = start + o.window - 1;
    ph.train_loss = st.mean_loss;
    ph.train_accuracy = st.accuracy;
    result.phases.push_back(ph);

    std::vector<double> layer_bits, paired_bits;
    std::vector<std::vector<std::string>> paired_names;
    demand(layer_bits, paired_bits, paired_names);
    std::vector<PendingCell> pending;
    for (size_t slot = 0; slot < taps.size(); ++slot) {
      TapState& t = taps[slot];
      if (!t.selected) continue;
      const double steps = std::max<double>(1.0, static_cast<double>(t.steps.size()));
      for (size_t e = 0; e < grid.size(); ++e) {
        AtlasCell c;
        c.phase = phase;
        c.source = "tap";
        c.layer = t.layer;
        c.layer_name = t.kind == harvest::TapKind::kInput ? "input" : layers[static_cast<size_t>(t.layer)].name;
        c.tap = std::string(tap_name(t.kind));
        c.extractor = grid[e];
        c.elements_per_step = t.events ? t.elements / t.events : 0;
        c.zero_fraction = t.elements ? static_cast<double>(t.zeros) / static_cast<double>(t.elements) : nan();
        c.changed_fraction = t.compared ? static_cast<double>(t.changed) / static_cast<double>(t.compared) : nan();
        c.bits_available = t.offered[e];
        c.supply_bits_per_step = static_cast<double>(t.offered[e]) / steps;
        if (!paired_names[slot].empty()) {
          c.demand_bits_per_step = paired_bits[slot];
          c.demand_basis = "paired: " + join(paired_names[slot], " ");
        } else {
          c.demand_bits_per_step = layer_bits[static_cast<size_t>(t.layer)];
          c.demand_basis = c.demand_bits_per_step > 0 ? "layer" : "none";
        }
        const BitAccumulator& a = t.acc[e];
        const int w = grid[e].emit_width();
        c.ones_fraction = a.size() ? static_cast<double>(a.count_ones()) / static_cast<double>(a.size()) : nan();
        c.zero_word_fraction = w > 1 && a.size() >= w ? static_cast<double>(a.count_zero_groups(w)) /
                                                            static_cast<double>(a.size() / w)
                                                      : nan();
        result.cells.push_back(c);
        PendingCell p;
        p.cell = result.cells.size() - 1;
        p.seqs = cut_sequences(t.acc[e], o.bits, o.sequences, o.min_bits);
        t.acc[e].clear();
        pending.push_back(std::move(p));
      }
      t.previous.clear();
      t.previous.shrink_to_fit();
    }
    log(fmt::format("{} phase: steps {}..{}, train loss {:.4f}, accuracy {:.3f}; testing {} cells", phase,
                    ph.first_step, ph.last_step, ph.train_loss, ph.train_accuracy, pending.size()));
    test_cells(pending, result.cells, o, phase);
  }
  trainer->set_tap_callback({});
  train_to(o.steps, "training to the end");
  result.final_test_accuracy = trainer->evaluate();
  log(fmt::format("after {} steps: test accuracy {:.4f}", o.steps, result.final_test_accuracy));
  trainer.reset();

  // Generator baselines: the low R bits of each word (what SR consumes), and each of bits 0..15 alone.
  std::vector<AtlasExtractor> gen_grid;
  for (const auto& e : grid) {
    if (e.fold == 1 && !skips(e)) gen_grid.push_back(e);
  }
  std::vector<PendingCell> pending;
  for (size_t g = 0; g < o.generators.size(); ++g) {
    auto gen = random::make_generator(o.generators[g], cfg.seed, 1);
    for (const auto& e : gen_grid) {
      const int w = e.emit_width();
      std::vector<uint32_t> words(static_cast<size_t>((capacity + w - 1) / w));
      gen->fill(words);
      for (auto& x : words) {  // the field in the low bits, mixed like harvested words if asked
        x = harvest::extract_field(x, e.extractor.lo, e.extractor.hi);
        x = harvest::apply_mix(x, e.extractor.mix, e.extractor.width());
      }
      BitAccumulator acc(capacity);
      acc.append_words(words, w);
      AtlasCell c;
      c.phase = "-";
      c.source = "generator";
      c.layer = -1;
      c.layer_name = "-";
      c.tap = o.generators[g];
      c.extractor = e;
      c.elements_per_step = 0;
      c.zero_fraction = nan();
      c.changed_fraction = nan();
      c.bits_available = acc.offered();
      c.ones_fraction = static_cast<double>(acc.count_ones()) / static_cast<double>(acc.size());
      c.zero_word_fraction = w > 1 ? static_cast<double>(acc.count_zero_groups(w)) / static_cast<double>(acc.size() / w) : nan();
      c.supply_bits_per_step = nan();
      c.demand_bits_per_step = nan();
      c.demand_basis = "-";
      result.cells.push_back(c);
      PendingCell p;
      p.cell = result.cells.size() - 1;
      p.seqs = cut_sequences(acc, o.bits, o.sequences, o.min_bits);
      pending.push_back(std::move(p));
    }
  }
  log(fmt::format("generators: testing {} cells", pending.size()));
  test_cells(pending, result.cells, o, "generators");
  o.log = {};
  result.options = o;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

// ---- outputs ------------------------------------------------------------------------------------

namespace {

std::string fmt_num(double x, const char* f = "{:.0f}") {
  if (std::isnan(x)) return "-";
  return fmt::format(fmt::runtime(f), x);
}

std::string tap_label(const AtlasCell& c) {
  if (c.source == "generator") return c.tap;
  return c.tap == "input" ? std::string("input") : c.layer_name + "." + c.tap;
}

std::string verdict_text(const CellVerdict& v, int64_t bits_available) {
  if (!v.tested) return fmt::format("not tested: {} bits", bits_available);
  return fmt::format("{}/{}", v.passed, v.rows);
}

std::string preset_extractor_name(const TrainConfig& cfg) {
  harvest::Extractor e = harvest::Extractor::parse_bits(cfg.quant.harvest.bits);
  AtlasExtractor a;
  a.extractor = e;
  a.extractor.mix = harvest::parse_mix(cfg.quant.harvest.mix);
  a.extractor.zeros = cfg.quant.harvest.skip_zeros ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
  return a.name();
}

std::vector<std::string> tap_labels_in_order(const AtlasResult& r, bool generators) {
  std::vector<std::string> out;
  for (const auto& c : r.cells) {
    if ((c.source == "generator") != generators) continue;
    const std::string l = tap_label(c);
    if (std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
  }
  return out;
}

}  // namespace

std::string atlas_csv(const AtlasResult& r) {
  std::string s =
      "phase,first_step,last_step,source,layer,layer_name,tap,extractor,lo,hi,fold,zeros,elements_per_step,"
      "zero_fraction,changed_fraction,bits_available,supply_bits_per_step,demand_bits_per_step,demand_basis,"
      "supply_demand_ratio,ones_fraction,zero_word_fraction,tested,sequences,sequence_bits,rows,passed,not_applicable,"
      "pass_rate,failing_tests\n";
  for (const auto& c : r.cells) {
    int64_t first = -1, last = -1;
    for (const auto& p : r.phases) {
      if (p.name == c.phase) {
        first = p.first_step;
        last = p.last_step;
      }
    }
    const auto& v = c.verdict;
    const double ratio = c.demand_bits_per_step > 0 ? c.supply_bits_per_step / c.demand_bits_per_step : nan();
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},\"{}\",{},{},{},{},{},{},{},{},{},{},\"{}\"\n",
                     c.phase, first, last, c.source, c.layer, c.layer_name, c.tap, c.extractor.name(),
                     c.extractor.extractor.lo, c.extractor.extractor.hi, c.extractor.fold,
                     skips(c.extractor) ? "skip" : "keep", c.elements_per_step, fmt_num(c.zero_fraction, "{:.6f}"),
                     fmt_num(c.changed_fraction, "{:.6f}"), c.bits_available, fmt_num(c.supply_bits_per_step, "{:.1f}"),
                     fmt_num(c.demand_bits_per_step, "{:.1f}"), c.demand_basis, fmt_num(ratio, "{:.4f}"),
                     fmt_num(c.ones_fraction, "{:.6f}"), fmt_num(c.zero_word_fraction, "{:.6f}"), v.tested ? 1 : 0,
                     v.sequences, v.sequence_bits, v.rows, v.passed, v.not_applicable, fmt_num(v.pass_rate(), "{:.4f}"),
                     join(v.failing_tests, ";"));
  }
  return s;
}

std::string atlas_markdown(const AtlasResult& r) {
  const auto& o = r.options;
  std::string s = "# Randomness atlas\n\n";
  s += fmt::format("Model `{}`, data `{}`, preset `{}`, batch {}, seed {}; {} training steps; phases of {} consecutive "
                   "steps; per cell {} sequences of {} bits (shorter, down to {} bits, where a tap yields fewer; "
                   "otherwise not tested); NIST profile `{}`; {:.0f} s in all.\n\n",
                   r.config.model, r.config.data, r.config.preset, r.config.batch, r.config.seed, o.steps, o.window,
                   o.sequences, o.bits, o.min_bits, nist::profile_name(o.profile), r.seconds);
  s += "| phase | steps | train loss | train accuracy |\n|---|---|---|---|\n";
  for (const auto& p : r.phases) {
    s += fmt::format("| {} | {}..{} | {:.4f} | {:.3f} |\n", p.name, p.first_step, p.last_step, p.train_loss,
                     p.train_accuracy);
  }
  s += fmt::format("\nTest accuracy after the last step: {:.4f}.\n\n", r.final_test_accuracy);
  s += "Pass counts are the number of the P-value rows (188 with the defaults) whose proportion test passes "
       "(alpha = 0.01); not-applicable rows never pass. See docs/atlas.md for how to read this.\n\n";

  // Compact matrix: pass counts of a few extractors per tap and phase.
  std::vector<std::string> key;
  for (const auto& c : r.cells) {
    const std::string n = c.extractor.name();
    if (std::find(key.begin(), key.end(), n) == key.end()) key.push_back(n);
  }
  const std::vector<std::string> wanted = {"b0",       "b8",         "b12",          "b15",          "low8",
                                           "low8/w",   "low16",      "low16/w",      "low16/skip",   "low16/w/skip",
                                           "low16/w8", "low16/f4", "low16/f4/w", "low16/f4/w8",
                                           "low8/f4/skip", "low16/f4/skip"};
  std::vector<std::string> cols;
  for (const auto& w : wanted) {
    if (std::find(key.begin(), key.end(), w) != key.end()) cols.push_back(w);
  }
  for (const auto& c : r.cells) {  // extra fields (--fields), fold 1, zeros kept
    const std::string n = c.extractor.name();
    if (n.starts_with("bits") && std::find(cols.begin(), cols.end(), n) == cols.end()) cols.push_back(n);
  }
  s += "## Summary: passing rows per tap, phase and extractor\n\n`r=0`: the fraction of low8 / low16 words (fold 1, "
       "zeros kept) that are 0 — SR with R = 8 / 16 bits given such a word rounds down.\n\n| tap | phase | zeros | "
       "changed | r=0 low8 | r=0 low16 | supply bits/step (low16) | demand bits/step |";
  for (const auto& c : cols) s += " " + c + " |";
  s += "\n|---|---|---|---|---|---|---|---|";
  for (size_t i = 0; i < cols.size(); ++i) s += "---|";
  s += "\n";
  std::map<std::string, const AtlasCell*> index;
  for (const auto& c : r.cells) index[c.phase + "|" + tap_label(c) + "|" + c.extractor.name()] = &c;
  for (const auto& label : tap_labels_in_order(r, false)) {
    for (const auto& p : r.phases) {
      const AtlasCell* any = nullptr;
      for (const auto& k : key) {
        if (auto it = index.find(p.name + "|" + label + "|" + k); it != index.end()) {
          any = it->second;
          break;
        }
      }
      if (!any) continue;
      const AtlasCell* low16 = index.count(p.name + "|" + label + "|low16") ? index[p.name + "|" + label + "|low16"] : nullptr;
      const AtlasCell* low8 = index.count(p.name + "|" + label + "|low8") ? index[p.name + "|" + label + "|low8"] : nullptr;
      s += fmt::format("| {} | {} | {}% | {}% | {}% | {}% | {} | {} ({}) |", label, p.name,
                       fmt_num(100 * any->zero_fraction, "{:.1f}"), fmt_num(100 * any->changed_fraction, "{:.1f}"),
                       low8 ? fmt_num(100 * low8->zero_word_fraction, "{:.1f}") : "-",
                       low16 ? fmt_num(100 * low16->zero_word_fraction, "{:.1f}") : "-",
                       low16 ? fmt_num(low16->supply_bits_per_step) : "-", fmt_num(any->demand_bits_per_step),
                       any->demand_basis);
      for (const auto& c : cols) {
        auto it = index.find(p.name + "|" + label + "|" + c);
        s += " " + (it == index.end() ? std::string("-")
                                      : (it->second->verdict.tested ? fmt::format("{}", it->second->verdict.passed)
                                                                    : std::string("n/t"))) + " |";
      }
      s += "\n";
    }
  }
  s += "\n`n/t`: not tested (too few bits in the window; the full table says how many).\n\n";

  s += "## Generator baselines\n\n| generator | extractor | passed | failing tests |\n|---|---|---|---|\n";
  for (const auto& c : r.cells) {
    if (c.source != "generator") continue;
    s += fmt::format("| {} | {} | {} | {} |\n", c.tap, c.extractor.name(), verdict_text(c.verdict, c.bits_available),
                     join(c.verdict.failing_tests, ", "));
  }

  s += "\n## All cells\n\n| phase | tap | extractor | supply bits/step | demand bits/step | supply/demand | bits | "
       "sequences | passed | n/a | failing tests |\n|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& c : r.cells) {
    if (c.source == "generator") continue;
    const double ratio = c.demand_bits_per_step > 0 ? c.supply_bits_per_step / c.demand_bits_per_step : nan();
    const auto& v = c.verdict;
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n", c.phase, tap_label(c),
                     c.extractor.name(), fmt_num(c.supply_bits_per_step), fmt_num(c.demand_bits_per_step),
                     fmt_num(ratio, "{:.2f}"), c.bits_available,
                     v.tested ? fmt::format("{} x {}", v.sequences, v.sequence_bits) : std::string("-"),
                     verdict_text(v, c.bits_available), v.tested ? fmt::format("{}", v.not_applicable) : std::string("-"),
                     join(v.failing_tests, ", "));
  }
  return s;
}

void write_atlas(const AtlasResult& r, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("--out '{}': cannot create the folder: {}", dir, ec.message()));
  write_file_atomic(dir + "/atlas.csv", atlas_csv(r));
  write_file_atomic(dir + "/atlas.md", atlas_markdown(r));

  std::map<std::string, const AtlasCell*> index;
  for (const auto& c : r.cells) index[c.phase + "|" + tap_label(c) + "|" + c.extractor.name()] = &c;
  const std::vector<std::string> tap_rows = tap_labels_in_order(r, false);
  const std::vector<std::string> gen_rows = tap_labels_in_order(r, true);

  // Heatmaps: pass rate by tap (rows) and bit position / word (columns), one per phase and zero policy.
  for (const auto& p : r.phases) {
    for (bool skip : {false, true}) {
      report::Heatmap h;
      h.title = fmt::format("Pass rate (proportion test) by tap and bit, {} phase (steps {}..{}), zeros {}", p.name,
                            p.first_step, p.last_step, skip ? "skipped" : "kept");
      h.x_label = "extractor (bN: bit N of the FP32 pattern alone; lowN: the low N bits as a word; bitsA-B: a field)";
      h.y_label = "tap";
      std::vector<std::string> cols;  // fold-1, zeros-kept extractors in grid order: b0.., low4, low8, low16, fields
      for (const auto& c : r.cells) {
        if (c.extractor.fold != 1 || skips(c.extractor)) continue;
        const std::string n = c.extractor.name();
        if (std::find(cols.begin(), cols.end(), n) == cols.end()) cols.push_back(n);
      }
      std::vector<std::string> present;
      for (const auto& c : cols) {
        for (const auto& t : tap_rows) {
          if (index.count(p.name + "|" + t + "|" + c + (skip ? "/skip" : ""))) {
            present.push_back(c);
            break;
          }
        }
      }
      if (present.empty()) continue;
      h.column_labels = present;
      auto add_row = [&](const std::string& label, const std::string& phase, bool gen) {
        std::vector<double> row;
        for (const auto& c : present) {
          auto it = index.find(phase + "|" + label + "|" + c + (skip && !gen ? "/skip" : ""));
          row.push_back(it == index.end() ? nan() : it->second->verdict.pass_rate());
        }
        h.row_labels.push_back(gen ? label + " (generator)" : label);
        h.values.push_back(row);
      };
      for (const auto& t : tap_rows) add_row(t, p.name, false);
      for (const auto& g : gen_rows) add_row(g, "-", true);
      write_file_atomic(fmt::format("{}/heatmap_{}{}.svg", dir, p.name, skip ? "_skip" : ""),
                                report::render_svg(h));
    }
  }

  // Pass rate over training for the preset's extractor (fold 1), one line per tap; generators flat.
  std::string ex = preset_extractor_name(r.config);
  bool found = false;
  for (const auto& c : r.cells) found = found || c.extractor.name() == ex;
  if (!found) ex = "low16";
  report::LineChart chart;
  chart.title = fmt::format("Pass rate over training, extractor {} (preset {})", ex, r.config.preset);
  chart.x_label = "training step (first step of the phase's window)";
  chart.y_label = "fraction of applicable P-value rows passing";
  chart.y_min = 0;
  chart.y_max = 1.05;
  for (const auto& t : tap_rows) {
    report::Series s;
    s.label = t;
    for (const auto& p : r.phases) {
      auto it = index.find(p.name + "|" + t + "|" + ex);
      s.x.push_back(static_cast<double>(p.first_step));
      s.y.push_back(it == index.end() ? nan() : it->second->verdict.pass_rate());
    }
    chart.series.push_back(s);
  }
  for (const auto& g : gen_rows) {
    auto it = index.find("-|" + g + "|" + ex);
    if (it == index.end()) continue;
    report::Series s;
    s.label = g + " (generator)";
    for (const auto& p : r.phases) {
      s.x.push_back(static_cast<double>(p.first_step));
      s.y.push_back(it->second->verdict.pass_rate());
    }
    chart.series.push_back(s);
  }
  write_file_atomic(dir + "/pass_rate.svg", report::render_svg(chart));
}

}  // namespace rngfree::train
