// Fast quantize kernels: branch-free 32-bit integer arithmetic on the FP32 bit pattern, one loop per
// rounding mode, vectorized by the compiler for AVX-512, AVX2 and a portable baseline chosen at run
// time (rngfree/simd.hpp). OpenMP with a static partition; every element's result depends
// only on its own input and random word (and, for fixed:dyn / bfp, on an exact max), so results are
// identical for any thread count. Tested equal to quantize_reference (the spec) in tests/core/.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include <omp.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RNGFREE_X86 1
#endif

#include "quantize_internal.hpp"
#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"

namespace rngfree {
namespace {

constexpr int64_t kParallelThreshold = 32768;  // below this, no OpenMP region (call overhead)
constexpr int64_t kChunk = 8192;               // static partition unit
constexpr int64_t kStreamThreshold = 1 << 22;  // out-of-place spans this large (16 MiB) bypass the cache on output

// One element of a float-like grid. With be_eff = max(biased exponent of x, 1), the number of
// FP32 fraction bits below the kept precision is s = c + max(0, t - be_eff):
//   float:E:M   c = 23-M, t = emin+127        (quantum 2^(max(e,emin)-M))
//   fixed, bfp  c = 0,    t = 150+step_exp    (quantum 2^step_exp)
// Within one FP32 binade the value is linear in the bit pattern, so for s <= 23 the rounded pattern
// is (u & ~mask) + (inc << s) (a carry into the exponent field is the next binade's first value);
// for s >= 24, |x| < quantum and the result is 0 or the quantum (quantum_bits).
enum class FastGrid : uint8_t { kGeneral, kFloatSplit, kFixedScaled };

struct Params {
  int32_t c = 0;
  int32_t t = 0;
  uint32_t quantum_bits = 0;
  uint32_t limit_pos = 0, limit_neg = 0;  // magnitude patterns above which the result overflows
  uint32_t over_pos = 0, over_neg = 0;    // magnitude patterns that replace an overflow
  uint32_t keep_inf = 0;                  // all-ones: an infinite input gives inf_bits (IEEE formats)
  uint32_t inf_bits = 0;
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
template <RoundingKind kMode>
[[gnu::always_inline]] inline uint32_t quantize_bits_float_split(uint32_t b, uint32_t word, const Params& p) {
  const uint32_t u = b & 0x7FFFFFFFu;
  const auto c = static_cast<uint32_t>(p.c);
  const uint32_t mask = (1u << c) - 1u;
  const float a = std::bit_cast<float>(u);
  uint32_t normal = 0, small = 0;
  if constexpr (kMode == RoundingKind::kNearestEven) {
    normal = (u + (mask >> 1) + ((u >> c) & 1u)) & ~mask;
    small = std::bit_cast<uint32_t>((a + p.add_round) - p.add_round);
  } else {
    const auto r_bits = static_cast<uint32_t>(p.r_bits);
    normal = sr_add_to_pattern(u, word, mask, p);
    const float y = a * p.to_grid;
    const auto lo = static_cast<uint32_t>(static_cast<int32_t>(y < p.y_max ? y : 0.0f));  // y >= 0, truncation = floor
    const uint32_t q = (lo + (word & ((1u << r_bits) - 1u))) >> r_bits;
    small = std::bit_cast<uint32_t>(static_cast<float>(static_cast<int32_t>(q)) * p.step);
  }
  return finish_magnitude(u >= p.normal_min ? normal : small, b, p);
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
template <RoundingKind kMode>
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
template <RoundingKind kMode, bool kTwos, bool kUniform, FastGrid kGrid>
[[gnu::always_inline]] inline uint32_t quantize_element(uint32_t b, uint32_t word, const Params& p) {
  if constexpr (kGrid == FastGrid::kFloatSplit) {
    return quantize_bits_float_split<kMode>(b, word, p);
  } else if constexpr (kGrid == FastGrid::kFixedScaled &&
                       (kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic)) {
    return quantize_bits_fixed_scaled<kMode>(b, word, p);
  } else {
    return quantize_bits<kMode, kTwos, kUniform>(b, word, p);
  }
}

template <RoundingKind kMode, bool kTwos, bool kUniform, FastGrid kGrid = FastGrid::kGeneral>
[[gnu::always_inline]] inline void loop_grid(const LoopArgs& a) {
  const Params p = *a.params;
  const int64_t n = a.n;
  const uint32_t* __restrict random = a.random;
  if (a.in == a.out) {  // in place: one pointer, no aliasing question for the vectorizer
    float* x = a.out;
    for (int64_t i = 0; i < n; ++i) {
      const uint32_t word = kMode == RoundingKind::kStochastic ? random[i] : 0u;
      x[i] = std::bit_cast<float>(quantize_element<kMode, kTwos, kUniform, kGrid>(std::bit_cast<uint32_t>(x[i]), word, p));
    }
    return;
  }
  const float* __restrict in = a.in;  // quantize() checked that in and out do not overlap
  float* __restrict out = a.out;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t word = kMode == RoundingKind::kStochastic ? random[i] : 0u;
    out[i] = std::bit_cast<float>(quantize_element<kMode, kTwos, kUniform, kGrid>(std::bit_cast<uint32_t>(in[i]), word, p));
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

template <RoundingKind kMode, bool kTwos>
[[gnu::always_inline]] inline void loop(const LoopArgs& a) {
  if constexpr (kMode == RoundingKind::kNearestEven || kMode == RoundingKind::kStochastic) {
    if (a.params->fast != FastGrid::kGeneral && fast_grid_usable()) {
      if (a.params->fast == FastGrid::kFloatSplit) return loop_grid<kMode, kTwos, false, FastGrid::kFloatSplit>(a);
      return loop_grid<kMode, kTwos, false, FastGrid::kFixedScaled>(a);
    }
  }
  if (a.params->t <= 1 && a.params->c <= 23) return loop_grid<kMode, kTwos, true>(a);
  return loop_grid<kMode, kTwos, false>(a);
}

[[gnu::always_inline]] inline void run_loop(const LoopArgs& a) {
  switch (a.mode) {
    case RoundingKind::kNearestEven: return loop<RoundingKind::kNearestEven, false>(a);
    case RoundingKind::kNearestAway: return loop<RoundingKind::kNearestAway, false>(a);
    case RoundingKind::kTowardZero: return loop<RoundingKind::kTowardZero, false>(a);
    case RoundingKind::kUp: return loop<RoundingKind::kUp, false>(a);
    case RoundingKind::kDown: return loop<RoundingKind::kDown, false>(a);
    case RoundingKind::kStochastic:
      if (a.twos_complement_sr) return loop<RoundingKind::kStochastic, true>(a);
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

// bfp with blocks of B elements over a.in[0, a.n) (a.n a multiple of B except at the span's end):
// per block a max pass and the element loop, all inlined into one target-specific function.
[[gnu::always_inline]] inline void run_blocks(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits) {
  for (int64_t begin = 0; begin < a.n; begin += block) {
    const int64_t len = std::min(block, a.n - begin);
    const uint32_t max_bits = max_finite_bits(a.in + begin, len);
    if (max_bits == 0) {  // no nonzero finite value: unchanged
      if (a.in != a.out) std::copy(a.in + begin, a.in + begin + len, a.out + begin);
      continue;
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
}

constexpr int64_t kStreamBlock = 1024;  // floats quantized into an L1 buffer, then streamed out

// Out-of-place on large spans: quantize into an L1-resident buffer and write `out` with
// non-temporal stores, so the output lines are not first read from memory (as a copy's rep movsb
// avoids too). `stream(dst, src, count)` copies count floats (a multiple of 16) to a 64-byte
// aligned dst.
constexpr int64_t kPrefetchAhead = 2 * kStreamBlock;  // elements

// Software prefetch of the block starting kPrefetchAhead elements after `done`: on spans that do
// not fit in cache this kernel is otherwise much slower than its in-cache speed on this class of
// machine (measured: ~3.3 vs 0.45 ns/element for 2^24 elements in place), as the hardware
// prefetcher alone does not keep up with it.
[[gnu::always_inline]] inline void prefetch_ahead(const LoopArgs& a, int64_t done, bool output) {
  const int64_t begin = done + kPrefetchAhead;
  const int64_t end = std::min(a.n, begin + kStreamBlock);
  for (int64_t i = begin; i < end; i += 16) {
    __builtin_prefetch(a.in + i, 0);
    if (output && a.out != a.in) __builtin_prefetch(a.out + i, 1);
    if (a.random != nullptr) __builtin_prefetch(a.random + i, 0);
  }
}

template <void (*stream)(float*, const float*, int64_t)>
[[gnu::always_inline]] inline void run_loop_streaming(const LoopArgs& a) {
  if (!a.streaming || a.in == a.out) {
    if (a.n <= kPrefetchAhead) return run_loop(a);
    LoopArgs part = a;
    for (int64_t done = 0; done < a.n; done += kStreamBlock) {
      prefetch_ahead(a, done, true);
      part.in = a.in + done;
      part.out = a.out + done;
      part.random = a.random != nullptr ? a.random + done : nullptr;
      part.n = std::min(kStreamBlock, a.n - done);
      run_loop(part);
    }
    return;
  }
  alignas(64) float buffer[kStreamBlock];
  const auto misalignment = static_cast<int64_t>(reinterpret_cast<uintptr_t>(a.out) & 63u);
  int64_t done = std::min(a.n, ((64 - misalignment) & 63) / static_cast<int64_t>(sizeof(float)));
  LoopArgs part = a;
  part.n = done;
  run_loop(part);  // head, up to the first 64-byte boundary of out
  for (; done + kStreamBlock <= a.n; done += kStreamBlock) {
    prefetch_ahead(a, done, false);  // the output is streamed, never read
    part.in = a.in + done;
    part.out = buffer;
    part.random = a.random != nullptr ? a.random + done : nullptr;
    part.n = kStreamBlock;
    run_loop(part);
    stream(a.out + done, buffer, kStreamBlock);
  }
  part.in = a.in + done;
  part.out = a.out + done;
  part.random = a.random != nullptr ? a.random + done : nullptr;
  part.n = a.n - done;
  run_loop(part);  // tail
#if RNGFREE_X86
  _mm_sfence();  // order the non-temporal stores before anything that follows
#endif
}

#if RNGFREE_X86
RNGFREE_TARGET_AVX512 void stream_avx512(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) _mm512_stream_ps(dst + i, _mm512_load_ps(src + i));
}
RNGFREE_TARGET_AVX2 void stream_avx2(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; i += 8) _mm256_stream_ps(dst + i, _mm256_load_ps(src + i));
}
void stream_sse(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; i += 4) _mm_stream_ps(dst + i, _mm_load_ps(src + i));
}
RNGFREE_TARGET_AVX512 void run_loop_avx512(const LoopArgs& a) {
  run_loop_streaming<stream_avx512>(a);
}
RNGFREE_TARGET_AVX2 void run_loop_avx2(const LoopArgs& a) { run_loop_streaming<stream_avx2>(a); }
void run_loop_portable(const LoopArgs& a) { run_loop_streaming<stream_sse>(a); }
#else
void run_loop_avx512(const LoopArgs& a) { run_loop(a); }
void run_loop_avx2(const LoopArgs& a) { run_loop(a); }
void run_loop_portable(const LoopArgs& a) { run_loop(a); }
#endif
RNGFREE_TARGET_AVX512 void run_blocks_avx512(const LoopArgs& a, int64_t b, int m, int r) {
  run_blocks(a, b, m, r);
}
RNGFREE_TARGET_AVX2 void run_blocks_avx2(const LoopArgs& a, int64_t b, int m, int r) { run_blocks(a, b, m, r); }
void run_blocks_portable(const LoopArgs& a, int64_t b, int m, int r) { run_blocks(a, b, m, r); }
RNGFREE_TARGET_AVX512 uint32_t max_finite_bits_avx512(const float* x, int64_t n) {
  return max_finite_bits(x, n);
}
RNGFREE_TARGET_AVX2 uint32_t max_finite_bits_avx2(const float* x, int64_t n) { return max_finite_bits(x, n); }
uint32_t max_finite_bits_portable(const float* x, int64_t n) { return max_finite_bits(x, n); }

void run_span_words(const LoopArgs& a) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return run_loop_avx512(a);
    case SimdLevel::kAvx2: return run_loop_avx2(a);
    case SimdLevel::kPortable: return run_loop_portable(a);
  }
}

constexpr int64_t kFillChunk = 2048;

// Runs the loop over a.in[0, a.n), producing the random words first where a source fills them.
void run_span(const LoopArgs& a) {
  if (a.fill == nullptr) return run_span_words(a);
  uint32_t words[kFillChunk];
  for (int64_t off = 0; off < a.n; off += kFillChunk) {
    LoopArgs part = a;
    part.in = a.in + off;
    part.out = a.out + off;
    part.n = std::min(kFillChunk, a.n - off);
    part.first = a.first + off;
    (*a.fill)(part.first, std::span<uint32_t>(words, static_cast<size_t>(part.n)));
    for (int64_t i = off + kFillChunk; i < std::min(a.n, off + 2 * kFillChunk); i += 16) {
      __builtin_prefetch(a.in + i, 0);  // the next chunk's input (see prefetch_ahead)
    }
    part.random = words;
    part.fill = nullptr;
    run_span_words(part);
  }
}

void run_blocks_span(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return run_blocks_avx512(a, block, mantissa_bits, r_bits);
    case SimdLevel::kAvx2: return run_blocks_avx2(a, block, mantissa_bits, r_bits);
    case SimdLevel::kPortable: return run_blocks_portable(a, block, mantissa_bits, r_bits);
  }
}

uint32_t max_finite_bits_span(const float* x, int64_t n) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return max_finite_bits_avx512(x, n);
    case SimdLevel::kAvx2: return max_finite_bits_avx2(x, n);
    case SimdLevel::kPortable: return max_finite_bits_portable(x, n);
  }
  return 0;
}

int thread_count(const QuantizeOptions& options) {
  return options.threads > 0 ? options.threads : omp_get_max_threads();
}

// Runs the loop over [0, n), split into a static partition of chunks when n is large.
void run_parallel(const LoopArgs& args, int threads) {
  LoopArgs a = args;
  a.streaming = a.n >= kStreamThreshold;
  if (a.n < kParallelThreshold || threads <= 1) return run_span(a);
  const int64_t chunks = (a.n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c) {
    LoopArgs part = a;
    const int64_t begin = c * kChunk;
    part.in = a.in + begin;
    part.out = a.out + begin;
    part.random = a.random != nullptr ? a.random + begin : nullptr;
    part.first = a.first + begin;
    part.n = std::min(kChunk, a.n - begin);
    run_span(part);
  }
}

uint32_t max_finite_bits_parallel(const float* x, int64_t n, int threads) {
  if (n < kParallelThreshold || threads <= 1) return max_finite_bits_span(x, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  uint32_t m = 0;
#pragma omp parallel for schedule(static) num_threads(threads) reduction(max : m)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    m = std::max(m, max_finite_bits_span(x + begin, std::min(kChunk, n - begin)));
  }
  return m;
}

uint32_t bits_of(double v) { return std::bit_cast<uint32_t>(static_cast<float>(v)); }

uint32_t power_of_two_bits(int exponent) {
  if (exponent < -149 || exponent > 127) return 0;  // never used: see Params
  return bits_of(std::ldexp(1.0, exponent));
}

Params float_params(const Format& f, const Rounding& r) {
  Params p;
  p.c = 23 - f.mantissa_bits;
  p.t = f.min_exponent() + 127;
  p.quantum_bits = power_of_two_bits(f.min_exponent() - f.mantissa_bits);
  const uint32_t max_bits = bits_of(f.max_value());
  p.limit_pos = p.limit_neg = max_bits;
  p.over_pos = p.over_neg = max_bits;
  p.r_bits = r.random_bits;
  if (r.kind == RoundingKind::kStochastic && p.c >= 1 && p.c <= 23) {  // sr_add_to_pattern (c = 0: nothing to round)
    p.r_mask = r.random_bits == 32 ? 0xFFFFFFFFu : (1u << r.random_bits) - 1u;
    p.r_shift_left = static_cast<uint32_t>(std::max(p.c - r.random_bits, 0));
    p.r_shift_right = static_cast<uint32_t>(std::max(r.random_bits - p.c, 0));  // <= 31: c >= 1
  }
  const int emin = f.min_exponent();
  const int m = f.mantissa_bits;
  const bool stochastic = r.kind == RoundingKind::kStochastic;
  if (p.t > 1 && p.c >= 1 && p.c <= 22 && emin - m >= -126 &&
      (r.kind == RoundingKind::kNearestEven || (stochastic && m + r.random_bits <= 30))) {
    p.fast = FastGrid::kFloatSplit;
    p.normal_min = static_cast<uint32_t>(p.t) << 23;
    p.add_round = std::ldexp(1.0f, emin - m + 23);
    p.step = std::ldexp(1.0f, emin - m);
    p.to_grid = stochastic ? std::ldexp(1.0f, r.random_bits - (emin - m)) : 0.0f;
    p.y_max = stochastic ? std::ldexp(1.0f, m + r.random_bits) : 0.0f;
  }
  if (f.ieee_overflow) {
    // IEEE 754 §7.4: overflow gives ±inf, except that modes rounding toward zero give ±max.
    const uint32_t inf = f.e4m3fn ? 0x7FC00000u : 0x7F800000u;  // e4m3 has no infinity: NaN
    p.over_pos = (r.kind == RoundingKind::kTowardZero || r.kind == RoundingKind::kDown) ? max_bits : inf;
    p.over_neg = (r.kind == RoundingKind::kTowardZero || r.kind == RoundingKind::kUp) ? max_bits : inf;
    p.keep_inf = 0xFFFFFFFFu;
    p.inf_bits = inf;
  }
  return p;
}

Params fixed_params(int word_length, int step_exponent, const Rounding& r) {
  Params p;
  p.c = 0;
  p.t = 150 + step_exponent;
  p.quantum_bits = power_of_two_bits(step_exponent);
  p.limit_pos = p.over_pos = bits_of(detail::fixed_grid_floor(std::ldexp(1.0, word_length - 1) - 1.0, step_exponent));
  p.limit_neg = p.over_neg = bits_of(detail::fixed_grid_floor(std::ldexp(1.0, word_length - 1), step_exponent));
  p.r_bits = r.random_bits;
  // kFixedScaled (nearest-even): step, 1/step and the grid's ends are normal FP32 values
  const int se = step_exponent;
  const int wl = word_length;
  if (r.kind == RoundingKind::kNearestEven && se >= -126 && se <= 126 && se + wl <= 127 && wl <= 23) {
    p.fast = FastGrid::kFixedScaled;
    p.to_grid = std::ldexp(1.0f, -se);
    p.y_min = -std::ldexp(1.0f, wl - 1);
    p.y_max = std::ldexp(1.0f, wl - 1) - 1.0f;
    p.step = std::ldexp(1.0f, se);
  }
  // kFixedScaled (stochastic:R): step and 2^R/step normal FP32 values with 2^R/step >= 1, the
  // grid's indices times 2^R within int32, and every index exactly an FP32 value.
  const int rb = r.random_bits;
  if (r.kind == RoundingKind::kStochastic && se >= -126 && se <= rb && rb - se <= 127 && se + wl <= 127 && wl <= 25 &&
      wl + rb <= 32) {
    p.fast = FastGrid::kFixedScaled;
    p.to_grid = std::ldexp(1.0f, rb - se);
    p.y_min = -std::ldexp(1.0f, wl - 1 + rb);
    p.y_max = static_cast<float>(std::ldexp(std::ldexp(1.0, wl - 1) - 1.0, rb));  // exact: WL-1 <= 24 bits
    p.step = std::ldexp(1.0f, se);
    p.r_mask = (1u << rb) - 1u;  // rb <= 30: wl >= 2
  }
  return p;
}

int step_exponent_from_max(uint32_t max_bits, const Format& format) {
  if (max_bits == 0) return kNoScaleStepExponent;
  const int e = floor_log2_bits(max_bits);
  if (format.kind == FormatKind::kFixedDynamic) return e + 2 - format.word_length;  // -FL, FL = WL-2-e
  return e + 1 - format.block_mantissa_bits;                                        // bfp
}

void copy_if_needed(const float* in, float* out, int64_t n) {
  if (in != out) std::copy(in, in + n, out);
}

}  // namespace

int dynamic_step_exponent(std::span<const float> x, const Format& format) {
  switch (format.kind) {
    case FormatKind::kFixed: return -format.fraction_length;
    case FormatKind::kFixedDynamic:
    case FormatKind::kBlockFloat:
      return step_exponent_from_max(max_finite_bits_span(x.data(), static_cast<int64_t>(x.size())), format);
    case FormatKind::kFloat: break;
  }
  throw Error("dynamic_step_exponent: format " + format.name() + " has no step; allowed: fixed, fixed:WL:dyn, bfp");
}

namespace {

void quantize_impl(std::span<const float> in, std::span<float> out, const Format& format, const Rounding& rounding,
                   const uint32_t* random, const RandomFill* fill, const QuantizeOptions& options) {
  format.validate();
  rounding.validate();
  RNGFREE_CHECK(out.size() == in.size(), "quantize: out.size() must equal in.size()");
  const bool stochastic = rounding.is_stochastic();
  if (!stochastic) {
    random = nullptr;
    fill = nullptr;
  }
  const float* src = in.data();
  float* dst = out.data();
  const int64_t n = static_cast<int64_t>(in.size());
  RNGFREE_CHECK(src == dst || n == 0 || src + n <= dst || dst + n <= src, "quantize: in and out overlap without being the same");
  if (n == 0) return;
  const int threads = thread_count(options);

  LoopArgs a{src, dst, random, fill, 0, n, rounding.kind, false, nullptr};
  switch (format.kind) {
    case FormatKind::kFloat: {
      const Params p = float_params(format, rounding);
      a.params = &p;
      return run_parallel(a, threads);
    }
    case FormatKind::kFixed: {
      const Params p = fixed_params(format.word_length, -format.fraction_length, rounding);
      a.params = &p;
      a.twos_complement_sr = true;
      return run_parallel(a, threads);
    }
    case FormatKind::kFixedDynamic: {
      const int se = step_exponent_from_max(max_finite_bits_parallel(src, n, threads), format);
      if (se == kNoScaleStepExponent) return copy_if_needed(src, dst, n);
      const Params p = fixed_params(format.word_length, se, rounding);
      a.params = &p;
      a.twos_complement_sr = true;
      return run_parallel(a, threads);
    }
    case FormatKind::kBlockFloat: {
      const int64_t block = format.block_size;
      const int m = format.block_mantissa_bits;
      if (block >= kParallelThreshold) {  // large blocks: each one like a fixed:dyn span
        for (int64_t begin = 0; begin < n; begin += block) {
          const int64_t len = std::min(block, n - begin);
          const uint32_t max_bits = max_finite_bits_parallel(src + begin, len, threads);
          if (max_bits == 0) {
            copy_if_needed(src + begin, dst + begin, len);
            continue;
          }
          const Params p = block_params_from_max(max_bits, m, rounding.random_bits);
          LoopArgs ba = a;
          ba.in = src + begin;
          ba.out = dst + begin;
          ba.random = a.random != nullptr ? a.random + begin : nullptr;
          ba.first = begin;
          ba.n = len;
          ba.params = &p;
          run_parallel(ba, threads);
        }
        return;
      }
      // Small blocks: groups of whole blocks of about kChunk elements, a static partition of groups.
      const int64_t group = std::max<int64_t>(1, kChunk / block) * block;
      const int64_t groups = (n + group - 1) / group;
      auto one_group = [&](int64_t g, std::vector<uint32_t>& words) {
        LoopArgs ga = a;
        const int64_t begin = g * group;
        ga.in = src + begin;
        ga.out = dst + begin;
        ga.n = std::min(group, n - begin);
        ga.first = begin;
        ga.random = a.random != nullptr ? a.random + begin : nullptr;
        if (a.fill != nullptr) {
          words.resize(static_cast<size_t>(ga.n));
          (*a.fill)(begin, std::span<uint32_t>(words));
          ga.random = words.data();
          ga.fill = nullptr;
        }
        run_blocks_span(ga, block, m, rounding.random_bits);
      };
      if (n < kParallelThreshold || threads <= 1) {
        std::vector<uint32_t> words;
        for (int64_t g = 0; g < groups; ++g) one_group(g, words);
      } else {
#pragma omp parallel num_threads(threads)
        {
          std::vector<uint32_t> words;
#pragma omp for schedule(static)
          for (int64_t g = 0; g < groups; ++g) one_group(g, words);
        }
      }
      return;
    }
  }
  RNGFREE_CHECK(false, "unknown format kind");
}

}  // namespace

void quantize(std::span<const float> in, std::span<float> out, const Format& format, const Rounding& rounding,
              std::span<const uint32_t> random, const QuantizeOptions& options) {
  RNGFREE_CHECK(!rounding.is_stochastic() || random.size() >= in.size(),
                "quantize: stochastic rounding needs one random word per element (random.size() >= in.size())");
  quantize_impl(in, out, format, rounding, random.data(), nullptr, options);
}

void quantize_with_source(std::span<const float> in, std::span<float> out, const Format& format,
                          const Rounding& rounding, const RandomFill& fill, const QuantizeOptions& options) {
  RNGFREE_CHECK(!rounding.is_stochastic() || static_cast<bool>(fill), "quantize_with_source: stochastic rounding needs a source");
  quantize_impl(in, out, format, rounding, nullptr, &fill, options);
}

}  // namespace rngfree
