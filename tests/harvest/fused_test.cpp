// Fused extraction: harvest_fill through quantize_with_source (words produced chunk by chunk inside
// the quantize threads, never materialized) gives bit for bit the outputs of quantize() with the
// words of harvest_words, for several formats, roundings, pairings, mixes and thread counts. The
// reference here is the materialized path, itself tested against harvest_words_reference and the
// quantize reference in harvest_test.cpp and tests/core.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/rounding.hpp"
#include "support/tensors.hpp"

namespace rngfree::harvest {
using rngfree::testing::normal_tensor;
using rngfree::testing::same_bits;

namespace {

TEST(FusedFill, QuantizeWithHarvestFillEqualsQuantizeWithMaterializedWords) {
  // 2^17 + 3 elements: above quantize's single-thread threshold (32768), not a multiple of its chunks.
  constexpr size_t kM = (1u << 17) + 3;
  const auto in = normal_tensor(kM, 1, 1.0f);
  const auto other = normal_tensor(3 * kM + 17, 2, 0.01f);  // a larger tap (spread, folded)
  const auto small = normal_tensor(kM / 5, 3, 2.0f);        // a smaller tap (strided, auto)
  struct Source {
    const std::vector<float>* tap;
    Pairing pairing;
    const char* what;
  };
  const std::vector<Source> sources = {
      {&other, Pairing::parse("spread:0:98765"), "other, spread"},
      {&other, Pairing::parse("folded:2"), "other, folded:2"},
      {&in, self_pairing(static_cast<int64_t>(kM)), "self"},
      {&in, Pairing::parse("aligned"), "in, aligned (its own bits: only for the test)"},
      {&small, Pairing::parse("strided:3:7"), "small, strided:3:7"},
      {&small, Pairing::parse("auto"), "small, auto"},
  };
  Extractor low16;
  Extractor field12;
  field12.lo = 3;
  field12.hi = 14;
  field12.mix = Mix::kField;
  Extractor whiten;
  whiten.mix = Mix::kWhiten32;
  struct Case {
    const char* format;
    const char* rounding;
  };
  const Case cases[] = {{"bf16", "stochastic:16"}, {"e4m3", "stochastic:8"}, {"fp16", "stochastic:12"},
                        {"fixed:8:dyn", "stochastic:16"}, {"bfp:4:16", "stochastic:8"}, {"e5m2", "stochastic:32"}};
  int compared = 0;
  for (const auto& src : sources) {
    for (const Extractor& e : {low16, field12, whiten}) {
      std::vector<uint32_t> words(kM);
      harvest_words(*src.tap, e, src.pairing, words);
      const RandomFill fill = harvest_fill(*src.tap, e, src.pairing, static_cast<int64_t>(kM));
      for (const auto& c : cases) {
        const Format format = Format::parse(c.format);
        const Rounding rounding = Rounding::parse(c.rounding);
        std::vector<float> want(kM);
        quantize(in, want, format, rounding, words);
        for (int threads : {1, 2, 3}) {
          std::vector<float> got(kM, -1.0f);
          QuantizeOptions o;
          o.threads = threads;
          quantize_with_source(in, got, format, rounding, fill, o);
          ASSERT_TRUE(same_bits(got, want)) << src.what << " " << e.name() << " " << c.format << " " << c.rounding
                                            << " threads " << threads;
          ++compared;
        }
      }
    }
  }
  EXPECT_EQ(compared, 6 * 3 * 6 * 3);
}

// The fill refuses, at creation, what it cannot do (never inside the quantize threads).
TEST(FusedFill, RefusesSkipZerosAndBadPairingsWhenCreated) {
  const auto tap = normal_tensor(100, 4, 1.0f);
  Extractor skip;
  skip.zeros = ZeroPolicy::kSkip;
  EXPECT_THROW(harvest_fill(tap, skip, Pairing::parse("auto"), 100), Error);
  EXPECT_THROW(harvest_fill(tap, Extractor{}, Pairing::parse("aligned"), 99), Error);
  EXPECT_THROW(harvest_fill(tap, Extractor{}, Pairing::parse("spread:3"), 50), Error);  // 3 > floor(100/50)
  Extractor bad;
  bad.lo = 9;
  bad.hi = 3;
  EXPECT_THROW(harvest_fill(tap, bad, Pairing::parse("auto"), 100), Error);
  // and a valid fill writes the words of harvest_words for any sub-range
  const RandomFill fill = harvest_fill(tap, Extractor{}, Pairing::parse("spread"), 30);
  std::vector<uint32_t> all(30), part(7);
  harvest_words(tap, Extractor{}, Pairing::parse("spread"), all);
  fill(11, part);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), all.begin() + 11));
}

}  // namespace
}  // namespace rngfree::harvest
