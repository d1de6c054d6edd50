// Sums of taps (harvest_words_sum and its range/fill forms): word i = mix(XOR over taps of the
// fields of each tap's index set S_t(i)). Checked against hand-computed words (IEEE-754 patterns
// and mix_field(0, 16) = 0x26e6 from the header), against the plain twin harvest_words_sum_reference
// for many shapes, pairings, extractors, every SIMD level and thread counts 1/2/3; with one tap the
// sum is exactly the single-tap functions; fused through quantize_with_source it equals quantize()
// with the materialized words.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <random>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"
#include "rngfree/rounding.hpp"
#include "support/tensors.hpp"

namespace rngfree::harvest {
using rngfree::testing::normal_tensor;
using rngfree::testing::same_bits;

namespace {

Extractor bits(int lo, int hi, Mix mix = Mix::kNone) {
  Extractor e;
  e.lo = lo;
  e.hi = hi;
  e.mix = mix;
  return e;
}
std::vector<uint32_t> sum(std::span<const TapPairing> taps, const Extractor& e, size_t m, int threads = 0) {
  std::vector<uint32_t> out(m, 0xdeadbeefu);
  HarvestOptions o;
  o.threads = threads;
  harvest_words_sum(taps, e, out, o);
  return out;
}

// Hand-computed: field(1.0f + 0x1234 ulp) = 0x1234 (0x3F801234), field(2.0f + 0xff ulp) = 0x00ff
// (0x400000FF); their XOR is 0x12cb. Two identical aligned taps cancel: every unmixed word is 0, and
// with the field mix on 16 bits every word is mix_field(0, 16) = 0x26e6 (the header's value).
TEST(Sum, HandComputedWords) {
  const std::vector<float> a = {std::bit_cast<float>(0x3F801234u), std::bit_cast<float>(0x3F80FFFFu)};
  const std::vector<float> b = {std::bit_cast<float>(0x400000FFu), std::bit_cast<float>(0x40001111u)};
  const std::vector<TapPairing> ab = {{a, Pairing::parse("aligned")}, {b, Pairing::parse("aligned")}};
  EXPECT_EQ(sum(ab, bits(0, 15), 2), (std::vector<uint32_t>{0x12cbu, 0xeeeeu}));
  // b strided:1:1 reads b[(1 + i) mod 2]: 0x1234 ^ 0x1111 = 0x0325, 0xffff ^ 0x00ff = 0xff00
  const std::vector<TapPairing> ab_shift = {{a, Pairing::parse("aligned")}, {b, Pairing::parse("strided:1:1")}};
  EXPECT_EQ(sum(ab_shift, bits(0, 15), 2), (std::vector<uint32_t>{0x0325u, 0xff00u}));
  const std::vector<TapPairing> aa = {{a, Pairing::parse("aligned")}, {a, Pairing::parse("aligned")}};
  EXPECT_EQ(sum(aa, bits(0, 15, Mix::kField), 2), (std::vector<uint32_t>{0x26e6u, 0x26e6u}));
}

// The fast sum equals the reference twin for many shapes and pairings (aligned + strided, spread +
// spread, aligned + spread with offsets, three taps, an empty tap, taps smaller than the site), for
// mixes none / whiten32 / field on widths 8 and 16, every SIMD level and thread counts 1, 2, 3
// (sites above 2^18 words run threaded).
TEST(Sum, MatchesTheReferenceForManyShapesPairingsLevelsAndThreadCounts) {
  const auto best = rngfree::simd_level_supported();
  struct Tap {
    int64_t n;  // -1: n = m
    const char* pairing;
  };
  struct Shape {
    int64_t m;
    std::vector<Tap> taps;
  };
  const int64_t big = (int64_t{1} << 18) + 5;
  const std::vector<Shape> shapes = {
      {1, {{-1, "aligned"}, {1, "strided:3:7"}}},
      {2047, {{-1, "aligned"}, {300, "strided:7:11"}}},
      {2048, {{-1, "aligned"}, {-1, "strided:1:1024"}}},
      {5000, {{15017, "spread:0:98765"}, {10003, "spread:2:77"}}},
      {4099, {{4099, "spread"}, {4099, "spread:1:4000"}}},
      {5000, {{-1, "aligned"}, {12345, "spread:0:12345"}}},
      {5000, {{-1, "aligned"}, {12345, "spread:2:3"}, {20000, "folded"}}},
      {3000, {{0, "auto"}, {-1, "aligned"}}},  // an empty tap contributes nothing
      {3000, {{700, "auto"}, {9000, "auto"}, {-1, "auto"}}},
      {big, {{-1, "aligned"}, {-1, "strided:3:1"}}},
      {big, {{3 * big + 1, "spread:0:4242"}, {2 * big, "spread:0:99"}}},
      {big, {{-1, "aligned"}, {5 * big, "spread:0:123456"}}},
      // Every tap one window (the one-pass path of the default E sites): taps smaller than the site
      // read whole and wrapping, at offsets near their ends, a one-element tap, a k = 1 spread.
      {5000, {{-1, "aligned"}, {1300, "strided:1:1299"}, {7, "strided:1:3"}, {4999, "strided:1:0"}}},
      {big, {{-1, "aligned"}, {70001, "strided:1:5"}, {333, "auto"}}},
      {4097, {{1, "auto"}}},
      {3000, {{4000, "spread:0:3999"}, {-1, "strided:1:2999"}}},
  };
  const Extractor extractors[] = {bits(0, 15),          bits(8, 23, Mix::kField), bits(3, 10, Mix::kField),
                                  bits(0, 15, Mix::kWhiten32), bits(4, 11)};
  uint64_t seed = 1;
  for (const auto& s : shapes) {
    std::vector<std::vector<float>> data;
    for (const auto& t : s.taps) data.push_back(normal_tensor(static_cast<size_t>(t.n < 0 ? s.m : t.n), seed++, 0.3f));
    std::vector<TapPairing> taps;
    std::string what = std::to_string(s.m) + " words <-";
    for (size_t t = 0; t < s.taps.size(); ++t) {
      taps.push_back({data[t], Pairing::parse(s.taps[t].pairing)});
      what += " " + std::to_string(data[t].size()) + ":" + s.taps[t].pairing;
    }
    for (const auto& e : extractors) {
      const auto ref = harvest_words_sum_reference(taps, e, s.m);
      for (int level = 0; level <= static_cast<int>(best); ++level) {
        rngfree::set_simd_level(static_cast<rngfree::SimdLevel>(level));
        for (int threads : {1, 2, 3}) {
          ASSERT_EQ(sum(taps, e, static_cast<size_t>(s.m), threads), ref)
              << what << " " << e.name() << " level " << level << " threads " << threads;
        }
      }
      rngfree::set_simd_level(best);
    }
  }
}

// The reference twin is what the header says: XOR of each tap's unmixed reference words, then the mix.
TEST(Sum, ReferenceIsTheXorOfUnmixedTapsThenTheMix) {
  const auto a = normal_tensor(1000, 7, 1.0f), b = normal_tensor(2500, 8, 0.01f);
  const std::vector<TapPairing> taps = {{a, Pairing::parse("aligned")}, {b, Pairing::parse("spread:2:9")}};
  const auto wa = harvest_words_reference(a, bits(8, 23), Pairing::parse("aligned"), 1000);
  const auto wb = harvest_words_reference(b, bits(8, 23), Pairing::parse("spread:2:9"), 1000);
  const auto got = harvest_words_sum_reference(taps, bits(8, 23, Mix::kField), 1000);
  for (size_t i = 0; i < 1000; ++i) ASSERT_EQ(got[i], mix_field(wa[i] ^ wb[i], 16)) << i;
}

// With one tap, sum, sum_range and fill_sum are harvest_words, harvest_words_range and harvest_fill.
TEST(Sum, OneTapEqualsTheSingleTapFunctions) {
  const auto best = rngfree::simd_level_supported();
  const auto x = normal_tensor(12001, 3, 0.5f);
  std::mt19937_64 g(11);
  for (const char* p : {"spread:0:4321", "folded:2", "strided:7:11", "strided:1:2500", "auto"}) {
    const Pairing pairing = Pairing::parse(p);
    for (const Extractor& e : {bits(0, 15), bits(8, 23, Mix::kField), bits(0, 7, Mix::kField), bits(0, 15, Mix::kWhiten32)}) {
      constexpr int64_t kM = 5000;
      const std::vector<TapPairing> one = {{x, pairing}};
      std::vector<uint32_t> want(kM);
      harvest_words(x, e, pairing, want);
      for (int level = 0; level <= static_cast<int>(best); ++level) {
        rngfree::set_simd_level(static_cast<rngfree::SimdLevel>(level));
        ASSERT_EQ(sum(one, e, kM, 1), want) << p << " " << e.name() << " level " << level;
        const RandomFill fill = harvest_fill_sum(one, e, kM);
        const RandomFill single = harvest_fill(x, e, pairing, kM);
        for (int t = 0; t < 10; ++t) {
          const int64_t first = t == 0 ? 0 : static_cast<int64_t>(g() % kM);
          const int64_t count = t == 0 ? kM : t == 1 ? 0 : static_cast<int64_t>(g() % static_cast<uint64_t>(kM - first + 1));
          std::vector<uint32_t> a(static_cast<size_t>(count), 1u), b(static_cast<size_t>(count), 2u),
              c(static_cast<size_t>(count), 3u), d(static_cast<size_t>(count), 4u);
          harvest_words_sum_range(one, e, kM, first, a);
          harvest_words_range(x, e, pairing, kM, first, b);
          fill(first, c);
          single(first, d);
          ASSERT_EQ(a, b) << p << " " << e.name() << " [" << first << ", +" << count << ")";
          ASSERT_EQ(c, d);
          ASSERT_TRUE(std::equal(a.begin(), a.end(), want.begin() + first));
        }
      }
      rngfree::set_simd_level(best);
    }
  }
}

// Any sub-range of a sum is the same words of the whole site (the fill's chunks cannot see each other).
TEST(Sum, RangeAndFillEqualTheSameWordsOfTheWholeSite) {
  constexpr int64_t kM = 7001;
  const auto a = normal_tensor(kM, 21, 1.0f), b = normal_tensor(3 * kM + 2, 22, 0.1f), c = normal_tensor(900, 23, 2.0f);
  std::vector<TapPairing> taps = {{a, self_pairing(kM)}, {b, Pairing::parse("spread:0:31337")},
                                  {c, Pairing::parse("strided:5:3")}};
  const Extractor e = bits(8, 23, Mix::kField);
  const auto whole = sum(taps, e, kM, 1);
  const RandomFill fill = harvest_fill_sum(taps, e, kM);
  taps.clear();  // the fill keeps its own copy of the list
  const std::vector<TapPairing> again = {{a, self_pairing(kM)}, {b, Pairing::parse("spread:0:31337")},
                                         {c, Pairing::parse("strided:5:3")}};
  std::mt19937_64 g(3);
  for (int t = 0; t < 50; ++t) {
    const int64_t first = static_cast<int64_t>(g() % kM);
    const int64_t count = static_cast<int64_t>(g() % static_cast<uint64_t>(kM - first + 1));
    std::vector<uint32_t> x(static_cast<size_t>(count), 0xdeadbeefu), y(static_cast<size_t>(count), 0xdeadbeefu);
    fill(first, x);
    harvest_words_sum_range(again, e, kM, first, y);
    ASSERT_TRUE(std::equal(x.begin(), x.end(), whole.begin() + first)) << "[" << first << ", +" << count << ")";
    ASSERT_EQ(x, y);
  }
}

// Fused: quantize_with_source(harvest_fill_sum) == quantize(words of harvest_words_sum), bit for bit,
// for several formats and SR widths and quantize thread counts 1, 2, 3.
TEST(Sum, FusedThroughQuantizeWithSourceEqualsMaterializedWords) {
  constexpr size_t kM = (1u << 17) + 3;  // above quantize's single-thread threshold, not a multiple of its chunks
  const auto in = normal_tensor(kM, 31, 1.0f);
  const auto next = normal_tensor(kM, 32, 0.05f);
  const auto wide = normal_tensor(3 * kM + 11, 33, 0.01f);
  const std::vector<TapPairing> taps = {{in, self_pairing(kM)}, {next, Pairing::parse("aligned")},
                                        {wide, Pairing::parse("spread:0:5555")}};
  for (const Extractor& e : {bits(8, 23, Mix::kField), bits(0, 7, Mix::kField), bits(0, 15, Mix::kWhiten32), bits(0, 15)}) {
    const auto words = sum(taps, e, kM);
    const RandomFill fill = harvest_fill_sum(taps, e, static_cast<int64_t>(kM));
    for (const auto& [format, rounding] : {std::pair{"bf16", "stochastic:16"}, std::pair{"e4m3", "stochastic:8"},
                                          std::pair{"fixed:8:dyn", "stochastic:16"}}) {
      const Format f = Format::parse(format);
      const Rounding r = Rounding::parse(rounding);
      std::vector<float> want(kM);
      quantize(in, want, f, r, words);
      for (int threads : {1, 2, 3}) {
        std::vector<float> got(kM, -1.0f);
        quantize_with_source(in, got, f, r, fill, QuantizeOptions{threads});
        for (size_t i = 0; i < kM; ++i) {
          ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(want[i]))
              << format << " " << rounding << " " << e.name() << " threads " << threads << " element " << i;
        }
      }
    }
  }
}

// Refusals when created: zero policy skip, no taps, a pairing that does not fit (in any tap), a bad field.
TEST(Sum, RefusesSkipNoTapsAndBadPairings) {
  const auto a = normal_tensor(100, 4, 1.0f), b = normal_tensor(60, 5, 1.0f);
  Extractor skip;
  skip.zeros = ZeroPolicy::kSkip;
  const std::vector<TapPairing> ok = {{a, Pairing::parse("aligned")}, {b, Pairing::parse("auto")}};
  std::vector<uint32_t> out(100);
  EXPECT_THROW(harvest_words_sum(ok, skip, out), Error);
  EXPECT_THROW(harvest_fill_sum(ok, skip, 100), Error);
  EXPECT_THROW(harvest_words_sum_range(ok, skip, 100, 0, std::span(out).first(10)), Error);
  EXPECT_THROW(harvest_words_sum({}, Extractor{}, out), Error);
  EXPECT_THROW(harvest_fill_sum({}, Extractor{}, 100), Error);
  const std::vector<TapPairing> bad_second = {{a, Pairing::parse("aligned")}, {b, Pairing::parse("spread")}};  // 60 < 100
  EXPECT_THROW(harvest_words_sum(bad_second, Extractor{}, out), Error);
  EXPECT_THROW(harvest_fill_sum(bad_second, Extractor{}, 100), Error);
  EXPECT_THROW(harvest_words_sum_reference(bad_second, Extractor{}, 100), Error);
  EXPECT_THROW(harvest_fill_sum(ok, bits(9, 3), 100), Error);
  EXPECT_NO_THROW(harvest_words_sum(ok, Extractor{}, out));
}

}  // namespace
}  // namespace rngfree::harvest
