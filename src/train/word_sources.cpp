// Word sources of the rounding sites (engine.hpp): a seeded generator stream per site, or words
// harvested from a tap of the network as the site plan says (site_plan.hpp, docs/training.md).
#include <fmt/core.h>

#include <functional>
#include <numeric>

#include "rngfree/error.hpp"
#include "rngfree/train/engine.hpp"
#include "tensor_span.hpp"

namespace rngfree::train {

namespace {

class GeneratorWords final : public WordSource {
 public:
  GeneratorWords(const std::string& spec, uint64_t seed, uint64_t site)
      : gen_(random::make_generator(spec, seed, site)) {}
  void fill(std::span<const float>, std::span<uint32_t> out) override { gen_->fill(out); }
  // A generator with words by index (philox; xoshiro128pp with one lane: RandomSource::take) gives
  // each quantize thread its words where it rounds, with no word span written and read back.
  RandomFill fused(std::span<const float> self) override { return gen_->take(static_cast<int64_t>(self.size())); }
  std::string save_state() const override { return gen_->save_state(); }
  void load_state(std::string_view s) override { gen_->load_state(s); }
  std::string describe() const override { return gen_->name(); }

 private:
  std::unique_ptr<random::RandomSource> gen_;
};

// Words harvested from a tap of some layer: the latest tensor it produced (this step if already
// produced, else the previous step's). Before the tap has ever been produced, and for `self`, the
// words come from the other elements of the tensor being rounded (harvest::self_pairing). The
// pairing of each call comes from the plan (harvest_pairing: aligned, spread with a per-step offset,
// strided, shifted, or the config's own).
class HarvestWords final : public WordSource {
 public:
  HarvestWords(Engine& engine, PlannedSite site, std::string description)
      : engine_(engine), site_(std::move(site)), description_(std::move(description)) {}
  void fill(std::span<const float> self, std::span<uint32_t> out) override {
    const harvest::HarvestOptions opts{engine_.threads};
    const std::span<const float> tap = tap_or_self(self);
    const int64_t m = static_cast<int64_t>(out.size());
    std::vector<harvest::TapPairing> taps = tap_pairings(tap, self, m);
    note_repetition(taps, self, m);
    if (site_.extra.empty()) {
      harvest::harvest_words(tap, site_.extractor, taps[0].pairing, out, opts);
      return;
    }
    // Several taps: their unmixed words XORed, then mixed once (harvest_words_sum).
    harvest::Extractor e = site_.extractor;
    if (e.zeros == harvest::ZeroPolicy::kSkip) {
      // The sum takes zero-free taps: drop each tap's zeros here, as harvest_words would (the
      // pairing was made for the unfiltered size, and resolves against the filtered one there too).
      kept_.resize(taps.size());
      for (size_t t = 0; t < taps.size(); ++t) {
        kept_[t].clear();
        for (float v : taps[t].tap) {
          if (v != 0.0f) kept_[t].push_back(v);
        }
        taps[t].tap = kept_[t];
      }
      e.zeros = harvest::ZeroPolicy::kKeep;
    }
    harvest::harvest_words_sum(taps, e, out, opts);
  }
  // Fused into the quantize loop (no word span): every pairing but a zero-filtered tap.
  RandomFill fused(std::span<const float> self) override {
    if (site_.extractor.zeros == harvest::ZeroPolicy::kSkip) return {};
    const std::span<const float> tap = tap_or_self(self);
    const int64_t m = static_cast<int64_t>(self.size());
    std::vector<harvest::TapPairing> taps = tap_pairings(tap, self, m);
    note_repetition(taps, self, m);
    if (site_.extra.empty()) return harvest::harvest_fill(tap, site_.extractor, taps[0].pairing, m);
    return harvest::harvest_fill_sum(taps, site_.extractor, m);
  }
  bool reads_self(std::span<const float> self) const override {
    const auto overlaps = [&](std::span<const float> t) {
      const std::less<const float*> before;
      return !t.empty() && before(t.data(), self.data() + self.size()) && before(self.data(), t.data() + t.size());
    };
    if (overlaps(tap_or_self(self))) return true;
    for (const auto& e : site_.extra) {
      if (overlaps(extra_tap(e))) return true;
    }
    return false;
  }
  std::string describe() const override { return description_; }

 private:
  std::span<const float> tap_or_self(std::span<const float> self) const {
    if (site_.tap == harvest::TapKind::kSelf) return self;
    const torch::Tensor& t = engine_.layers[static_cast<size_t>(site_.tap_layer)]->taps[static_cast<int>(site_.tap)];
    return t.defined() ? float_span(t) : self;
  }
  // An extra tap not produced yet (the first step) contributes nothing.
  std::span<const float> extra_tap(const PlannedSite::ExtraTap& e) const {
    const torch::Tensor& t = engine_.layers[static_cast<size_t>(e.tap_layer)]->taps[static_cast<int>(e.tap)];
    return t.defined() ? float_span(t) : std::span<const float>{};
  }
  harvest::Pairing pairing(std::span<const float> tap, std::span<const float> self, int64_t m) const {
    if (tap.data() == self.data()) return harvest::self_pairing(m);
    return harvest_pairing(site_, static_cast<int64_t>(tap.size()), m, engine_.step);
  }
  // The primary tap (or self) first, then every extra tap already produced, each with its pairing.
  std::vector<harvest::TapPairing> tap_pairings(std::span<const float> tap, std::span<const float> self,
                                                int64_t m) const {
    std::vector<harvest::TapPairing> taps{{tap, pairing(tap, self, m)}};
    for (const auto& e : site_.extra) {
      const std::span<const float> t = extra_tap(e);
      if (!t.empty()) taps.push_back({t, harvest_pairing(site_, static_cast<int64_t>(t.size()), m, engine_.step)});
    }
    return taps;
  }

  // A site whose taps are all smaller than its demand m reads each of them whole and wrapping, so
  // the XOR of their fields (and the mixed word) repeats within the step with period lcm over the
  // taps of n / gcd(n, stride); a tap of m or more elements gives every word distinct elements. A
  // small batch with a large layer does that (lenet5's fc1 at batch 8: taps of 960 and 672
  // elements, 48,000 G words, period 6,720; docs/results.md). Said once per site on stderr, when
  // every tap has been produced (before that the site reads fewer taps or its own tensor).
  static int64_t repetition_period(const std::vector<harvest::TapPairing>& taps, int64_t m) {
    int64_t period = 1;
    for (const harvest::TapPairing& t : taps) {
      const int64_t n = static_cast<int64_t>(t.tap.size());
      if (n == 0 || n >= m || t.pairing.kind != harvest::PairingKind::kStrided) return 0;
      period = std::lcm(period, n / std::gcd(n, t.pairing.stride));  // both < m: no overflow
      if (period >= m) return 0;
    }
    return period;
  }
  void note_repetition(const std::vector<harvest::TapPairing>& taps, std::span<const float> self, int64_t m) {
    if (noted_ || site_.extractor.zeros == harvest::ZeroPolicy::kSkip) return;
    if (site_.tap != harvest::TapKind::kSelf && taps[0].tap.data() == self.data()) return;  // tap not produced yet
    if (taps.size() != 1 + site_.extra.size()) return;
    noted_ = true;
    const int64_t period = repetition_period(taps, m);
    if (period == 0) return;
    std::string sizes;
    for (size_t t = 0; t < taps.size(); ++t) {
      sizes += fmt::format("{}{}", t == 0 ? "" : (t + 1 == taps.size() ? " and " : ", "), taps[t].tap.size());
    }
    const std::string& name = engine_.plan.layer_names[static_cast<size_t>(site_.layer)];
    fmt::print(stderr,
               "rngfree: warning: layer {} ({}) site {} draws {} words per step from tap{} of {} elements, so its "
               "words repeat every {} words within a step (a larger batch gives this layer larger taps; `rngfree "
               "audit` judges the site)\n",
               site_.layer, name, kSiteNames[static_cast<size_t>(site_.site)], m, taps.size() == 1 ? "" : "s", sizes,
               period);
  }

  Engine& engine_;
  PlannedSite site_;
  bool noted_ = false;  // note_repetition has looked at this site
  std::vector<std::vector<float>> kept_;  // zero-free copies of the taps (ZeroPolicy::kSkip with extra taps)
  std::string description_;
};

}  // namespace

std::unique_ptr<WordSource> make_word_source(const PlannedSite& site, Engine& engine, uint64_t seed) {
  RNGFREE_CHECK(site.active && site.source != SourceKind::kNone, "a word source for a site without SR");
  if (site.source == SourceKind::kGenerator) return std::make_unique<GeneratorWords>(site.generator, seed, site.stream);
  return std::make_unique<HarvestWords>(engine, site, site.describe(engine.plan.layer_names));
}

}  // namespace rngfree::train
