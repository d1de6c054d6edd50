// G and U of a layer round the same weights in the same step (G the weight's gradient, U the weight
// itself) and, with the default harvester, both read the layer's act tap. If they read the same
// elements, G's r for weight j (the low 8 bits of its word) would be the low byte of U's r (16 bits)
// for weight j — the defect the site plan's per-site offset removed (docs/results.md). Measured on
// the words training consumed: for every layer, over several steps, the share of weights whose
// G and U low bytes are equal must be near 2^-8, and r_G must be uncorrelated with either byte of r_U.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <vector>

#include "rngfree/train/config.hpp"
#include "rngfree/train/trainer.hpp"

namespace rngfree::train {
namespace {

// Pearson correlation of two equally long samples.
double correlation(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sx += x[i];
    sy += y[i];
    sxx += x[i] * x[i];
    syy += y[i] * y[i];
    sxy += x[i] * y[i];
  }
  const double cov = sxy / n - (sx / n) * (sy / n);
  return cov / std::sqrt((sxx / n - (sx / n) * (sx / n)) * (syy / n - (sy / n) * (sy / n)));
}

// lenet5 with the default harvester on synthetic 28x28 images, one thread.
TrainConfig lenet5_harvest(int batch) {
  TrainConfig c;
  apply_preset(c, "int8-sr-harvest");
  c.model = "lenet5";
  c.data = "synthetic:1:28";
  c.batch = batch;
  c.threads = 1;
  return c;
}

TEST(CrossSite, GradientAndUpdateWordsOfAWeightAreIndependent) {
  // Batch 128 (the preset's): at batch 8 fc1's taps (act 960, act@+1 = act@last-1 672, err@+1 672
  // elements, each read whole from an offset) repeat their XOR with period lcm(960, 672) = 6,720
  // within fc1's 48,000 weights, so its words are not independent samples and 4/sqrt(N) is no bound.
  Trainer t(lenet5_harvest(128));
  // (layer, step) -> G's words, then U's; U is rounded after G in every step.
  std::map<std::pair<int, int64_t>, std::vector<uint32_t>> g_words;
  std::map<int, std::vector<double>> rg, ru_low, ru_high;  // per layer
  std::map<int, int64_t> equal_low;
  t.set_site_callback([&](const SiteEvent& e) {
    if (e.site == Site::kGradients) g_words[{e.layer, e.step}].assign(e.words.begin(), e.words.end());
    if (e.site != Site::kUpdate) return;
    const auto it = g_words.find({e.layer, e.step});
    ASSERT_NE(it, g_words.end()) << "layer " << e.layer << ": U rounded before G in step " << e.step;
    ASSERT_EQ(it->second.size(), e.words.size()) << "G and U of a layer round the same weights";
    for (size_t j = 0; j < e.words.size(); ++j) {
      const uint32_t g = it->second[j] & 0xff, u = e.words[j] & 0xffff;
      rg[e.layer].push_back(g);
      ru_low[e.layer].push_back(u & 0xff);
      ru_high[e.layer].push_back(u >> 8);
      equal_low[e.layer] += g == (u & 0xff);
    }
  });
  t.train_steps(4);
  ASSERT_EQ(rg.size(), 5u) << "G and U of lenet5's five layers";
  for (const auto& [layer, x] : rg) {
    const double n = static_cast<double>(x.size());
    // Equal low bytes: binomial(n, 2^-8); allowed within 5 standard deviations.
    const double p = 1.0 / 256, sd = std::sqrt(n * p * (1 - p));
    const double lo_corr = correlation(x, ru_low[layer]), hi_corr = correlation(x, ru_high[layer]);
    std::printf("[cross-site] layer %d: %.0f weight-steps, equal low bytes %lld (expected %.1f), corr(r_G, U low) %+.4f, "
                "corr(r_G, U high) %+.4f, bound %.4f\n",
                layer, n, static_cast<long long>(equal_low[layer]), n * p, lo_corr, hi_corr, 4 / std::sqrt(n));
    EXPECT_LT(std::fabs(static_cast<double>(equal_low[layer]) - n * p), 5 * sd + 1) << "layer " << layer;
    EXPECT_LT(std::fabs(lo_corr), 4 / std::sqrt(n)) << "layer " << layer;
    EXPECT_LT(std::fabs(hi_corr), 4 / std::sqrt(n)) << "layer " << layer;
  }
}

// At batch 8, fc1's taps (act 8x120 = 960, act@+1 = act@last-1 and err@+1 8x84 = 672 elements) are
// all smaller than its 48,000 G words: read whole and wrapping, their XOR repeats every
// lcm(960, 672) = 6,720 words. The engine says so on stderr, once per site; checked here against the
// words training consumed (they repeat with exactly that period, and not with a shorter one), and a
// site with a tap larger than its demand (conv2's G: 2,400 words, its act 8x16x10x10 = 12,800) is not named.
TEST(CrossSite, WordsThatRepeatWithinAStepAreSaidAndDoRepeat) {
  Trainer t(lenet5_harvest(8));
  std::vector<uint32_t> fc1_g;  // fc1's G words in step 1 (every tap produced by then)
  t.set_site_callback([&](const SiteEvent& e) {
    if (e.layer == 2 && e.site == Site::kGradients && e.step == 1) fc1_g.assign(e.words.begin(), e.words.end());
  });
  ::testing::internal::CaptureStderr();
  t.train_steps(2);
  const std::string said = ::testing::internal::GetCapturedStderr();
  std::printf("[cross-site] stderr:\n%s", said.c_str());
  EXPECT_NE(said.find("layer 2 (fc1) site G draws 48000 words per step from taps of 960, 672 and 672 elements, "
                      "so its words repeat every 6720 words"),
            std::string::npos);
  EXPECT_EQ(said.find("layer 1 (conv2) site G"), std::string::npos);
  ASSERT_EQ(fc1_g.size(), 48000u);
  int64_t equal = 0;
  for (size_t i = 0; i + 6720 < fc1_g.size(); ++i) equal += fc1_g[i] == fc1_g[i + 6720];
  EXPECT_EQ(equal, 48000 - 6720) << "fc1's G words repeat with period 6,720";
  for (const size_t shorter : {960u, 672u, 3360u, 1920u}) {  // divisors of 6,720 that are periods of one tap or a pair
    int64_t same = 0;
    for (size_t i = 0; i + shorter < fc1_g.size(); ++i) same += fc1_g[i] == fc1_g[i + shorter];
    EXPECT_LT(same, 1000) << "period " << shorter;
  }
}

}  // namespace
}  // namespace rngfree::train
