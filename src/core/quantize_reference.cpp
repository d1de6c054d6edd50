// The reference quantizer: one value at a time, exact integer arithmetic on |x| = sig·2^ex, no SIMD,
// written straight from the definitions in format.hpp / rounding.hpp (DESIGN.md "Arithmetic",
// docs/formats.md). It is the spec: the fast kernels in quantize.cpp are tested equal to it, and it
// is tested against tables computed with exact rationals (tests/tools/gen_quantize_table.py).
#include <bit>
#include <cmath>
#include <limits>

#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "quantize_internal.hpp"

namespace rngfree {
namespace {

__extension__ typedef __int128 i128;
__extension__ typedef unsigned __int128 u128;

// |x| = sig·2^ex with sig < 2^24 (x finite).
struct Decomposed {
  bool negative;
  int64_t sig;
  int ex;
};

Decomposed decompose(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t biased = (bits >> 23) & 0xFF;
  const uint32_t fraction = bits & 0x7FFFFF;
  Decomposed d;
  d.negative = (bits >> 31) != 0;
  d.sig = biased == 0 ? fraction : (fraction | 0x800000);
  d.ex = biased == 0 ? -149 : static_cast<int>(biased) - 150;
  return d;
}

// n/2^sh = lo + num/2^sh with lo = floor(n/2^sh) and 0 <= num < 2^sh. Shifts beyond 90 are
// replaced by 90 with n replaced by sign(n): |n| < 2^24, so every decision below (which integer is
// the floor, whether the fraction is 0, below/at/above 1/2, and its top R <= 32 bits) is unchanged.
struct Split {
  i128 lo;
  u128 num;
  int sh;
};

Split split(int64_t n, int sh) {
  RNGFREE_CHECK(sh >= 1, "split needs a positive shift");
  if (sh > 90) {
    n = n > 0 ? 1 : (n < 0 ? -1 : 0);
    sh = 90;
  }
  const i128 one = i128{1} << sh;
  i128 lo = n / one;
  if (lo * one > n) lo -= 1;  // floor, not truncation
  return {lo, static_cast<u128>(i128{n} - lo * one), sh};
}

// -1, 0, +1: fraction below, at, above one half.
int compare_half(const Split& s) {
  const u128 half = u128{1} << (s.sh - 1);
  return s.num < half ? -1 : (s.num == half ? 0 : 1);
}

// The top R bits of the fraction: floor(num/2^sh · 2^R).
uint64_t top_bits(const Split& s, int r_bits) { return static_cast<uint64_t>((s.num << r_bits) >> s.sh); }

// SR's decision: f + r >= 2^R, with r the low R bits of the word.
bool stochastic_up(const Split& s, int r_bits, uint32_t word) {
  const uint64_t r = r_bits == 32 ? word : (word & ((uint32_t{1} << r_bits) - 1));
  return top_bits(s, r_bits) + r >= (uint64_t{1} << r_bits);
}

// Rounds a magnitude m = n/2^sh (n >= 0) of a value whose sign is `negative` to an integer.
// `lo_is_odd` is the parity of the candidate below, for ties-to-even.
int64_t round_magnitude(int64_t n, int sh, bool negative, const Rounding& rounding, uint32_t word,
                        bool lo_is_odd) {
  const Split s = split(n, sh);
  const int64_t lo = static_cast<int64_t>(s.lo);
  const bool inexact = s.num != 0;
  switch (rounding.kind) {
    case RoundingKind::kNearestEven: {
      const int c = compare_half(s);
      return lo + ((c > 0 || (c == 0 && lo_is_odd)) ? 1 : 0);
    }
    case RoundingKind::kNearestAway: return lo + (compare_half(s) >= 0 ? 1 : 0);
    case RoundingKind::kTowardZero: return lo;
    case RoundingKind::kUp: return lo + ((!negative && inexact) ? 1 : 0);
    case RoundingKind::kDown: return lo + ((negative && inexact) ? 1 : 0);
    case RoundingKind::kStochastic: return lo + (stochastic_up(s, rounding.random_bits, word) ? 1 : 0);
  }
  RNGFREE_CHECK(false, "unknown rounding kind");
}

// Rounds a signed value n/2^sh to an integer on the value (two's complement semantics).
int64_t round_value(int64_t n, int sh, const Rounding& rounding, uint32_t word) {
  const Split s = split(n, sh);
  const int64_t lo = static_cast<int64_t>(s.lo);
  const bool inexact = s.num != 0;
  switch (rounding.kind) {
    case RoundingKind::kNearestEven: {
      const int c = compare_half(s);
      return lo + ((c > 0 || (c == 0 && (lo & 1) != 0)) ? 1 : 0);
    }
    case RoundingKind::kNearestAway: {
      const int c = compare_half(s);
      return lo + ((c > 0 || (c == 0 && n > 0)) ? 1 : 0);
    }
    case RoundingKind::kTowardZero: return lo + ((n < 0 && inexact) ? 1 : 0);
    case RoundingKind::kUp: return lo + (inexact ? 1 : 0);
    case RoundingKind::kDown: return lo;
    case RoundingKind::kStochastic: return lo + (stochastic_up(s, rounding.random_bits, word) ? 1 : 0);
  }
  RNGFREE_CHECK(false, "unknown rounding kind");
}

float with_sign(double magnitude, bool negative) {
  const float m = static_cast<float>(magnitude);
  RNGFREE_CHECK(static_cast<double>(m) == magnitude, "reference result is not an FP32 value");
  return negative ? -m : m;
}

float quantize_float(float x, const Format& f, const Rounding& rounding, uint32_t word) {
  const bool negative = std::signbit(x);
  const double max = f.max_value();
  if (std::isinf(x)) {
    if (!f.ieee_overflow) return with_sign(max, negative);
    return f.e4m3fn ? std::copysign(std::numeric_limits<float>::quiet_NaN(), x) : x;
  }
  if (x == 0) return x;
  const Decomposed d = decompose(x);
  const int e = d.ex + static_cast<int>(std::bit_width(static_cast<uint64_t>(d.sig))) - 1;  // floor(log2|x|)
  const int qe = std::max(e, f.min_exponent()) - f.mantissa_bits;                        // log2 of the quantum
  double magnitude;
  if (d.ex >= qe) {
    magnitude = std::fabs(static_cast<double>(x));
  } else {
    const int sh = qe - d.ex;
    // Ties to even means the even encoding: the mantissa field's last bit, or with M = 0 (no
    // mantissa bits) the exponent field's last bit; the exponent field of 2^qe is qe + bias.
    const int64_t lo = d.sig >> std::min(sh, 62);
    const bool lo_is_odd = f.mantissa_bits > 0 ? (lo & 1) != 0 : (lo != 0 && ((qe + f.bias()) & 1) != 0);
    const int64_t k = round_magnitude(d.sig, sh, negative, rounding, word, lo_is_odd);
    magnitude = std::ldexp(static_cast<double>(k), qe);
  }
  if (magnitude > max) {  // overflow (IEEE 754 §7.4 for :ieee)
    const RoundingKind m = rounding.kind;
    const bool to_max = !f.ieee_overflow || m == RoundingKind::kTowardZero ||
                        (m == RoundingKind::kUp && negative) || (m == RoundingKind::kDown && !negative);
    if (to_max) return with_sign(max, negative);
    const float inf_or_nan = f.e4m3fn ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    return negative ? -inf_or_nan : inf_or_nan;
  }
  return with_sign(magnitude, negative);
}

float quantize_fixed(float x, int word_length, int step_exponent, const Rounding& rounding, uint32_t word) {
  // Saturation bounds: the grid's ends, or the FP32 values on the grid nearest inside them.
  const double top = detail::fixed_grid_floor(std::ldexp(1.0, word_length - 1) - 1.0, step_exponent);
  const double bottom = -detail::fixed_grid_floor(std::ldexp(1.0, word_length - 1), step_exponent);
  const bool negative = std::signbit(x);
  if (x >= top) return static_cast<float>(top);
  if (x <= bottom) return static_cast<float>(bottom);
  if (x == 0) return x;
  const Decomposed d = decompose(x);
  if (d.ex >= step_exponent) return x;  // on the grid
  const int64_t k = round_value(negative ? -d.sig : d.sig, step_exponent - d.ex, rounding, word);
  const double v = std::ldexp(static_cast<double>(k), step_exponent);
  RNGFREE_CHECK(v <= top && v >= bottom, "fixed rounding left the range");
  if (k == 0) return negative ? -0.0f : 0.0f;  // a value that rounds to zero keeps its sign
  return with_sign(std::fabs(v), negative);
}

float quantize_block(float x, int mantissa_bits, int step_exponent, const Rounding& rounding, uint32_t word) {
  const bool negative = std::signbit(x);
  // (2^M-1)·step, or the largest FP32 value below it where it lies below FP32's subnormal spacing.
  const double max = detail::fixed_grid_floor(std::ldexp(1.0, mantissa_bits) - 1.0, step_exponent);
  if (std::isinf(x)) return with_sign(max, negative);
  if (x == 0) return x;
  const Decomposed d = decompose(x);
  if (d.ex >= step_exponent) return with_sign(std::min(std::fabs(static_cast<double>(x)), max), negative);
  const int sh = step_exponent - d.ex;
  const int64_t lo = d.sig >> std::min(sh, 62);
  const int64_t k = round_magnitude(d.sig, sh, negative, rounding, word, (lo & 1) != 0);
  return with_sign(std::min(std::ldexp(static_cast<double>(k), step_exponent), max), negative);
}

}  // namespace

double detail::fixed_grid_floor(double k, int step_exponent) {
  const double v = std::min(std::ldexp(k, step_exponent), static_cast<double>(std::numeric_limits<float>::max()));
  const double on_grid = std::ldexp(std::floor(std::ldexp(v, -step_exponent)), step_exponent);
  float f = static_cast<float>(on_grid);
  if (static_cast<double>(f) > on_grid) f = std::nextafter(f, 0.0f);
  return f;
}

float quantize_reference(float x, const Format& format, const Rounding& rounding, uint32_t random,
                         int step_exponent) {
  if (std::isnan(x)) return x;
  switch (format.kind) {
    case FormatKind::kFloat: return quantize_float(x, format, rounding, random);
    case FormatKind::kFixed: return quantize_fixed(x, format.word_length, -format.fraction_length, rounding, random);
    case FormatKind::kFixedDynamic:
      if (step_exponent == kNoScaleStepExponent) return x;
      return quantize_fixed(x, format.word_length, step_exponent, rounding, random);
    case FormatKind::kBlockFloat:
      if (step_exponent == kNoScaleStepExponent) return x;
      return quantize_block(x, format.block_mantissa_bits, step_exponent, rounding, random);
  }
  RNGFREE_CHECK(false, "unknown format kind");
}

}  // namespace rngfree
