// The mixes applied to harvested words (harvest.hpp, Mix): mix_field's values against Python's exact
// integers, its bijectivity on the field width checked exhaustively for widths 1..24 (one bitmap per
// width; widths 25..32 are in mix_exhaustive.cpp), 0 never mapping to 0, unmix_field as its inverse,
// and its avalanche at width 16 over all 2^16 inputs; and why kWhiten32 is not enough: its low 16
// bits take only 40,918 of the 65,536 values (counted by Python over all 16-bit inputs).
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"

namespace rngfree::harvest {
namespace {

uint32_t mask_of(int width) { return width == 32 ? 0xffffffffu : (1u << width) - 1u; }

TEST(MixField, KnownAnswersFromPythonIntegers) {
  // def mix(w, width): M = 2**width - 1; w = (w ^ (0x9e3779b9 & M)) & M; w ^= w >> ((width + 1) // 2)
  //                    w = (w * (0x7feb352d & M)) & M; w ^= w >> max(1, width // 2)
  EXPECT_EQ(mix_field(0, 1), 1u);
  EXPECT_EQ(mix_field(1, 1), 0u);
  EXPECT_EQ(mix_field(0, 4), 0xcu);
  EXPECT_EQ(mix_field(0, 8), 0x4eu);
  EXPECT_EQ(mix_field(0xab, 8), 0x52u);
  EXPECT_EQ(mix_field(0, 16), 0x26e6u);
  EXPECT_EQ(mix_field(1, 16), 0x5bb6u);
  EXPECT_EQ(mix_field(0xcccd, 16), 0xe70au);
  EXPECT_EQ(mix_field(0x123456, 24), 0xb9b144u);
  EXPECT_EQ(mix_field(0, 32), 0x641e7de8u);
  EXPECT_EQ(mix_field(0x12345678, 32), 0xeea01dbau);
  EXPECT_EQ(mix_field(0xffffffff, 32), 0xc99bd06du);
  // Bits above the width are ignored: the input is the field in the low bits.
  EXPECT_EQ(mix_field(0xabcd0000u | 0xcccd, 16), 0xe70au);
  EXPECT_EQ(apply_mix(0xcccd, Mix::kField, 16), 0xe70au);
  EXPECT_EQ(apply_mix(1, Mix::kWhiten32, 16), 0x7febcafbu);  // whiten_word, all 32 bits
  EXPECT_EQ(apply_mix(0xcccd, Mix::kNone, 16), 0xcccdu);
}

// Invariant: for every width 1..24, mix_field hits each of the 2^width values exactly once and stays
// inside the width; unmix_field undoes it.
TEST(MixField, BijectiveOnTheFieldWidthUpTo24) {
  for (int width = 1; width <= 24; ++width) {
    const uint32_t size = 1u << width;
    std::vector<uint64_t> hit((size + 63) / 64, 0);
    int64_t duplicates = 0, outside = 0, not_inverted = 0;
    for (uint32_t x = 0; x < size; ++x) {
      const uint32_t y = mix_field(x, width);
      if (y >= size) {
        ++outside;
        continue;
      }
      const uint64_t bit = uint64_t{1} << (y & 63);
      duplicates += (hit[y >> 6] & bit) != 0;
      hit[y >> 6] |= bit;
      not_inverted += unmix_field(y, width) != x;
    }
    EXPECT_EQ(outside, 0) << "width " << width;
    EXPECT_EQ(duplicates, 0) << "width " << width;
    EXPECT_EQ(not_inverted, 0) << "width " << width;
  }
}

TEST(MixField, ZeroNeverMapsToZero) {
  for (int width = 1; width <= 32; ++width) {
    EXPECT_NE(mix_field(0, width), 0u) << "width " << width;
    // and the one input that maps to 0 is a nonzero field
    EXPECT_NE(unmix_field(0, width), 0u) << "width " << width;
    EXPECT_EQ(mix_field(unmix_field(0, width), width), 0u) << "width " << width;
  }
}

TEST(MixField, UnmixInvertsMixOnRandomWordsOfEveryWidth) {
  std::mt19937 g(17);
  for (int width = 1; width <= 32; ++width) {
    for (int t = 0; t < 10000; ++t) {
      const uint32_t x = g() & mask_of(width);
      ASSERT_EQ(unmix_field(mix_field(x, width), width), x) << "width " << width;
      ASSERT_EQ(mix_field(unmix_field(x, width), width), x) << "width " << width;
    }
  }
}

// Avalanche at width 16, exact over all 2^16 inputs: flipping input bit i flips output bit j with
// frequency p(i, j). A good mix has p near 1/2. Bounds (stated before measuring, loose enough for a
// one-multiply hash, tight enough to fail for the identity, a bare multiply or whiten32's low bits):
//   mean over (i, j) in [0.45, 0.60]; every input bit's mean over j in [0.40, 0.65];
//   every output bit depends on every input bit (0 < p(i, j) < 1);
//   each output bit has at least 8 of the 16 input bits with 1/4 <= p(i, j) <= 3/4.
TEST(MixField, AvalancheAtWidth16) {
  constexpr int kWidth = 16;
  constexpr uint32_t kSize = 1u << kWidth;
  std::vector<int64_t> flips(kWidth * kWidth, 0);  // flips[i * 16 + j]
  for (uint32_t x = 0; x < kSize; ++x) {
    const uint32_t y = mix_field(x, kWidth);
    for (int i = 0; i < kWidth; ++i) {
      const uint32_t d = y ^ mix_field(x ^ (1u << i), kWidth);
      for (int j = 0; j < kWidth; ++j) flips[static_cast<size_t>(i * kWidth + j)] += (d >> j) & 1;
    }
  }
  double total = 0;
  for (int i = 0; i < kWidth; ++i) {
    double row = 0;
    for (int j = 0; j < kWidth; ++j) {
      const int64_t c = flips[static_cast<size_t>(i * kWidth + j)];
      EXPECT_GT(c, 0) << "output bit " << j << " never depends on input bit " << i;
      EXPECT_LT(c, int64_t{kSize}) << "output bit " << j << " always flips with input bit " << i;
      row += static_cast<double>(c) / kSize;
    }
    EXPECT_GE(row / kWidth, 0.40) << "input bit " << i;
    EXPECT_LE(row / kWidth, 0.65) << "input bit " << i;
    total += row;
  }
  const double mean = total / (kWidth * kWidth);
  EXPECT_GE(mean, 0.45);
  EXPECT_LE(mean, 0.60);
  for (int j = 0; j < kWidth; ++j) {
    int strong = 0;
    for (int i = 0; i < kWidth; ++i) {
      const double p = static_cast<double>(flips[static_cast<size_t>(i * kWidth + j)]) / kSize;
      strong += p >= 0.25 && p <= 0.75;
    }
    EXPECT_GE(strong, 8) << "output bit " << j;
  }
}

// The motivation for kField: whiten_word is a bijection on 32 bits but its low 16 bits, over all
// 16-bit inputs, take 40,918 distinct values (Python: len({wh(x) & 0xffff for x in range(2**16)}));
// mix_field at width 16 takes all 65,536.
TEST(MixField, Whiten32IsNotABijectionOnTheLow16Bits) {
  std::vector<char> seen_whiten(1u << 16, 0), seen_field(1u << 16, 0);
  for (uint32_t x = 0; x < (1u << 16); ++x) {
    seen_whiten[whiten_word(x) & 0xffffu] = 1;
    seen_field[mix_field(x, 16)] = 1;
  }
  int64_t whiten_values = 0, field_values = 0;
  for (uint32_t v = 0; v < (1u << 16); ++v) {
    whiten_values += seen_whiten[v];
    field_values += seen_field[v];
  }
  EXPECT_EQ(whiten_values, 40918);
  EXPECT_EQ(field_values, 65536);
}

TEST(MixSpecs, ParseAndPrint) {
  EXPECT_EQ(parse_mix("none"), Mix::kNone);
  EXPECT_EQ(parse_mix("whiten32"), Mix::kWhiten32);
  EXPECT_EQ(parse_mix("field"), Mix::kField);
  for (Mix m : {Mix::kNone, Mix::kWhiten32, Mix::kField}) EXPECT_EQ(parse_mix(mix_name(m)), m);
  for (const char* bad : {"", "whiten", "Field", "field16"}) EXPECT_THROW(parse_mix(bad), Error) << bad;
  Extractor e;
  e.mix = Mix::kField;
  EXPECT_EQ(e.name(), "bits 0-15, mix field, keep-zeros");
  e.mix = Mix::kNone;
  EXPECT_EQ(e.name(), "bits 0-15, keep-zeros");
}

}  // namespace
}  // namespace rngfree::harvest
