// The quantize kernels' bodies (internal, not a public header): templates and always-inline
// functions on the FP32 bit pattern, instantiated once per SIMD target in its own translation unit
// (quantize_avx512.cpp, quantize_avx2.cpp, quantize.cpp for the portable baseline) so that the three
// compile in parallel; quantize.cpp dispatches at run time (rngfree/simd.hpp). See quantize.cpp.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RNGFREE_X86 1
#endif

#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::detail {


// One element of a float-like grid. With be_eff = max(biased exponent of x, 1), the number of
// FP32 fraction bits below the kept precision is s = c + max(0, t - be_eff):
//   float:E:M   c = 23-M, t = emin+127        (quantum 2^(max(e,emin)-M))
//   fixed, bfp  c = 0,    t = 150+step_exp    (quantum 2^step_exp)
// Within one FP32 binade the value is linear in the bit pattern, so for s <= 23 the rounded pattern
// is (u & ~mask) + (inc << s) (a carry into the exponent field is the next binade's first value);
// for s >= 24, |x| < quantum and the result is 0 or the quantum (quantum_bits).
// kFloatUniform: a float grid with FP32's exponent range (t <= 1, e.g. bf16, tf32) and 1 <= c <= 23:
// the shift is c in every binade (FP32 subnormals included), so nearest-even and SR are one
// pattern add (integer only; no FP environment needed).
enum class FastGrid : uint8_t { kGeneral, kFloatSplit, kFixedScaled, kFloatUniform };

struct Params {
  int32_t c = 0;
  int32_t t = 0;
  uint32_t quantum_bits = 0;
  uint32_t limit_pos = 0, limit_neg = 0;  // magnitude patterns above which the result overflows
  uint32_t over_pos = 0, over_neg = 0;    // magnitude patterns that replace an overflow
  uint32_t keep_inf = 0;                  // all-ones: an infinite input gives inf_bits (IEEE formats)
  uint32_t inf_bits = 0;
  // Saturating float formats (no :ieee): limit_pos = limit_neg = over_pos = over_neg and keep_inf
  // = 0, so the end of the kFloatUniform / kFloatSplit kernels is one unsigned min
  // (finish_magnitude_saturating).
  bool saturating = false;
  int r_bits = 0;                         // stochastic only
  // Stochastic, fixed-shift paths: r = word & r_mask (the low R bits); kUniform and kFloatSplit
  // above 2^emin add (r << r_shift_left) >> r_shift_right to the pattern (see sr_add_to_pattern).
  uint32_t r_mask = 0;
  uint32_t r_shift_left = 0, r_shift_right = 0;
  // Specialized grids (see quantize_bits_float_split and quantize_bits_fixed_scaled); kGeneral: none.
  FastGrid fast = FastGrid::kGeneral;
  uint32_t normal_min = 0;  // kFloatSplit: bit pattern of 2^emin; below it the grid has a fixed step
  float add_round = 0;      // kFloatSplit, nearest-even: 2^(emin-M+23), whose ulp is the subnormal step
  float to_grid = 0;        // kFixedScaled: 1/step (stochastic: 2^R/step); kFloatSplit (stochastic): 2^R/(subnormal step)
  float y_min = 0, y_max = 0;  // kFixedScaled: the grid's index range (stochastic: times 2^R); kFloatSplit: 2^(M+R)
  float step = 0;           // the grid's step (kFloatSplit: the subnormal step)
};

// The common end of the bit-pattern kernels: res is the rounded magnitude of b's |x|; overflow
// saturates (or gives inf, IEEE formats), infinities stay where the format has them, the sign is
// put back, and a NaN stays the same NaN.
[[gnu::always_inline]] inline uint32_t finish_magnitude(uint32_t res, uint32_t b, const Params& p) {
  const uint32_t u = b & 0x7FFFFFFFu;
  const uint32_t neg = b >> 31;
  const uint32_t limit = neg != 0 ? p.limit_neg : p.limit_pos;
  const uint32_t over = neg != 0 ? p.over_neg : p.over_pos;
  res = res > limit ? over : res;
  res = (p.keep_inf != 0 && u == 0x7F800000u) ? p.inf_bits : res;
  res |= b & 0x80000000u;
  return u > 0x7F800000u ? b : res;
}

// finish_magnitude for Params::saturating: a rounded magnitude above the largest value (also an
// infinite input, whose pattern is above it) becomes the largest value, the sign is put back, and a
// NaN stays the same NaN.
[[gnu::always_inline]] inline uint32_t finish_magnitude_saturating(uint32_t res, uint32_t b, const Params& p) {
  res = res < p.limit_pos ? res : p.limit_pos;
  res |= b & 0x80000000u;
  return (b & 0x7FFFFFFFu) > 0x7F800000u ? b : res;
}

template <bool kSaturating>
[[gnu::always_inline]] inline uint32_t finish_float(uint32_t res, uint32_t b, const Params& p) {
  if constexpr (kSaturating) {
    return finish_magnitude_saturating(res, b, p);
  } else {
    return finish_magnitude(res, b, p);
  }
}

// Nearest-even on a magnitude pattern u with c >= 1 dropped bits (mask = 2^c - 1): adding half an
// ulp less one, plus the kept last bit, carries into bit c exactly when the dropped part is above
// one half, or exactly one half with an odd kept part (ties to even); a carry out of the mantissa
// field is the next binade's first value, as in sr_add_to_pattern.
[[gnu::always_inline]] inline uint32_t nearest_even_pattern(uint32_t u, uint32_t c, uint32_t mask) {
  return (u + (mask >> 1) + ((u >> c) & 1u)) & ~mask;
}

// Stochastic rounding of a magnitude pattern u whose kept precision ends c >= 1 bits above its
// last bit (rem = u & mask, mask = 2^c - 1), with f the top R bits of the dropped fraction rem/2^c:
//   c >= R: rem = f·2^(c-R) + g with g < 2^(c-R), so rem + r·2^(c-R) >= 2^c iff f + r >= 2^R;
//   c <  R: f = rem·2^(R-c), so f + r >= 2^R iff rem + r/2^(R-c) >= 2^c iff rem + floor(r/2^(R-c))
//           >= 2^c (rem is an integer).
// Either way SR's "away iff f + r >= 2^R" is the carry into bit c of u + aligned r, so the rounded
// pattern is (u + aligned r) & ~mask: a carry out of the mantissa field is the next binade's first
// value, as in quantize_bits. Params: r_mask, r_shift_left = max(c-R, 0), r_shift_right = max(R-c, 0).
[[gnu::always_inline]] inline uint32_t sr_add_to_pattern(uint32_t u, uint32_t word, uint32_t mask, const Params& p) {
  return (u + (((word & p.r_mask) << p.r_shift_left) >> p.r_shift_right)) & ~mask;
}

// kUniform: the grid has the same number of dropped bits s = c <= 23 in every binade (t <= 1, e.g.
// bf16 and tf32, whose exponent range is FP32's): d = 0 for every element, so the shifts become one
// loop-invariant count and the vectorized loop is a handful of operations shorter.
template <RoundingKind kMode, bool kTwosComplementSr, bool kUniform = false>
[[gnu::always_inline]] inline uint32_t quantize_bits(uint32_t b, uint32_t word, const Params& p) {
  if constexpr (kUniform && kMode == RoundingKind::kStochastic && !kTwosComplementSr) {
    // bf16, tf32 and other formats with FP32's exponent range: one shift c <= 23 everywhere (c = 0:
    // r_mask is 0 and nothing moves).
    const uint32_t mask = (1u << static_cast<uint32_t>(p.c)) - 1u;
    return finish_magnitude(sr_add_to_pattern(b & 0x7FFFFFFFu, word, mask, p), b, p);
  }
  const uint32_t u = b & 0x7FFFFFFFu;
  const uint32_t neg = b >> 31;
  const int32_t be = static_cast<int32_t>(u >> 23);
  const int32_t be_eff = be > 1 ? be : 1;
  int32_t d = kUniform ? 0 : p.t - be_eff;
  d = d > 0 ? d : 0;
  const int32_t s = p.c + d;
  const uint32_t sc = static_cast<uint32_t>(s < 31 ? s : 31);
  const uint32_t sig = be != 0 ? ((u & 0x7FFFFFu) | 0x800000u) : u;
  const uint32_t mask = (1u << sc) - 1u;
  const uint32_t rem = sig & mask;
  // frac·2^32, exact for s <= 32; for s > 32 truncated (then frac < 2^-8 and `lost` holds the rest).
  const int32_t t1 = s > 1 ? s - 1 : 0;
  const uint32_t up_shift = static_cast<uint32_t>(t1 <= 31 ? 31 - t1 : 0);
  const int32_t dn = t1 - 31;
  const uint32_t down_shift = static_cast<uint32_t>(dn <= 0 ? 0 : (dn < 31 ? dn : 31));
  const uint32_t frac32 = t1 <= 31 ? (rem << up_shift) : (rem >> down_shift);
  const uint32_t inexact = rem != 0 ? 1u : 0u;

  uint32_t inc = 0;
  if constexpr (kMode == RoundingKind::kNearestEven) {
    const uint32_t odd = ((d == 0 ? u : sig) >> sc) & 1u;
    inc = (frac32 > 0x80000000u) | ((frac32 == 0x80000000u) & odd);
  } else if constexpr (kMode == RoundingKind::kNearestAway) {
    inc = frac32 >= 0x80000000u ? 1u : 0u;
  } else if constexpr (kMode == RoundingKind::kTowardZero) {
    inc = 0;
  } else if constexpr (kMode == RoundingKind::kUp) {
    inc = (neg ^ 1u) & inexact;
  } else if constexpr (kMode == RoundingKind::kDown) {
    inc = neg & inexact;
  } else {
    const uint32_t top_mask = 0xFFFFFFFFu << (32 - p.r_bits);
    const uint32_t r = word << (32 - p.r_bits);
    if constexpr (kTwosComplementSr) {
      // Negative x: the two's complement fraction is 1 - frac; its top bits are those of
      // 2^32 - ceil(frac·2^32). The magnitude grows iff the value does not round up.
      const int32_t ls = s - 32;
      const uint32_t lost_shift = static_cast<uint32_t>(ls <= 0 ? 0 : (ls < 31 ? ls : 31));
      const uint32_t lost = (s > 32 && (rem & ((1u << lost_shift) - 1u)) != 0) ? 1u : 0u;
      const uint32_t frac_twos = inexact != 0 ? (~frac32 + (lost ^ 1u)) : 0u;
      const uint32_t f = (neg != 0 ? frac_twos : frac32) & top_mask;
      const uint32_t carry = (f + r) < f ? 1u : 0u;
      inc = neg != 0 ? (inexact & (carry ^ 1u)) : carry;
    } else {
      const uint32_t f = frac32 & top_mask;
      inc = (f + r) < f ? 1u : 0u;
    }
  }

  const uint32_t res = (kUniform || s <= 23) ? ((u & ~mask) + (inc << sc)) : (inc != 0 ? p.quantum_bits : 0u);
  return finish_magnitude(res, b, p);
}

// kFloatSplit: a float grid with subnormals of its own (t > 1: fp16, e4m3, e5m2, float:E:M with
// E < 8) and 1 <= c <= 22. For |x| >= 2^emin the shift is c in every binade (as kUniform); below,
// the grid is fixed point with step Q = 2^(emin-M), and the rounding is done in FP32 arithmetic:
//   nearest-even  (|x| + 2^(emin-M+23)) - 2^(emin-M+23): the sum's ulp is Q and |x| < 2^emin, so
//                 the FPU's round-to-nearest-even rounds |x| to the grid, and the difference is exact;
//   stochastic    Y = floor(|x|·2^R/Q) (exact: a power-of-two scaling, < 2^(M+R) <= 2^30), then
//                 (Y + r) >> R = lo + [f + r >= 2^R] (f + r is an integer, so the bits of |x|
//                 below f cannot carry), times Q.
// Needs the default FP environment (round to nearest, no FTZ/DAZ): fast_grid_usable() checks it.
template <RoundingKind kMode, bool kSaturating>
[[gnu::always_inline]] inline uint32_t quantize_bits_float_split(uint32_t b, uint32_t word, const Params& p) {
  const uint32_t u = b & 0x7FFFFFFFu;
  const auto c = static_cast<uint32_t>(p.c);
  const uint32_t mask = (1u << c) - 1u;
  const float a = std::bit_cast<float>(u);
  uint32_t normal = 0, small = 0;
  if constexpr (kMode == RoundingKind::kNearestEven) {
    normal = nearest_even_pattern(u, c, mask);
    small = std::bit_cast<uint32_t>((a + p.add_round) - p.add_round);
  } else {
    const auto r_bits = static_cast<uint32_t>(p.r_bits);
    normal = sr_add_to_pattern(u, word, mask, p);
    const float y = a * p.to_grid;
    const auto lo = static_cast<uint32_t>(static_cast<int32_t>(y < p.y_max ? y : 0.0f));  // y >= 0, truncation = floor
    const uint32_t q = (lo + (word & ((1u << r_bits) - 1u))) >> r_bits;
    small = std::bit_cast<uint32_t>(static_cast<float>(static_cast<int32_t>(q)) * p.step);
  }
  return finish_float<kSaturating>(u >= p.normal_min ? normal : small, b, p);
}

// kFloatUniform (see FastGrid): nearest-even or SR as one pattern add with the same c everywhere.
template <RoundingKind kMode, bool kSaturating>
[[gnu::always_inline]] inline uint32_t quantize_bits_float_uniform(uint32_t b, uint32_t word, const Params& p) {
  static_assert(kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic,
                "kFloatUniform rounds to nearest-even or stochastically");
  const uint32_t u = b & 0x7FFFFFFFu;
  const auto c = static_cast<uint32_t>(p.c);
  const uint32_t mask = (1u << c) - 1u;
  uint32_t res = 0;
  if constexpr (kMode == RoundingKind::kNearestEven) {
    res = nearest_even_pattern(u, c, mask);
  } else {
    res = sr_add_to_pattern(u, word, mask, p);
  }
  return finish_float<kSaturating>(res, b, p);
}

// kFixedScaled: fixed:WL:FL and fixed:WL:dyn on grids whose step 2^se is a normal FP32 value,
// rounded in FP32 arithmetic (fixed_params says where each applies).
//   nearest-even (WL <= 23, 1/step normal): y = x/step is exact (a power-of-two scaling; a y that
//     underflows has |y| < 1/2 and rounds to zero anyway), clamped to the grid's range
//     [-2^(WL-1), 2^(WL-1)-1], then (y + 1.5·2^23) - 1.5·2^23 rounds it to an integer (|y| <= 2^22:
//     the FPU's round-to-nearest-even, ties to even), times the step.
//   stochastic:R (WL <= 25, WL + R <= 32, se <= R): y = x·2^(R-se) is exact (a scaling by a power
//     of two >= 1 cannot lose bits; an overflow to inf is clamped like any x beyond the grid),
//     clamped to [-2^(WL-1+R), (2^(WL-1)-1)·2^R], which fits int32. Y = floor(y) is the truncation
//     minus [trunc(y) > y] (trunc(y) is an FP32 value, so the compare is exact). Then Y = lo·2^R + f
//     with lo = floor(x/step) and f the top R bits of the two's complement fraction, and the
//     arithmetic shift (Y + r) >> R = lo + [f + r >= 2^R], SR's definition; the clamped ends give
//     exactly the saturation values for every r < 2^R. |k| <= 2^(WL-1) <= 2^24 converts exactly.
// The sign is ORed back, so a negative x that rounds to zero gives -0 as the reference does. Needs
// the default FP environment (fast_grid_usable()).
// kFloorInsn (the AVX2 and AVX-512 targets): Y = floor(y) with one rounding instruction (SSE4.1
// roundps, vrndscaleps), which the compiler vectorizes there (these files build with
// -fno-trapping-math); the portable SSE2 target has none and keeps the truncate-and-compare floor.
template <RoundingKind kMode, bool kFloorInsn = false>
[[gnu::always_inline]] inline uint32_t quantize_bits_fixed_scaled(uint32_t b, uint32_t word, const Params& p) {
  static_assert(kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic,
                "kFixedScaled rounds to nearest-even or stochastically");
  float y = std::bit_cast<float>(b) * p.to_grid;
  y = y > p.y_min ? y : p.y_min;  // also maps NaN to y_min (no conversion of a NaN below)
  y = y < p.y_max ? y : p.y_max;
  uint32_t res = 0;
  if constexpr (kMode == RoundingKind::kNearestEven) {
    constexpr float kRound = 0x1.8p23f;
    res = std::bit_cast<uint32_t>(((y + kRound) - kRound) * p.step);
  } else if constexpr (kFloorInsn) {
    const int32_t k = (static_cast<int32_t>(__builtin_floorf(y)) + static_cast<int32_t>(word & p.r_mask)) >> p.r_bits;
    res = std::bit_cast<uint32_t>(static_cast<float>(k) * p.step);
  } else {
    // floor in FP32 with float-only selects (GCC 12 left an int -= (float > float) unvectorized):
    // t - 1 is exact because t > y only for a non-integer y, so |y| < 2^23.
    float t = static_cast<float>(static_cast<int32_t>(y));  // truncation toward zero
    t = t > y ? t - 1.0f : t;
    const int32_t k = (static_cast<int32_t>(t) + static_cast<int32_t>(word & p.r_mask)) >> p.r_bits;  // arithmetic shift: floor
    res = std::bit_cast<uint32_t>(static_cast<float>(k) * p.step);
  }
  res |= b & 0x80000000u;
  return (b & 0x7FFFFFFFu) > 0x7F800000u ? b : res;  // NaN stays the same NaN
}

// floor(log2(v)) for a positive finite FP32 bit pattern.
[[gnu::always_inline]] inline int floor_log2_bits(uint32_t u) {
  const int be = static_cast<int>(u >> 23);
  return be != 0 ? be - 127 : static_cast<int>(std::bit_width(u)) - 1 - 149;
}

// bfp parameters for a block whose largest finite magnitude has the bit pattern max_bits (> 0),
// with integer operations only (this runs once per block). step = 2^se, se = e+1-M; the
// saturation value is the largest FP32 value <= (2^M-1)·step (exactly it unless it lies below
// FP32's subnormal spacing).
[[gnu::always_inline]] inline Params block_params_from_max(uint32_t max_bits, int mantissa_bits, int r_bits) {
  const int e = floor_log2_bits(max_bits);
  const int se = e + 1 - mantissa_bits;
  Params p;
  p.c = 0;
  p.t = 150 + se;
  p.quantum_bits = se >= -126 ? static_cast<uint32_t>(se + 127) << 23 : (se >= -149 ? 1u << (se + 149) : 0u);
  const uint32_t kmax = static_cast<uint32_t>((uint64_t{1} << mantissa_bits) - 1);
  uint32_t limit;
  if (e >= -126) {
    limit = (static_cast<uint32_t>(e + 127) << 23) | ((1u << 23) - (1u << (24 - mantissa_bits)));
  } else {
    const int shift = se + 149;  // kmax·2^se in units of 2^-149
    limit = shift >= 0 ? kmax << shift : (-shift < 32 ? kmax >> -shift : 0u);
  }
  p.limit_pos = p.limit_neg = p.over_pos = p.over_neg = limit;
  p.r_bits = r_bits;
  return p;
}

struct LoopArgs {
  const float* in;
  float* out;
  const uint32_t* random;  // null unless stochastic with a span of words
  const RandomFill* fill;  // non-null: stochastic with words produced on the fly
  int64_t first;           // index of in[0] in the whole span (for fill)
  int64_t n;
  RoundingKind mode;
  bool twos_complement_sr;
  const Params* params;
  bool streaming = false;  // out-of-place on a large span: write `out` with non-temporal stores
};
template <RoundingKind kMode, bool kTwos, bool kUniform, FastGrid kGrid, bool kSaturating = false, bool kFloorInsn = false>
[[gnu::always_inline]] inline uint32_t quantize_element(uint32_t b, uint32_t word, const Params& p) {
  if constexpr (kGrid == FastGrid::kFloatSplit) {
    return quantize_bits_float_split<kMode, kSaturating>(b, word, p);
  } else if constexpr (kGrid == FastGrid::kFloatUniform &&
                       (kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic)) {
    return quantize_bits_float_uniform<kMode, kSaturating>(b, word, p);
  } else if constexpr (kGrid == FastGrid::kFixedScaled &&
                       (kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic)) {
    return quantize_bits_fixed_scaled<kMode, kFloorInsn>(b, word, p);
  } else {
    return quantize_bits<kMode, kTwos, kUniform>(b, word, p);
  }
}

template <RoundingKind kMode, bool kTwos, bool kUniform, FastGrid kGrid = FastGrid::kGeneral, bool kSaturating = false,
          bool kFloorInsn = false>
[[gnu::always_inline]] inline void loop_grid(const LoopArgs& a) {
  const Params p = *a.params;
  const int64_t n = a.n;
  const uint32_t* __restrict random = a.random;
  if (a.in == a.out) {  // in place: one pointer, no aliasing question for the vectorizer
    float* x = a.out;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t word = kMode == RoundingKind::kStochastic ? random[i] : 0u;
      x[i] = std::bit_cast<float>(quantize_element<kMode, kTwos, kUniform, kGrid, kSaturating, kFloorInsn>(std::bit_cast<uint32_t>(x[i]), word, p));
    }
    return;
  }
  const float* __restrict in = a.in;  // quantize() checked that in and out do not overlap
  float* __restrict out = a.out;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t word = kMode == RoundingKind::kStochastic ? random[i] : 0u;
    out[i] = std::bit_cast<float>(quantize_element<kMode, kTwos, kUniform, kGrid, kSaturating, kFloorInsn>(std::bit_cast<uint32_t>(in[i]), word, p));
  }
}

// The FP32-arithmetic kernels (kFloatSplit, kFixedScaled) assume IEEE round-to-nearest with
// subnormals kept; a caller that set another rounding direction or flush-to-zero/denormals-are-zero
// (some libraries do, per thread) gets the integer kernel, which does not depend on them.
[[gnu::always_inline]] inline bool fast_grid_usable() {
#if RNGFREE_X86
  return (_mm_getcsr() & 0xE040u) == 0;  // MXCSR: rounding control (bits 13-14) 0, FTZ (15) and DAZ (6) off
#else
  return false;  // no portable way to read flush-to-zero
#endif
}

template <RoundingKind kMode, bool kTwos, bool kFloorInsn = false>
[[gnu::always_inline]] inline void loop(const LoopArgs& a) {
  if constexpr (kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic) {
    const Params& p = *a.params;
    if constexpr (!kTwos) {  // float formats (two's complement SR is the fixed formats')
      if (p.fast == FastGrid::kFloatUniform) {  // integer only: any FP environment
        if (p.saturating) return loop_grid<kMode, false, true, FastGrid::kFloatUniform, true>(a);
        return loop_grid<kMode, false, true, FastGrid::kFloatUniform, false>(a);
      }
      if (p.fast == FastGrid::kFloatSplit && fast_grid_usable()) {
        if (p.saturating) return loop_grid<kMode, false, false, FastGrid::kFloatSplit, true>(a);
        return loop_grid<kMode, false, false, FastGrid::kFloatSplit, false>(a);
      }
    }
    if (p.fast == FastGrid::kFixedScaled && fast_grid_usable()) {
      // the rounding instruction only matters to two's complement SR
      return loop_grid<kMode, kTwos, false, FastGrid::kFixedScaled, false, kFloorInsn && kTwos>(a);
    }
  }
  if (a.params->t <= 1 && a.params->c <= 23) return loop_grid<kMode, kTwos, true>(a);
  return loop_grid<kMode, kTwos, false>(a);
}

template <bool kFloorInsn = false>
[[gnu::always_inline]] inline void run_loop(const LoopArgs& a) {
  switch (a.mode) {
    case RoundingKind::kNearestEven: return loop<RoundingKind::kNearestEven, false>(a);
    case RoundingKind::kNearestAway: return loop<RoundingKind::kNearestAway, false>(a);
    case RoundingKind::kTowardZero: return loop<RoundingKind::kTowardZero, false>(a);
    case RoundingKind::kUp: return loop<RoundingKind::kUp, false>(a);
    case RoundingKind::kDown: return loop<RoundingKind::kDown, false>(a);
    case RoundingKind::kStochastic:
      if (a.twos_complement_sr) return loop<RoundingKind::kStochastic, true, kFloorInsn>(a);
      return loop<RoundingKind::kStochastic, false>(a);
  }
}

// Largest finite |x| as a bit pattern (0 if none): bit patterns of non-negative floats are ordered.
// (Signed lanes: GCC 12 vectorizes a signed max reduction but not this unsigned one.)
[[gnu::always_inline]] inline uint32_t max_finite_bits(const float* x, int64_t n) {
  int32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    int32_t u = std::bit_cast<int32_t>(x[i]) & 0x7FFFFFFF;
    u = u < 0x7F800000 ? u : 0;
    m = m > u ? m : u;
  }
  return static_cast<uint32_t>(m);
}

// One bfp block with the general integer kernel: a.in[begin, begin + len) whose largest finite
// magnitude has the bit pattern max_bits (0: no nonzero finite value, the block is unchanged).
[[gnu::always_inline]] inline void run_one_block(const LoopArgs& a, int64_t begin, int64_t len, uint32_t max_bits,
                                                 int mantissa_bits, int r_bits) {
  if (max_bits == 0) {
    if (a.in != a.out) std::copy(a.in + begin, a.in + begin + len, a.out + begin);
    return;
  }
  const Params p = block_params_from_max(max_bits, mantissa_bits, r_bits);
  LoopArgs part = a;
  part.in = a.in + begin;
  part.out = a.out + begin;
  part.random = a.random != nullptr ? a.random + begin : nullptr;
  part.n = len;
  part.params = &p;
  run_loop(part);
}

// bfp on small blocks (kBfpScaled), rounded in FP32 arithmetic on the block's fixed-point grid of
// step 2^se, for blocks whose step and scale factor are normal FP32 values (bfp_scaled_bounds):
//   nearest-even (M <= 22): y = |x|·2^-se is exact (a power-of-two scaling; a y that underflows is
//     below 1/2 and rounds to 0 anyway), clamped to 2^M - 1, then (y + 1.5·2^23) - 1.5·2^23 rounds
//     it to an integer k (y <= 2^22: the FPU's round-to-nearest-even, ties to even k), times 2^se.
//   stochastic:R (M <= 24, M + R <= 31): y = |x|·2^(R-se) (exact, or below 2^-126 where it
//     underflows, whose floor is 0 either way), clamped to (2^M - 1)·2^R (exact in FP32). Y =
//     floor(y) = trunc(y) (y >= 0) = lo·2^R + f with lo = floor(|x|/step) and f the top R bits of
//     the magnitude's fraction, so (Y + r) >> R = lo + [f + r >= 2^R], SR's definition, times 2^se.
// |x| < 2^(se+M) in the block, so an unclamped k is at most 2^M (the block's maximum rounded up);
// the clamp of y gives exactly the saturation (2^M - 1)·2^se for it, for infinities, and for every r
// (Y + r < 2^M·2^R). The sign is ORed back (-0 for a negative x that rounds to 0, as the reference
// does) and a NaN stays the same NaN. Needs the default FP environment (fast_grid_usable()).
// Written with GCC vector extensions in registers of the target's width, kLanes = 16 (AVX-512), 8
// (AVX2) or 4 (SSE2) lanes, a 16-element group in 16/kLanes steps: vectors wider than the target
// are split by GCC 12 into scalar code for compares and selects (bfp:7:32 ran at ~0.3 Gelem/s on
// AVX2 and SSE2 with 16-lane vectors, against 2-3 with AVX-512). Vector types stay local to these
// always-inline functions (no vector arguments or returns by value, whose ABI differs between
// targets; hence __builtin_bit_cast, the builtin behind std::bit_cast, for the lane types, and the
// conversions through references).
template <int kLanes>
struct BfpLanes;
template <>
struct BfpLanes<16> {
  using U = uint32_t __attribute__((vector_size(64)));
  using I = int32_t __attribute__((vector_size(64)));
  using F = float __attribute__((vector_size(64)));
};
template <>
struct BfpLanes<8> {
  using U = uint32_t __attribute__((vector_size(32)));
  using I = int32_t __attribute__((vector_size(32)));
  using F = float __attribute__((vector_size(32)));
};
template <>
struct BfpLanes<4> {
  using U = uint32_t __attribute__((vector_size(16)));
  using I = int32_t __attribute__((vector_size(16)));
  using F = float __attribute__((vector_size(16)));
};
// Lane-wise conversions (truncation toward zero for float -> int), one overload per width.
#define RNGFREE_BFP_LANE_CONVERSIONS(N)                                                                    \
  [[gnu::always_inline]] inline void convert_lanes(const BfpLanes<N>::F& v, BfpLanes<N>::I& out) {      \
    out = __builtin_convertvector(v, BfpLanes<N>::I);                                                      \
  }                                                                                                        \
  [[gnu::always_inline]] inline void convert_lanes(const BfpLanes<N>::I& v, BfpLanes<N>::F& out) {      \
    out = __builtin_convertvector(v, BfpLanes<N>::F);                                                      \
  }
RNGFREE_BFP_LANE_CONVERSIONS(16)
RNGFREE_BFP_LANE_CONVERSIONS(8)
RNGFREE_BFP_LANE_CONVERSIONS(4)
#undef RNGFREE_BFP_LANE_CONVERSIONS
using Lanes16i = BfpLanes<16>::I;

struct BfpGrid {
  float to_grid;   // 2^-se (nearest-even), 2^(R-se) (stochastic)
  float y_max;     // 2^M - 1 (nearest-even), (2^M - 1)·2^R (stochastic)
  float step;      // 2^se
  uint32_t r_mask;  // 2^R - 1
  int r_bits;
};

// The grid of a block with step exponent se (in bfp_scaled_bounds).
[[gnu::always_inline]] inline void set_bfp_grid(BfpGrid& g, int se) {
  g.to_grid = std::bit_cast<float>(static_cast<uint32_t>(g.r_bits - se + 127) << 23);
  g.step = std::bit_cast<float>(static_cast<uint32_t>(se + 127) << 23);
}

// out[0, 16) from in[0, 16) and words[0, 16) (null unless stochastic); out may equal in.
// kFinite: the caller knows every value of the block is finite, so no lane needs the NaN select.
template <RoundingKind kMode, int kLanes, bool kFinite>
[[gnu::always_inline]] inline void quantize_bfp_scaled16(const float* in, const uint32_t* words, float* out,
                                                         const BfpGrid& g) {
  using U = typename BfpLanes<kLanes>::U;
  using I = typename BfpLanes<kLanes>::I;
  using F = typename BfpLanes<kLanes>::F;
  // x - 0 is x for every x (x + 0 is not for -0: GCC would keep the addition)
  const F to_grid = g.to_grid - F{};
  const F y_max = g.y_max - F{};
  const F step = g.step - F{};
  for (int o = 0; o < 16; o += kLanes) {
    U b;
    std::memcpy(&b, in + o, sizeof b);
    const U mag = b & 0x7FFFFFFFu;
    F y = __builtin_bit_cast(F, mag) * to_grid;
    y = y < y_max ? y : y_max;  // also maps NaN to y_max (no conversion of a NaN below)
    U res;
    if constexpr (kMode == RoundingKind::kNearestEven) {
      const F round = F{} + 0x1.8p23f;
      res = __builtin_bit_cast(U, ((y + round) - round) * step);
    } else {
      U w;
      std::memcpy(&w, words + o, sizeof w);
      const I r = __builtin_bit_cast(I, w & g.r_mask);
      I yi;
      convert_lanes(y, yi);  // y >= 0: trunc = floor
      const I k = (yi + r) >> g.r_bits;
      F kf;
      convert_lanes(k, kf);
      res = __builtin_bit_cast(U, kf * step);
    }
    res |= b & 0x80000000u;
    // NaN stays the same NaN (signed lanes, mag < 2^31: AVX2 and SSE2 have no unsigned compare)
    if constexpr (!kFinite) res = __builtin_bit_cast(I, mag) > 0x7F800000 ? b : res;
    std::memcpy(out + o, &res, sizeof res);
  }
}

// The largest of a vector's lanes (signed): for 16 lanes a tree of shuffles, for fewer the lanes
// one by one.
template <int kLanes>
[[gnu::always_inline]] inline uint32_t horizontal_max(const typename BfpLanes<kLanes>::I& m) {
  if constexpr (kLanes == 16) {
    Lanes16i t = m;
    Lanes16i h = __builtin_shufflevector(t, t, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
    t = t > h ? t : h;
    h = __builtin_shufflevector(t, t, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11);
    t = t > h ? t : h;
    h = __builtin_shufflevector(t, t, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    t = t > h ? t : h;
    h = __builtin_shufflevector(t, t, 1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14);
    t = t > h ? t : h;
    return static_cast<uint32_t>(t[0]);
  } else {
    int32_t r = 0;
    for (int j = 0; j < kLanes; ++j) r = r > m[j] ? r : m[j];
    return static_cast<uint32_t>(r);
  }
}

// The largest magnitude's bit pattern over n (a multiple of 16) elements: lane-wise maxima, then
// horizontal_max. kFiniteOnly: of the finite values (max_finite_bits); else of all of them, Inf and
// NaN included (their patterns are 0x7F800000 and above, every finite one below), which tells at
// once whether a block is all finite and, if so, its max_finite_bits.
template <int kLanes, bool kFiniteOnly>
[[gnu::always_inline]] inline uint32_t max_magnitude_bits16(const float* x, int64_t n) {
  using I = typename BfpLanes<kLanes>::I;
  I m = I{};
  for (int64_t i = 0; i < n; i += kLanes) {
    I u;
    std::memcpy(&u, x + i, sizeof u);
    u &= 0x7FFFFFFF;
    if constexpr (kFiniteOnly) u = u < 0x7F800000 ? u : 0;  // signed lanes: the patterns are below 2^31
    m = m > u ? m : u;
  }
  return horizontal_max<kLanes>(m);
}

// The range of step exponents se for which kBfpScaled applies: 2^se and the scale factor 2^(R-se)
// (nearest-even: R = 0) normal FP32 values. Blocks outside it (a max below 2^(M-127), for SR below
// 2^(M+R-128); nearest-even with M = 1 and a max of 2^127 or more) take the general kernel.
struct BfpScaledBounds {
  int se_min, se_max;
};
inline BfpScaledBounds bfp_scaled_bounds(int r_bits) {
  return {std::max(-126, r_bits - 127), std::min(127, r_bits + 126)};
}

// kBfpScaled's whole blocks of `block` elements (a multiple of 16) over a.in[0, whole): per block
// the max (vector ops), the grid's constants from it, and the block in 16-lane steps.
// The common blocks (all values finite with a normal grid, or all zeros) run in an inner loop with
// no function call in it, so that its constants stay in registers (a call clobbers every vector
// register: with the general path's calls in the same loop, GCC 12 broadcast six constants again
// for every block); a block with an Inf or a NaN, or whose grid is not normal, leaves it for the
// general path and the inner loop resumes after it.
template <RoundingKind kMode, int kLanes>
[[gnu::always_inline]] inline void run_blocks_bfp_scaled(const LoopArgs& a, int64_t whole, int64_t block,
                                                         int mantissa_bits, int r_bits) {
  using U = typename BfpLanes<kLanes>::U;
  const int rb = kMode == RoundingKind::kStochastic ? r_bits : 0;
  const BfpScaledBounds bounds = bfp_scaled_bounds(rb);
  BfpGrid g;
  g.y_max = std::ldexp(static_cast<float>((1u << mantissa_bits) - 1u), rb);  // exact: M <= 24
  g.r_mask = kMode == RoundingKind::kStochastic ? (1u << rb) - 1u : 0u;  // rb <= 30
  g.r_bits = rb;
  // Pointers in locals: through `a`, the compiler reloads them after every store.
  const float* const in = a.in;
  float* const out = a.out;
  const uint32_t* const words = kMode == RoundingKind::kStochastic ? a.random : nullptr;
  int64_t begin = 0;
  while (begin < whole) {
    for (; begin < whole; begin += block) {
      const uint32_t max_bits = max_magnitude_bits16<kLanes, false>(in + begin, block);
      if (max_bits == 0) {  // all zeros: unchanged
        if (in != out) {
          for (int64_t i = begin; i < begin + block; i += kLanes) {
            U v;
            std::memcpy(&v, in + i, sizeof v);
            std::memcpy(out + i, &v, sizeof v);
          }
        }
        continue;
      }
      const int be = static_cast<int>(max_bits >> 23);
      const int se = be - 127 + 1 - mantissa_bits;  // be >= 1: floor(log2(max)) = be - 127
      if (max_bits >= 0x7F800000u || be == 0 || se < bounds.se_min || se > bounds.se_max) break;
      set_bfp_grid(g, se);
      for (int64_t i = begin; i < begin + block; i += 16) {
        quantize_bfp_scaled16<kMode, kLanes, true>(in + i, words != nullptr ? words + i : nullptr, out + i, g);
      }
    }
    if (begin >= whole) break;
    // The block that left the loop: its largest finite magnitude, then the scaled kernel with the
    // NaN select where the grid is normal, else the general kernel.
    const uint32_t max_bits = max_magnitude_bits16<kLanes, true>(in + begin, block);
    const int be = static_cast<int>(max_bits >> 23);
    const int se = be - 127 + 1 - mantissa_bits;
    if (be == 0 || se < bounds.se_min || se > bounds.se_max) {
      run_one_block(a, begin, block, max_bits, mantissa_bits, r_bits);
    } else {
      set_bfp_grid(g, se);
      for (int64_t i = begin; i < begin + block; i += 16) {
        quantize_bfp_scaled16<kMode, kLanes, false>(in + i, words != nullptr ? words + i : nullptr, out + i, g);
      }
    }
    begin += block;
  }
}

// kBfpScaled's whole blocks over a.in[0, whole), or false where it does not apply (then nothing
// is done): B a multiple of 16 (16 and 32 among them), nearest-even with M <= 22 or stochastic:R
// with M + R <= 31, the default FP environment.
template <int kLanes>
[[gnu::always_inline]] inline bool try_run_blocks_bfp_scaled(const LoopArgs& a, int64_t whole, int64_t block,
                                                             int mantissa_bits, int r_bits) {
  if (block % 16 != 0) return false;
  const bool nearest = a.mode == RoundingKind::kNearestEven && mantissa_bits <= 22;
  const bool stochastic = a.mode == RoundingKind::kStochastic && mantissa_bits + r_bits <= 31;
  if ((!nearest && !stochastic) || !fast_grid_usable()) return false;
  if (nearest) {
    run_blocks_bfp_scaled<RoundingKind::kNearestEven, kLanes>(a, whole, block, mantissa_bits, r_bits);
  } else {
    run_blocks_bfp_scaled<RoundingKind::kStochastic, kLanes>(a, whole, block, mantissa_bits, r_bits);
  }
  return true;
}

// bfp with blocks of B elements over a.in[0, a.n) (a.n a multiple of B except at the span's end):
// whole blocks with kBfpScaled where it applies; otherwise, and for a last short block, per block a
// max pass and the general element loop, all inlined into one target-specific function.
// kLanes: the target's vector width in 32-bit lanes (16 AVX-512, 8 AVX2, 4 SSE2).
template <int kLanes>
[[gnu::always_inline]] inline void run_blocks(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits) {
  int64_t begin = 0;
  const int64_t whole = a.n / block * block;
  if (try_run_blocks_bfp_scaled<kLanes>(a, whole, block, mantissa_bits, r_bits)) begin = whole;
  for (; begin < a.n; begin += block) {
    const int64_t len = std::min(block, a.n - begin);
    run_one_block(a, begin, len, max_finite_bits(a.in + begin, len), mantissa_bits, r_bits);
  }
}

constexpr int64_t kStreamBlock = 1024;  // floats quantized into an L1 buffer, then streamed out

// Out-of-place on large spans: quantize into an L1-resident buffer and write `out` with
// non-temporal stores, so the output lines are not first read from memory (as a copy's rep movsb
// avoids too). `stream(dst, src, count)` copies count floats (a multiple of 16) to a 64-byte
// aligned dst.
// No software prefetch: the hardware prefetcher keeps up with these sequential streams. Bursts of
// prefetcht0 ahead of each 1,024 elements (2ff8820, measured then in place at 2^24: 3.6 -> 1.0
// ns/element) made every kernel slower on the twelfth session's machine (AMD EPYC, AVX-512): the
// burst stalls on the core's miss buffers, and the core computes nothing meanwhile (perf: a quarter
// of the SR kernel's samples on the prefetch loop). Without it, 2^24 values on one thread (bf16,
// fixed:8:4, e4m3; medians of 9): out of place nearest-even 0.44 -> 0.25 ns/element, SR with given
// words 0.80 -> 0.44; in place (bf16, fixed:8:4) nearest-even 0.22 -> 0.17, SR 0.59 -> 0.32.
template <void (*stream)(float*, const float*, int64_t), bool kFloorInsn = false>
[[gnu::always_inline]] inline void run_loop_streaming(const LoopArgs& a) {
  if (!a.streaming || a.in == a.out) return run_loop<kFloorInsn>(a);
  alignas(64) float buffer[kStreamBlock];
  const auto misalignment = static_cast<int64_t>(reinterpret_cast<uintptr_t>(a.out) & 63u);
  int64_t done = std::min(a.n, ((64 - misalignment) & 63) / static_cast<int64_t>(sizeof(float)));
  LoopArgs part = a;
  part.n = done;
  run_loop<kFloorInsn>(part);  // head, up to the first 64-byte boundary of out
  for (; done + kStreamBlock <= a.n; done += kStreamBlock) {
    part.in = a.in + done;
    part.out = buffer;
    part.random = a.random != nullptr ? a.random + done : nullptr;
    part.n = kStreamBlock;
    run_loop<kFloorInsn>(part);
    stream(a.out + done, buffer, kStreamBlock);
  }
  part.in = a.in + done;
  part.out = a.out + done;
  part.random = a.random != nullptr ? a.random + done : nullptr;
  part.n = a.n - done;
  run_loop<kFloorInsn>(part);  // tail
#if RNGFREE_X86
  _mm_sfence();  // order the non-temporal stores before anything that follows
#endif
}

// The entry points per SIMD target: each runs run_loop_streaming / run_blocks / max_finite_bits
// compiled for its target (portable: quantize.cpp; AVX2: quantize_avx2.cpp; AVX-512:
// quantize_avx512.cpp; without x86 all three are the portable code).
void run_loop_avx512(const LoopArgs& a);
void run_loop_avx2(const LoopArgs& a);
void run_loop_portable(const LoopArgs& a);
void run_blocks_avx512(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits);
void run_blocks_avx2(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits);
void run_blocks_portable(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits);
uint32_t max_finite_bits_avx512(const float* x, int64_t n);
uint32_t max_finite_bits_avx2(const float* x, int64_t n);
uint32_t max_finite_bits_portable(const float* x, int64_t n);

}  // namespace rngfree::detail
