// Quantize kernels: FP32 in, FP32 out, every output representable in the format. For SR the
// random bits are data: word i's low R bits are the random bits of element i. Results are
// identical for every thread count. fixed:WL:dyn scales per call (the span is the tensor);
// bfp:M:B groups consecutive elements of the span into blocks of B (the last may be shorter).
#pragma once
#include <climits>
#include <cstdint>
#include <functional>
#include <span>
#include <string_view>

#include "rngfree/format.hpp"
#include "rngfree/rounding.hpp"

namespace rngfree {

struct QuantizeOptions {
  int threads = 0;  // 0: all threads (OpenMP default); results never depend on it
};

// out[i] = Q(in[i]). in and out may be the same span (in place); otherwise they must not overlap.
// random: required (size >= in.size()) iff rounding is stochastic, ignored otherwise.
// Throws rngfree::Error for an invalid Format/Rounding; a size mismatch, missing random words or
// partially overlapping spans are caller bugs and fail an RNGFREE_CHECK. Spans below 32768
// elements run on the calling thread (no OpenMP region); out-of-place spans of 2^22 elements or
// more write `out` with non-temporal stores (it is not left in cache, as a large memcpy does).
void quantize(std::span<const float> in, std::span<float> out, const Format& format,
              const Rounding& rounding, std::span<const uint32_t> random = {},
              const QuantizeOptions& options = {});

// A random source that produces the words on the fly: fill(first, words) must write the words of
// elements [first, first + words.size()) of the span. quantize_with_source calls it on ranges of at
// most a few thousand elements, concurrently from several threads, so it must be thread-safe, and —
// for results identical for every thread count — its words must depend only on the element indices
// (counter-based, or precomputed), never on the order of calls. A range may be asked for more than
// once (fixed:WL:dyn out of place rounds a prefix again when the span's scale grows past it).
using RandomFill = std::function<void(int64_t first, std::span<uint32_t> words)>;

// As quantize, with the random words of a stochastic rounding produced by `fill` chunk by chunk
// (fused with quantization: no span of words is materialized). `fill` is not called otherwise.
void quantize_with_source(std::span<const float> in, std::span<float> out, const Format& format,
                          const Rounding& rounding, const RandomFill& fill, const QuantizeOptions& options = {});

inline void quantize_inplace(std::span<float> x, const Format& format, const Rounding& rounding,
                             std::span<const uint32_t> random = {}, const QuantizeOptions& options = {}) {
  quantize(x, x, format, rounding, random, options);
}

// The step exponent meaning "no scale, every element is exact": dynamic_step_exponent's answer for
// a span (fixed:dyn) or block (bfp) without a nonzero finite value, which is returned unchanged.
inline constexpr int kNoScaleStepExponent = INT32_MIN / 2;

// One value through the plain reference implementation (exact integer arithmetic, no SIMD) —
// the spec that the fast kernels are tested against. For fixed:WL:dyn and bfp the scale must be
// given: `step_exponent` is log2 of the step (fixed:dyn: -FL; bfp: e+1-M).
float quantize_reference(float x, const Format& format, const Rounding& rounding, uint32_t random,
                         int step_exponent = 0);

// The kernels run on the library's SIMD level (rngfree/simd.hpp: simd_level, set_simd_level).

// The power-of-two step exponent that fixed:WL:dyn (whole span) or bfp (one block) would pick.
// Returns kNoScaleStepExponent when max finite |x| is 0 (every element is then left unchanged).
// For kFixed it returns -FL; for kFloat it throws rngfree::Error.
int dynamic_step_exponent(std::span<const float> x, const Format& format);

}  // namespace rngfree
