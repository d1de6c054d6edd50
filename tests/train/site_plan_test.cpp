// The site plan (train/site_plan.hpp): defaults resolved per layer, the refusals that keep SR
// unbiased (each with the message a user sees), and fold coverage of the default pairing.
#include "rngfree/train/site_plan.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "rngfree/error.hpp"

namespace rngfree::train {
namespace {

const std::vector<std::string> kLenet = {"conv1", "conv2", "fc1", "fc2", "fc3"};

QuantConfig preset(std::string_view name) {
  TrainConfig c;
  apply_preset(c, name);
  return c.quant;
}

std::string error_of(const QuantConfig& q) {
  try {
    (void)make_site_plan(q, kLenet);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

// Invariant: the harvest preset's E, G and U sites read their own layer's act (docs/training.md),
// A and W are not stochastic there, and every generator site gets its own stream 1 + 6·layer + site.
TEST(SitePlan, DefaultsOfTheHarvestPreset) {
  const SitePlan plan = make_site_plan(preset("int8-sr-harvest"), kLenet);
  ASSERT_EQ(plan.sites.size(), kLenet.size() * kNumSites);
  for (int l = 0; l < 5; ++l) {
    for (Site s : {Site::kErrors, Site::kGradients, Site::kUpdate}) {
      const PlannedSite& p = plan.at(l, s);
      EXPECT_TRUE(p.active);
      EXPECT_EQ(p.source, SourceKind::kHarvest);
      EXPECT_EQ(p.tap, harvest::TapKind::kAct);
      EXPECT_EQ(p.tap_layer, l);
      EXPECT_GE(p.supplied_bits, p.rounding.random_bits);
    }
    // E, G and U also XOR in the next layer's act and err (conv1's act is constant over the
    // background; resnet20's convolutions have no bias) and the act of the layer before the last
    // (fc2, layer 3: every tap of a full-resolution stage can be constant over the background), each
    // tensor once: past the last layer act@+1 and err@+1 are dropped, and fc2's act is read once.
    for (Site s : {Site::kErrors, Site::kGradients, Site::kUpdate}) {
      std::vector<std::pair<harvest::TapKind, int>> got;
      for (const auto& e : plan.at(l, s).extra) got.emplace_back(e.tap, e.tap_layer);
      using K = harvest::TapKind;
      const std::vector<std::vector<std::pair<K, int>>> want = {
          {{K::kAct, 1}, {K::kErr, 1}, {K::kAct, 3}},
          {{K::kAct, 2}, {K::kErr, 2}, {K::kAct, 3}},
          {{K::kAct, 3}, {K::kErr, 3}},
          {{K::kAct, 4}, {K::kErr, 4}},
          {{K::kAct, 3}}};
      EXPECT_EQ(got, want[static_cast<size_t>(l)]) << "layer " << l;
    }
    EXPECT_EQ(plan.at(l, Site::kWeights).source, SourceKind::kNone);  // nearest-even
    EXPECT_FALSE(plan.at(l, Site::kMomentum).active);
    EXPECT_TRUE(plan.reads(l, harvest::TapKind::kAct));
    EXPECT_EQ(plan.reads(l, harvest::TapKind::kErr), l > 0);  // err@+1 of the layer before
  }
  EXPECT_EQ(plan.stochastic_sites().size(), 15U);
  const SitePlan philox = make_site_plan(preset("int8-sr-philox"), kLenet);
  EXPECT_EQ(philox.at(2, Site::kGradients).source, SourceKind::kGenerator);
  EXPECT_EQ(philox.at(2, Site::kGradients).stream, 1U + 2 * 6 + 3);
}

// Invariant: a tap beyond the model resolves as the engine reads it (before the first layer: the
// input; after the last: the tensor itself), and first/last_layer switch sites off.
TEST(SitePlan, OffsetsResolveAtTheEdges) {
  QuantConfig q = preset("int8-sr-harvest");
  q.sites[static_cast<int>(Site::kErrors)].source = "harvest:act@+1";
  q.sites[static_cast<int>(Site::kGradients)].source = "harvest:act@-1";
  const SitePlan plan = make_site_plan(q, kLenet);
  EXPECT_EQ(plan.at(4, Site::kErrors).tap, harvest::TapKind::kSelf);
  EXPECT_EQ(plan.at(3, Site::kErrors).tap_layer, 4);
  EXPECT_EQ(plan.at(0, Site::kGradients).tap, harvest::TapKind::kInput);
  EXPECT_EQ(plan.at(1, Site::kGradients).tap_layer, 0);
  q.first_layer = false;
  q.last_layer = false;
  const SitePlan inner = make_site_plan(q, kLenet);
  EXPECT_FALSE(inner.at(0, Site::kErrors).active);
  EXPECT_FALSE(inner.at(4, Site::kUpdate).active);
  EXPECT_TRUE(inner.at(2, Site::kUpdate).active);
}

// Invariant: "harvest:A+B" sums taps ('+' after '@' is an offset), and the description names both.
TEST(SitePlan, SumsOfTaps) {
  QuantConfig q = preset("int8-sr-harvest");
  q.sites[static_cast<int>(Site::kGradients)].source = "harvest:err@-1+act@+1+weights";
  const SitePlan plan = make_site_plan(q, kLenet);
  const PlannedSite& g = plan.at(2, Site::kGradients);
  EXPECT_EQ(g.tap, harvest::TapKind::kErr);
  EXPECT_EQ(g.tap_layer, 1);
  ASSERT_EQ(g.extra.size(), 2U);
  EXPECT_EQ(g.extra[0].tap_layer, 3);
  EXPECT_EQ(g.extra[1].tap, harvest::TapKind::kWeights);
  EXPECT_EQ(g.extra[1].tap_layer, 2);
  EXPECT_TRUE(plan.reads(3, harvest::TapKind::kAct));
  EXPECT_EQ(plan.at(4, Site::kGradients).extra.size(), 1U);  // act@+1 past the last layer is dropped
  q.sites[static_cast<int>(Site::kGradients)].source = "harvest:act+act@+1";
  TrainConfig c;
  c.quant = q;
  c.validate();  // the config accepts sums of taps too
  const std::string d = g.describe(plan.layer_names);
  EXPECT_NE(d.find("err of layer 1 (conv2) ^ act of layer 3 (fc2) ^ weights of layer 2 (fc1)"), std::string::npos) << d;
  q.sites[static_cast<int>(Site::kGradients)].source = "harvest:act+self";
  EXPECT_NE(error_of(q).find("'self' can only be the first tap"), std::string::npos);
  q.sites[static_cast<int>(Site::kGradients)].source = "harvest:act+grad";  // grad is G's own value
  EXPECT_NE(error_of(q).find("holds the very values"), std::string::npos);
}

// Invariant: taps counted from the last layer resolve per layer; a tap that resolves to one already
// in the sum is read once (XORed with itself it would cancel); a refusal names the tap that holds
// the site's own values, not the sum's first tap.
TEST(SitePlan, TapsFromTheLastLayerAndRepeatedTaps) {
  QuantConfig q = preset("int8-sr-harvest");
  q.sites[static_cast<int>(Site::kErrors)].source = "harvest:act+act@+1+act@last-1";
  const SitePlan plan = make_site_plan(q, kLenet);
  const PlannedSite& e0 = plan.at(0, Site::kErrors);
  ASSERT_EQ(e0.extra.size(), 2U);
  EXPECT_EQ(e0.extra[1].tap, harvest::TapKind::kAct);
  EXPECT_EQ(e0.extra[1].tap_layer, 3);                   // fc2, the layer before the last
  EXPECT_EQ(plan.at(2, Site::kErrors).extra.size(), 1U);  // fc1: act@+1 and act@last-1 are both fc2's act
  EXPECT_EQ(plan.at(3, Site::kErrors).extra.size(), 1U);  // fc2: act@last-1 is its own act, the primary tap
  EXPECT_EQ(plan.at(3, Site::kErrors).extra[0].tap_layer, 4);
  ASSERT_EQ(plan.at(4, Site::kErrors).extra.size(), 1U);  // fc3: act@+1 dropped, fc2's act kept
  EXPECT_EQ(plan.at(4, Site::kErrors).extra[0].tap_layer, 3);
  q.sites[static_cast<int>(Site::kErrors)].source = "harvest:act+err@last";  // fc3's E reads its own err
  const std::string e = error_of(q);
  EXPECT_NE(e.find("layer 4 (fc3), site E"), std::string::npos) << e;
  EXPECT_NE(e.find("reads err of layer 4"), std::string::npos) << e;
}

// The layers of a 2-block gpt (docs/lm.md) and the two that have a prob tap (h{i}.pv).
const std::vector<std::string> kGpt2 = {"h0.qkv", "h0.qk", "h0.pv", "h0.proj", "h0.fc1", "h0.fc2", "h1.qkv",
                                        "h1.qk",  "h1.pv", "h1.proj", "h1.fc1", "h1.fc2", "head"};
const std::vector<int> kGpt2Prob = {2, 8};

std::string gpt_error_of(const QuantConfig& q, const std::vector<int>& prob_layers = kGpt2Prob) {
  try {
    (void)make_site_plan(q, kGpt2, prob_layers);
  } catch (const Error& e) {
    return e.what();
  }
  return {};
}

// Invariant: `prob` resolves like the other layer taps (an offset from the site's layer, or from
// the last layer) and is accepted only where it lands on a layer that has one; elsewhere the
// refusal names the key, the layer, the layers that have one and spellings that reach them. The
// default pairing never reads prob (the defaults are unchanged by its existence).
TEST(SitePlan, ProbTapOnlyAtLayersThatHaveIt) {
  QuantConfig q = preset("int8-dyn-sr-harvest");
  const SitePlan defaults = make_site_plan(q, kGpt2, kGpt2Prob);
  const SitePlan without = make_site_plan(q, kGpt2);
  EXPECT_EQ(defaults.prob_layers, kGpt2Prob);
  for (int l = 0; l < 13; ++l) {
    EXPECT_FALSE(defaults.reads(l, harvest::TapKind::kProb)) << l;
    for (int s = 0; s < kNumSites; ++s) {
      EXPECT_EQ(defaults.at(l, static_cast<Site>(s)).describe(kGpt2), without.at(l, static_cast<Site>(s)).describe(kGpt2));
    }
  }

  q.sites[static_cast<int>(Site::kErrors)].source = "harvest:act+act@+1+err@+1+act@last-1+prob@last-4";
  q.sites[static_cast<int>(Site::kGradients)].source = "harvest:prob@last-4";
  const SitePlan plan = make_site_plan(q, kGpt2, kGpt2Prob);
  for (int l = 0; l < 13; ++l) {
    const PlannedSite& e = plan.at(l, Site::kErrors);
    ASSERT_FALSE(e.extra.empty());
    EXPECT_EQ(e.extra.back().tap, harvest::TapKind::kProb) << l;
    EXPECT_EQ(e.extra.back().tap_layer, 8) << l;  // h1.pv from every layer
    EXPECT_EQ(plan.at(l, Site::kGradients).tap, harvest::TapKind::kProb);
    EXPECT_EQ(plan.at(l, Site::kGradients).tap_layer, 8);
  }
  EXPECT_TRUE(plan.reads(8, harvest::TapKind::kProb));
  EXPECT_FALSE(plan.reads(2, harvest::TapKind::kProb));
  const std::string d = plan.at(0, Site::kGradients).describe(kGpt2);
  EXPECT_NE(d.find("harvest prob of layer 8 (h1.pv)"), std::string::npos) << d;

  QuantConfig rel = preset("int8-dyn-sr-harvest");
  rel.sites[static_cast<int>(Site::kErrors)].source = "harvest:prob";  // layer 0 (h0.qkv) has none
  const std::string e = gpt_error_of(rel);
  EXPECT_NE(e.find("layer 0 (h0.qkv), site E: [quant.E] source 'harvest:prob' reads prob of layer 0 (h0.qkv), "
                   "which has no prob tap"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("only layers 2 (h0.pv), 8 (h1.pv) have one; from layer 0 name e.g. prob@+2 or"), std::string::npos)
      << e;
  EXPECT_NE(e.find("prob@last-10"), std::string::npos) << e;
  rel.sites[static_cast<int>(Site::kErrors)].source = "harvest:act+prob@-1";  // in a sum too (h0.qkv: the input)
  rel.sites[static_cast<int>(Site::kUpdate)].source = "harvest:act+prob@-1";  // layer 0 resolves to the input; 1 does not
  const std::string e1 = gpt_error_of(rel);
  EXPECT_NE(e1.find("layer 1 (h0.qk), site E: [quant.E] source 'harvest:act+prob@-1' reads prob of layer 0"),
            std::string::npos)
      << e1;
  // A model without prob layers (lenet5, every classification and superres model).
  QuantConfig lenet = preset("int8-sr-harvest");
  lenet.sites[static_cast<int>(Site::kUpdate)].source = "harvest:prob@last";
  const std::string el = error_of(lenet);
  EXPECT_NE(el.find("site U: [quant.U] source 'harvest:prob@last' reads prob of layer 4 (fc3)"), std::string::npos) << el;
  EXPECT_NE(el.find("this model has no layer with one"), std::string::npos) << el;
  // A 1-block gpt's only pv layer: the message's prob@last-K is exact (7 layers, h0.pv is layer 2).
  const std::vector<std::string> one = {"h0.qkv", "h0.qk", "h0.pv", "h0.proj", "h0.fc1", "h0.fc2", "head"};
  QuantConfig q1 = preset("int8-dyn-sr-harvest");
  q1.sites[static_cast<int>(Site::kErrors)].source = "harvest:prob@+1";
  try {
    (void)make_site_plan(q1, one, std::vector<int>{2});
    ADD_FAILURE() << "prob@+1 from layer 0 is h0.qk, which has no prob tap";
  } catch (const Error& x) {
    EXPECT_NE(std::string(x.what()).find("prob@+2 or, the same layer from every layer, prob@last-4"), std::string::npos)
        << x.what();
  }
  q1.sites[static_cast<int>(Site::kErrors)].source = "harvest:prob@last-4";
  EXPECT_NO_THROW((void)make_site_plan(q1, one, std::vector<int>{2}));
}

// Invariant: with skip_zeros an E site reads a tap of its own size by auto, resolved against the
// zero-free tap, not aligned (which dropping zeros breaks: the gpt's E sites reading the attention
// probabilities, half of them exact zeros, stopped with "pairing 'aligned': the tap has n = 133120
// elements (after the zero policy) and the site m = 262144").
TEST(SitePlan, ErrorsWithSkipZerosPairAgainstTheZeroFreeTap) {
  QuantConfig q = preset("int8-sr-harvest");
  EXPECT_EQ(harvest_pairing(make_site_plan(q, kLenet).at(1, Site::kErrors), 100, 100, 3).kind,
            harvest::PairingKind::kAligned);
  q.harvest.skip_zeros = true;
  const SitePlan plan = make_site_plan(q, kLenet);
  const PlannedSite& e = plan.at(1, Site::kErrors);
  const harvest::Pairing p = harvest_pairing(e, 100, 100, 3);
  EXPECT_EQ(p.kind, harvest::PairingKind::kAuto);
  std::vector<float> tap(100, 0.0f);
  for (size_t i = 0; i < tap.size(); i += 2) tap[i] = 1.0f + static_cast<float>(i) * 0.0078125f;  // half zeros
  std::vector<uint32_t> words(100);
  harvest::harvest_words(tap, e.extractor, p, words);
  // auto on the 50 kept elements, wrapping: word i and word i + 50 come from the same element
  for (size_t i = 0; i < 50; ++i) EXPECT_EQ(words[i], words[i + 50]) << i;
  EXPECT_NE(words[0], words[1]);
}

// Invariant: the A site of a softmax·V layer rounds the probabilities themselves, so A <- its own
// prob is refused like A <- act@-1 (shifted or allow_own_bits accept it); another layer's A may read it.
TEST(SitePlan, ProbIsTheOwnValueOfItsLayersActivationSite) {
  QuantConfig q = preset("int8-dyn-sr-harvest");
  SiteConfig& a = q.sites[static_cast<int>(Site::kActivations)];
  a.rounding = "stochastic:8";
  a.source = "harvest:prob@last-4";  // h1.pv (layer 8) from every layer: its own at layer 8
  const std::string e = gpt_error_of(q);
  EXPECT_NE(e.find("layer 8 (h1.pv), site A"), std::string::npos) << e;
  EXPECT_NE(e.find("reads prob of layer 8, which holds the very values this site rounds"), std::string::npos) << e;
  a.pairing = "shifted";
  EXPECT_EQ(gpt_error_of(q), "");
  a.pairing = "auto";
  a.source = "harvest:prob@last-10";  // h0.pv (layer 2): its own at layer 2 only
  const std::string e2 = gpt_error_of(q);
  EXPECT_NE(e2.find("layer 2 (h0.pv), site A"), std::string::npos) << e2;
  a.allow_own_bits = true;
  EXPECT_EQ(gpt_error_of(q), "");
}

// Invariant: a source with fewer random bits than R is refused, naming the site and the numbers.
TEST(SitePlan, RefusesSourcesThatSupplyTooFewBits) {
  QuantConfig q = preset("int8-sr-harvest");
  q.harvest.bits = "0-7";  // 8 bits, but U is stochastic:16
  const std::string e = error_of(q);
  EXPECT_NE(e.find("site U"), std::string::npos) << e;
  EXPECT_NE(e.find("gives 8 random bits"), std::string::npos) << e;
  EXPECT_NE(e.find("needs 16"), std::string::npos) << e;

  QuantConfig g = preset("int8-sr-lfsr");
  g.sites[static_cast<int>(Site::kErrors)].source = "lfsr:4";
  const std::string ge = error_of(g);
  EXPECT_NE(ge.find("layer 0 (conv1), site E"), std::string::npos) << ge;
  EXPECT_NE(ge.find("'lfsr:4' gives 4 random bits"), std::string::npos) << ge;
  g.sites[static_cast<int>(Site::kErrors)].source = "lfsr:8";  // exactly R = 8 bits: fine
  EXPECT_EQ(error_of(g), "");
}

// Invariant: a harvested site that may read the very values it rounds is refused unless it is
// shifted or explicitly allowed; shifted with skip_zeros is refused too.
TEST(SitePlan, RefusesOwnBitsUnlessAskedFor) {
  struct Case {
    Site site;
    std::string source;
  };
  for (const Case& c : {Case{Site::kActivations, "harvest:act@-1"}, Case{Site::kActivations, "harvest:input"},
                        Case{Site::kErrors, "harvest:err"}, Case{Site::kGradients, "harvest:grad"},
                        Case{Site::kUpdate, "harvest:weights"}, Case{Site::kWeights, "harvest:weights"}}) {
    QuantConfig q = preset("int8-sr-harvest");
    SiteConfig& s = q.sites[static_cast<int>(c.site)];
    s.format = "fixed:8:dyn";
    s.rounding = "stochastic:8";
    s.source = c.source;
    const std::string e = error_of(q);
    EXPECT_NE(e.find("holds the very values this site rounds"), std::string::npos) << c.source << ": " << e;
    EXPECT_NE(e.find("allow_own_bits"), std::string::npos) << e;
    s.pairing = "shifted";
    EXPECT_EQ(error_of(q), "") << c.source;
    s.pairing = "auto";
    s.allow_own_bits = true;
    EXPECT_EQ(error_of(q), "") << c.source;
  }
  // The default A (act@-1, or the input at layer 0) is shifted, hence accepted.
  QuantConfig a = preset("int8-sr-harvest");
  a.sites[static_cast<int>(Site::kActivations)].rounding = "stochastic:8";
  a.sites[static_cast<int>(Site::kActivations)].source = "harvest";
  const SitePlan plan = make_site_plan(a, kLenet);
  EXPECT_EQ(plan.at(0, Site::kActivations).pairing_mode, PlanPairing::kShifted);
  EXPECT_EQ(plan.at(0, Site::kActivations).tap, harvest::TapKind::kInput);
  a.harvest.skip_zeros = true;
  const std::string e = error_of(a);
  EXPECT_NE(e.find("'shifted' with skip_zeros"), std::string::npos) << e;
}

// Invariant: the default pairing of a small site on a large tap spreads over the whole tap: over
// successive steps every tap element is read (the old fold read only the first k·m elements), and
// the G and U sites of one layer do not read the same elements in the same step.
TEST(SitePlan, SpreadCoversTheWholeTapOverSteps) {
  const SitePlan plan = make_site_plan(preset("int8-sr-harvest"), kLenet);
  const PlannedSite& g = plan.at(0, Site::kGradients);
  const PlannedSite& u = plan.at(0, Site::kUpdate);
  for (const auto& [n, m] : std::vector<std::pair<int64_t, int64_t>>{{600, 150}, {6000, 150}, {6007, 150}, {1000, 333}}) {
    std::set<int64_t> seen;
    const harvest::Pairing first = harvest_pairing(g, n, m, 0);
    ASSERT_EQ(first.kind, harvest::PairingKind::kSpread);
    const int64_t k = first.fold, block = n / k, period = n - (k - 1) * block;
    EXPECT_EQ(k, std::min<int64_t>(n / m, kMaxFold));
    for (int64_t step = 0; step < (period + m - 1) / m + 1; ++step) {
      const harvest::Pairing p = harvest_pairing(g, n, m, step);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < k; ++j) seen.insert((p.offset + i + j * block) % n);
      }
    }
    EXPECT_EQ(static_cast<int64_t>(seen.size()), n) << "every element, n " << n << ", m " << m;
    if (block >= kSiteStride * m) {
      const harvest::Pairing pg = harvest_pairing(g, n, m, 3), pu = harvest_pairing(u, n, m, 3);
      std::set<int64_t> gs;
      for (int64_t i = 0; i < m; ++i) gs.insert((pg.offset + i) % n);
      for (int64_t i = 0; i < m; ++i) EXPECT_FALSE(gs.count((pu.offset + i) % n)) << "n " << n << ", m " << m;
    }
  }
  // E: its own layer's act (same size) aligned, a smaller tap whole from its start.
  const PlannedSite& e = plan.at(0, Site::kErrors);
  EXPECT_EQ(harvest_pairing(e, 150, 150, 7).kind, harvest::PairingKind::kAligned);
  EXPECT_EQ(harvest_pairing(e, 100, 150, 7).kind, harvest::PairingKind::kStrided);
  EXPECT_EQ(harvest_pairing(e, 100, 150, 7).offset, 0);
}

// Invariant: G and U of a layer never take their word for weight j from the same tap element when
// the tap is no larger than the site (it wraps): otherwise G's 8-bit r would be the low bits of U's
// 16-bit r for the same weight. The start advances by m per step (mod n), a sixth of the tap apart.
TEST(SitePlan, GradientAndUpdateReadDifferentElementsOfASmallTap) {
  const SitePlan plan = make_site_plan(preset("int8-sr-harvest"), kLenet);
  const PlannedSite& g = plan.at(2, Site::kGradients);  // fc1: 48,000 weights
  const PlannedSite& u = plan.at(2, Site::kUpdate);
  for (const auto& [n, m] : std::vector<std::pair<int64_t, int64_t>>{{15360, 48000}, {10752, 48000}, {150, 150}, {7, 9}}) {
    for (int64_t step : {0, 1, 5, 1000003}) {
      const harvest::Pairing pg = harvest_pairing(g, n, m, step), pu = harvest_pairing(u, n, m, step);
      ASSERT_EQ(pg.kind, harvest::PairingKind::kStrided);
      ASSERT_EQ(pu.kind, harvest::PairingKind::kStrided);
      EXPECT_EQ(pg.stride, 1);
      // By hand: offset = (step·m + site·floor(n/6)) mod n, G = site 3, U = site 4.
      EXPECT_EQ(pg.offset, (step * m + 3 * (n / kSiteStride)) % n) << n << " " << step;
      EXPECT_EQ(pu.offset, (step * m + 4 * (n / kSiteStride)) % n) << n << " " << step;
      if (n >= kSiteStride) {
        for (int64_t j = 0; j < m; j += 97) EXPECT_NE((pg.offset + j) % n, (pu.offset + j) % n) << n << " " << j;
      }
    }
  }
}

}  // namespace
}  // namespace rngfree::train
