// Co-simulation of the harvest extractor (hw/rtl/harvest_extract.v through hw/sim/cosim_harvest.v)
// against the library's harvester: for a site of m words fed by a tap of K·m elements with pairing
// folded:K (and, for K = 3, the sum of three aligned taps, as training's E, G, U sites use), word i of
// the RTL, given tap elements i, i+m, ..., i+(K-1)m, equals harvest_words(..)[i] for 10^5 words.
// The taps are layer outputs computed here (a dense layer on ReLU'd Gaussian inputs: no zeros, and a
// ReLU'd copy: half zeros), plus an FP32 pattern tap with subnormals, infinities and NaNs.
#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <vector>

#include "Vcosim_harvest.h"
#include "hw/cosim.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "verilated.h"

namespace rngfree::hw_test {
namespace {

constexpr int64_t kWords = 100'000;

std::vector<uint32_t> library_folded(const std::vector<float>& tap, int k, const harvest::Extractor& e) {
  std::vector<uint32_t> words(kWords);
  harvest::harvest_words(std::span<const float>(tap).first(k * kWords), e,
                         harvest::Pairing::parse("folded:" + std::to_string(k)), words);
  return words;
}

class HarvestCosim : public ::testing::TestWithParam<int> {};

TEST_P(HarvestCosim, ExtractorWordsEqualTheLibrarysHarvester) {
  std::mt19937_64 rng(99 + GetParam());
  std::vector<float> tap;
  if (GetParam() == 0) tap = layer_output(rng, 4 * kWords, false);
  if (GetParam() == 1) tap = layer_output(rng, 4 * kWords, true);
  if (GetParam() == 2) {
    tap.resize(4 * kWords);
    for (auto& v : tap) v = std::bit_cast<float>(static_cast<uint32_t>(rng()));
  }
  const auto train = library_folded(tap, 1, extractor(8, 23, harvest::Mix::kField));
  const auto plain = library_folded(tap, 1, extractor(0, 15, harvest::Mix::kNone));
  const auto fold4 = library_folded(tap, 4, extractor(0, 15, harvest::Mix::kField));
  const auto full = library_folded(tap, 2, extractor(0, 31, harvest::Mix::kField));
  const auto narrow = library_folded(tap, 2, extractor(3, 5, harvest::Mix::kField));
  const auto byte = library_folded(tap, 1, extractor(12, 19, harvest::Mix::kField));
  // Three aligned taps (the first three m-element stretches), XORed then mixed once.
  std::vector<uint32_t> sum3(kWords);
  std::vector<harvest::TapPairing> taps;
  for (int t = 0; t < 3; ++t) {
    taps.push_back({std::span<const float>(tap).subspan(t * kWords, kWords), harvest::Pairing::parse("aligned")});
  }
  harvest::harvest_words_sum(taps, extractor(8, 23, harvest::Mix::kField), sum3);

  VerilatedContext context;
  Vcosim_harvest m(&context);
  int64_t mismatches = 0;
  for (int64_t i = 0; i < kWords; ++i) {
    for (int j = 0; j < 4; ++j) m.taps[j] = std::bit_cast<uint32_t>(tap[i + j * kWords]);
    m.eval();
    mismatches += m.word_train != train[i];
    mismatches += m.word_plain != plain[i];
    mismatches += m.word_sum3 != sum3[i];
    mismatches += m.word_fold4 != fold4[i];
    mismatches += m.word_full != full[i];
    mismatches += m.word_narrow != narrow[i];
    mismatches += m.word_byte != byte[i];
    if (mismatches > 0) {
      ADD_FAILURE() << "word " << i << ": rtl " << m.word_train << " " << m.word_plain << " " << m.word_sum3 << " "
                    << m.word_fold4 << " " << m.word_full << " " << m.word_narrow << " " << +m.word_byte << ", library " << train[i] << " "
                    << plain[i] << " " << sum3[i] << " " << fold4[i] << " " << full[i] << " " << narrow[i] << " " << byte[i];
      return;
    }
  }
  std::printf("[cosim] harvest tap %d: %lld words x 7 extractors, 0 mismatches\n", GetParam(),
              static_cast<long long>(kWords));
}

INSTANTIATE_TEST_SUITE_P(Taps, HarvestCosim, ::testing::Values(0, 1, 2));

}  // namespace
}  // namespace rngfree::hw_test
