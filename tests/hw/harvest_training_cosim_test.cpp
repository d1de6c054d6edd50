// The harvest extractor's RTL (hw/rtl/harvest_extract.v, training's default: bits 8-23, mix field)
// on taps recorded from training: lenet5 with int8-sr-harvest takes a few optimizer steps; at every
// harvested E, G and U rounding, the tap elements that feed word i — the default four taps (act,
// act@+1, err@+1, act@last-1), each paired with the site as docs/training.md says (aligned; spread
// over at most four copies with a per-step offset; strided from an offset when the tap is smaller)
// — go into the RTL, whose word must equal the word training consumed (the site callback's words).
// The element sets are computed here from the documented formulas, not by the library.
#if RNGFREE_HW_WITH_TRAIN
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "Vcosim_harvest.h"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/site_plan.hpp"
#include "rngfree/train/trainer.hpp"
#include "verilated.h"

namespace rngfree::hw_test {
namespace {

using train::PlannedSite;
using train::Site;

// Element j (< k) of word i's set for a pairing resolved against a tap of n elements and a site of m
// words (docs/random.md "Pairings"): aligned {i}; strided with stride 1 {(offset + i) mod n};
// spread:K:OFFSET {(OFFSET + i + j·floor(n/K)) mod n : j < K}. Returns the set.
std::vector<int64_t> element_set(const harvest::Pairing& p, int64_t n, int64_t i) {
  switch (p.kind) {
    case harvest::PairingKind::kAligned: return {i};
    case harvest::PairingKind::kStrided:
      EXPECT_EQ(p.stride, 1) << "training pairs with stride 1";
      return {(p.offset + i) % n};
    case harvest::PairingKind::kSpread: {
      std::vector<int64_t> set;
      for (int64_t j = 0; j < p.fold; ++j) set.push_back((p.offset % n + i + j * (n / p.fold)) % n);
      return set;
    }
    default: ADD_FAILURE() << "training used pairing " << p.name(); return {};
  }
}

TEST(HarvestCosimTraining, ExtractorOnRecordedTapsGivesTheWordsTrainingConsumed) {
  train::TrainConfig c;
  train::apply_preset(c, "int8-sr-harvest");
  c.model = "lenet5";
  c.data = "synthetic:1:28";
  c.batch = 8;
  c.threads = 1;
  train::Trainer t(c);
  const train::SitePlan& plan = t.site_plan();

  std::map<std::pair<int, int>, std::vector<float>> taps;  // (layer, tap kind) -> latest values
  t.set_tap_callback([&](const train::TapEvent& e) {
    taps[{e.layer, static_cast<int>(e.kind)}].assign(e.values.begin(), e.values.end());
  });
  VerilatedContext context;
  Vcosim_harvest rtl(&context);
  std::set<std::pair<int, int>> checked_sites;  // (layer, site)
  int64_t words = 0, mismatches = 0;
  int max_elements = 0;
  t.set_site_callback([&](const train::SiteEvent& e) {
    if (e.site != Site::kErrors && e.site != Site::kGradients && e.site != Site::kUpdate) return;
    const PlannedSite& p = plan.at(e.layer, e.site);
    ASSERT_EQ(p.source, train::SourceKind::kHarvest);
    ASSERT_EQ(p.tap, harvest::TapKind::kAct) << "the default's primary tap";
    ASSERT_EQ(p.extractor.lo, 8);
    ASSERT_EQ(p.extractor.hi, 23);
    ASSERT_EQ(p.extractor.mix, harvest::Mix::kField);
    std::vector<std::pair<int, harvest::TapKind>> sources{{p.tap_layer, p.tap}};
    for (const auto& x : p.extra) sources.push_back({x.tap_layer, x.tap});
    const int64_t m = static_cast<int64_t>(e.words.size());
    std::vector<const std::vector<float>*> values;
    std::vector<harvest::Pairing> pairings;
    for (const auto& [layer, kind] : sources) {
      const auto it = taps.find({layer, static_cast<int>(kind)});
      ASSERT_NE(it, taps.end()) << "layer " << e.layer << " site " << static_cast<int>(e.site) << ": tap not recorded";
      values.push_back(&it->second);
      pairings.push_back(train::harvest_pairing(p, static_cast<int64_t>(it->second.size()), m, e.step));
    }
    for (int64_t i = 0; i < m && mismatches == 0; ++i) {
      int slot = 0;
      for (size_t s = 0; s < values.size(); ++s) {
        const int64_t n = static_cast<int64_t>(values[s]->size());
        for (const int64_t at : element_set(pairings[s], n, i)) {
          ASSERT_LT(slot, 16) << "more than 16 elements feed one word";
          rtl.taps16[slot++] = std::bit_cast<uint32_t>((*values[s])[static_cast<size_t>(at)]);
        }
      }
      max_elements = std::max(max_elements, slot);
      for (int z = slot; z < 16; ++z) rtl.taps16[z] = 0;
      rtl.eval();
      if (rtl.word_train16 != e.words[static_cast<size_t>(i)]) {
        ++mismatches;
        ADD_FAILURE() << "layer " << e.layer << " site " << static_cast<int>(e.site) << " step " << e.step << " word " << i
                      << ": rtl " << rtl.word_train16 << ", training consumed " << e.words[static_cast<size_t>(i)];
      }
      ++words;
    }
    checked_sites.insert({e.layer, static_cast<int>(e.site)});
  });
  t.train_steps(3);
  EXPECT_EQ(mismatches, 0);
  std::set<std::pair<int, int>> harvested;  // every stochastic E, G, U site of the plan
  for (const PlannedSite* p : plan.stochastic_sites()) {
    if (p->site == Site::kErrors || p->site == Site::kGradients || p->site == Site::kUpdate) {
      harvested.insert({p->layer, static_cast<int>(p->site)});
    }
  }
  EXPECT_GE(harvested.size(), static_cast<size_t>(2 * plan.num_layers()));
  EXPECT_EQ(checked_sites, harvested);
  EXPECT_EQ(max_elements, 16) << "some word should take four elements of each of the four taps (conv1's G)";
  std::printf("[cosim] harvest on recorded lenet5 taps: %lld words at %zu sites over 3 steps, up to %d elements a "
              "word, 0 mismatches\n",
              static_cast<long long>(words), checked_sites.size(), max_elements);
}

}  // namespace
}  // namespace rngfree::hw_test
#endif
