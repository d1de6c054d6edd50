// Stochastic rounding's invariants (DESIGN.md "Arithmetic"): every output is one of the two grid
// neighbours; enumerating all 2^R random words rounds away exactly f times, f being the top R bits
// of the truncated fraction (built into x here, not computed by the code under test); the mean over
// many draws is unbiased within a binomial bound; representable values never move.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>
#include <vector>

#include "rngfree/quantize.hpp"

namespace rngfree {
namespace {

// Counts, over all 2^R words, how often quantize moves x up (toward +inf).
int64_t count_up(float x, const Format& format, int r_bits) {
  const int64_t n = int64_t{1} << r_bits;
  std::vector<float> in(static_cast<size_t>(n), x), out(static_cast<size_t>(n));
  std::vector<uint32_t> words(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) words[static_cast<size_t>(i)] = static_cast<uint32_t>(i);
  quantize(in, out, format, Rounding{RoundingKind::kStochastic, r_bits}, words);
  int64_t up = 0;
  for (float y : out) up += y > x ? 1 : 0;
  return up;
}

TEST(StochasticRounding, EnumeratingAllWordsRoundsAwayExactlyFTimesFloat) {
  // e4m3 at [1, 2): quantum q = 2^-3. x = 1 + q·(3 + (f + 1/2)/2^R): the fraction's top R bits are f
  // (and a set bit below them, which SR must ignore). FP32 holds 3 + R + 1 <= 23 bits: R <= 19.
  const Format e4m3 = Format::parse("e4m3");
  for (int r_bits = 1; r_bits <= 16; ++r_bits) {
    for (int64_t f : {int64_t{0}, int64_t{1}, (int64_t{1} << r_bits) / 3, (int64_t{1} << r_bits) - 1}) {
      const double frac = (static_cast<double>(f) + 0.5) / std::ldexp(1.0, r_bits);
      const float x = static_cast<float>(1.0 + 0.125 * (3.0 + frac));
      ASSERT_EQ(static_cast<double>(x), 1.0 + 0.125 * (3.0 + frac)) << "x must be exact";
      EXPECT_EQ(count_up(x, e4m3, r_bits), f) << "R=" << r_bits << " f=" << f;
      // Negative x: SR on the magnitude rounds away (down) exactly f times, so up 2^R - f times.
      EXPECT_EQ(count_up(-x, e4m3, r_bits), (int64_t{1} << r_bits) - f) << "R=" << r_bits << " f=" << f;
    }
  }
}

TEST(StochasticRounding, EnumeratingAllWordsRoundsUpExactlyFTimesFixedTwosComplement) {
  // fixed:12:0 (step 1): x = lo + (f + 1/2)/2^R with lo negative or positive. On the two's
  // complement value the fraction is x - floor(x) whatever the sign, so the value rounds up f times.
  const Format fixed = Format::parse("fixed:12:0");
  for (int r_bits = 1; r_bits <= 16; ++r_bits) {
    for (int64_t f : {int64_t{0}, int64_t{1}, (int64_t{1} << r_bits) / 3, (int64_t{1} << r_bits) - 1}) {
      for (int lo : {-7, -1, 0, 5}) {
        const double exact = lo + (static_cast<double>(f) + 0.5) / std::ldexp(1.0, r_bits);
        const float x = static_cast<float>(exact);
        ASSERT_EQ(static_cast<double>(x), exact);
        EXPECT_EQ(count_up(x, fixed, r_bits), f) << "R=" << r_bits << " f=" << f << " lo=" << lo;
      }
    }
  }
}

TEST(StochasticRounding, OutputIsAlwaysOneOfTheTwoNeighbours) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> value(-300.0f, 300.0f);
  for (const char* fs : {"bf16", "fp16", "e4m3", "e5m2", "fixed:10:3", "fixed:8:dyn", "bfp:4:8"}) {
    const Format format = Format::parse(fs);
    std::vector<float> in(4096);
    for (auto& x : in) x = value(rng) * std::ldexp(1.0f, static_cast<int>(rng() % 20) - 10);
    std::vector<uint32_t> words(in.size());
    for (auto& w : words) w = static_cast<uint32_t>(rng());
    std::vector<float> sr(in.size()), down(in.size()), up(in.size());
    for (int r_bits : {1, 7, 16, 32}) {
      quantize(in, sr, format, Rounding{RoundingKind::kStochastic, r_bits}, words);
      quantize(in, down, format, Rounding::parse("down"));
      quantize(in, up, format, Rounding::parse("up"));
      for (size_t i = 0; i < in.size(); ++i) {
        ASSERT_TRUE(sr[i] == down[i] || sr[i] == up[i])
            << fs << " R=" << r_bits << " x=" << in[i] << " sr=" << sr[i] << " neighbours " << down[i] << ", " << up[i];
        ASSERT_LE(down[i], up[i]);
      }
    }
  }
}

TEST(StochasticRounding, MeanIsUnbiasedWithinBinomialBound) {
  // x's fraction has fewer than R bits, so the probability of rounding away is exactly the fraction
  // and E[Q(x)] = x. With N draws the count of round-ups is Binomial(N, p): allow 5 sigma.
  std::mt19937 rng(11);
  const int64_t n = 200000;
  struct Case {
    const char* format;
    float x;
    double lower, upper;  // the two neighbours (from the format's definition)
  };
  const Case cases[] = {
      {"bf16", 1.0f + 0x1p-7f * 0.3125f, 1.0, 1.0 + 0x1p-7},                   // p = 5/16
      {"bf16", -(1.0f + 0x1p-7f * 0.75f), -(1.0 + 0x1p-7), -1.0},              // magnitude p = 3/4
      {"e4m3", 300.0f, 288.0, 320.0},                                          // q = 32, p = 12/32
      {"fixed:8:2", -1.1875f, -1.25, -1.0},                                    // step 1/4, fraction 0.25
      {"fixed:8:2", 0.0625f, 0.0, 0.25},                                       // p = 1/4
  };
  for (const Case& c : cases) {
    const Format format = Format::parse(c.format);
    std::vector<float> in(static_cast<size_t>(n), c.x), out(static_cast<size_t>(n));
    std::vector<uint32_t> words(static_cast<size_t>(n));
    for (auto& w : words) w = rng();
    quantize(in, out, format, Rounding::parse("stochastic:16"), words);
    int64_t ups = 0;
    for (float y : out) {
      ASSERT_TRUE(y == c.lower || y == c.upper) << c.format << " " << y;
      ups += y == c.upper ? 1 : 0;
    }
    const double p = (c.x - c.lower) / (c.upper - c.lower);
    const double sigma = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(static_cast<double>(ups), n * p, 5 * sigma) << c.format << " x=" << c.x;
    const double mean = c.lower + (c.upper - c.lower) * static_cast<double>(ups) / n;
    EXPECT_NEAR(mean, c.x, 5 * sigma / n * (c.upper - c.lower)) << c.format;
  }
}

TEST(StochasticRounding, RepresentableValuesNeverMove) {
  // Every e5m2 value (decoded from its bits by definition) under every word pattern.
  const Format e5m2 = Format::parse("e5m2");
  std::vector<float> in;
  for (int code = 0; code < 256; ++code) {
    const int exp_field = (code >> 2) & 31, mant = code & 3;
    if (exp_field == 31) continue;  // inf / NaN
    const double m = exp_field == 0 ? std::ldexp(mant, -16) : std::ldexp(4 + mant, exp_field - 15 - 2);
    in.push_back(static_cast<float>((code & 128) ? -m : m));
  }
  std::vector<float> out(in.size());
  for (uint32_t w : {0u, 1u, 0xFFFFu, 0xFFFFFFFFu, 0x80000000u}) {
    std::vector<uint32_t> words(in.size(), w);
    for (int r_bits : {1, 16, 32}) {
      quantize(in, out, e5m2, Rounding{RoundingKind::kStochastic, r_bits}, words);
      for (size_t i = 0; i < in.size(); ++i) ASSERT_EQ(std::bit_cast<uint32_t>(out[i]), std::bit_cast<uint32_t>(in[i]));
    }
  }
}

}  // namespace
}  // namespace rngfree
