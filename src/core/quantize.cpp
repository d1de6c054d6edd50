// Fast quantize kernels: branch-free 32-bit integer arithmetic on the FP32 bit pattern, one loop per
// rounding mode, vectorized by the compiler for AVX-512, AVX2 and a portable baseline chosen at run
// time (rngfree/simd.hpp). OpenMP with a static partition; every element's result depends
// only on its own input and random word (and, for fixed:dyn / bfp, on an exact max), so results are
// identical for any thread count. Tested equal to quantize_reference (the spec) in tests/core/.
// The kernels' bodies are in quantize_kernels.hpp, compiled once per SIMD target (this file: the
// portable baseline and the dispatch; quantize_avx2.cpp, quantize_avx512.cpp).
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include <omp.h>

#include "quantize_internal.hpp"
#include "quantize_kernels.hpp"
#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/simd.hpp"

namespace rngfree {
namespace detail {

// The portable entry points are not inlined into the dispatch below, so that no FP32 operation of
// theirs moves across the change of the FP environment around the call (DefaultFpEnvironment).
#if RNGFREE_X86
namespace {
void stream_sse(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; i += 4) _mm_stream_ps(dst + i, _mm_load_ps(src + i));
}
}  // namespace
[[gnu::noinline]] void run_loop_portable(const LoopArgs& a) { run_loop_streaming<stream_sse>(a); }
#else
[[gnu::noinline]] void run_loop_portable(const LoopArgs& a) { run_loop(a); }
#endif
[[gnu::noinline]] void run_blocks_portable(const LoopArgs& a, int64_t b, int m, int r) { run_blocks<4>(a, b, m, r); }
uint32_t max_finite_bits_portable(const float* x, int64_t n) { return max_finite_bits(x, n); }

}  // namespace detail

namespace {

using namespace detail;

constexpr int64_t kParallelThreshold = 32768;  // below this, no OpenMP region (call overhead)
constexpr int64_t kChunk = 8192;               // static partition unit
constexpr int64_t kStreamThreshold = 1 << 22;  // out-of-place spans this large (16 MiB) bypass the cache on output

// The FP32-arithmetic kernels (kFloatSplit, kFixedScaled, kBfpScaled) need IEEE round-to-nearest
// with subnormals; a caller may have set flush-to-zero, denormals-are-zero or another rounding
// direction (MXCSR, per thread: torch.set_flush_denormal(True) does, and some libraries do). For the
// duration of one kernel call this thread's MXCSR gets those three fields at their defaults, and
// the caller's value (flags and exception masks included) is put back after: the caller's setting
// no longer sends every element to the integer kernel (2-7x slower; docs/results.md). Elsewhere nothing is
// changed. The kernels still check (fast_grid_usable) and take the integer path if it is not so.
class DefaultFpEnvironment {
 public:
#if RNGFREE_X86
  DefaultFpEnvironment() : saved_(_mm_getcsr()) {
    if ((saved_ & kFields) != 0) _mm_setcsr(saved_ & ~kFields);
  }
  ~DefaultFpEnvironment() {
    if ((saved_ & kFields) != 0) _mm_setcsr(saved_);
  }
#else
  DefaultFpEnvironment() = default;  // no portable way to set it: the kernels take the integer path
#endif
  DefaultFpEnvironment(const DefaultFpEnvironment&) = delete;
  DefaultFpEnvironment& operator=(const DefaultFpEnvironment&) = delete;

#if RNGFREE_X86
 private:
  static constexpr unsigned kFields = 0xE040u;  // rounding control (bits 13-14), FTZ (15), DAZ (6)
  unsigned saved_;
#endif
};

void run_span_words(const LoopArgs& a) {
  const DefaultFpEnvironment fp_environment;
  switch (simd_level()) {
    case SimdLevel::kAvx512: return run_loop_avx512(a);
    case SimdLevel::kAvx2: return run_loop_avx2(a);
    case SimdLevel::kPortable: return run_loop_portable(a);
  }
}

// Words produced on the fly, a chunk at a time into an L1 buffer: 1,024 (one stream block of the
// kernel). While a chunk's words are produced the kernel reads no input, and the hardware
// prefetcher, which runs only a short distance ahead of the loads, lets the memory idle that long:
// with 2,048 the SR kernel on 2^24 values (one thread; bf16, fixed:8:4, e4m3) took 0.62 ns/element
// with lfsr:32 words and 0.95 with Philox, with 1,024 0.42 and 0.74 (medians of 9, twelfth session).
constexpr int64_t kFillChunk = 1024;

// Runs `run` over a.in[0, a.n) in parts of `step` elements, each part's words produced by a.fill
// into `words` (at least min(step, a.n) long) just before the part is rounded.
template <typename Run>
void run_filled(const LoopArgs& a, int64_t step, std::span<uint32_t> words, Run run) {
  LoopArgs part = a;
  part.fill = nullptr;
  part.random = words.data();
  for (int64_t off = 0; off < a.n; off += step) {
    part.in = a.in + off;
    part.out = a.out + off;
    part.n = std::min(step, a.n - off);
    part.first = a.first + off;
    (*a.fill)(part.first, words.first(static_cast<size_t>(part.n)));
    run(part);
  }
}

// Runs the loop over a.in[0, a.n), producing the random words first where a source fills them.
void run_span(const LoopArgs& a) {
  if (a.fill == nullptr) return run_span_words(a);
  uint32_t words[kFillChunk];
  run_filled(a, kFillChunk, words, run_span_words);
}

void run_blocks_span(const LoopArgs& a, int64_t block, int mantissa_bits, int r_bits) {
  const DefaultFpEnvironment fp_environment;
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
  if (p.t <= 1 && p.c >= 1 && p.c <= 23 && (r.kind == RoundingKind::kNearestEven || stochastic)) {
    p.fast = FastGrid::kFloatUniform;
  }
  p.saturating = !f.ieee_overflow;  // limit = over = max for both signs, no infinity kept
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

// fixed:WL:dyn out of place on a large span, reading the tensor from memory once instead of twice
// (a max pass, then the rounding pass). Each thread walks its contiguous part of the span chunk by
// chunk: it takes the chunk's max as the chunk comes into cache, and rounds the chunk at once with
// the step of its part's running max (the step only grows along the part). Then the span's step is
// that of the largest of the threads' maxima, and each thread rounds again, from the input (intact:
// out != in), the elements it rounded with another step: a prefix of its part (the chunks before its
// running max reached the span's step), or all of it. Every element ends rounded with the span's
// step, so the results are those of the two passes, for any thread count. A tensor whose max's
// binade appears early (e.g. 2^24 normal values: within the first few thousand) re-rounds a short
// prefix; one sorted by magnitude re-reads up to all of it, as the two passes would, plus the
// rewrites. A RandomFill may be asked for a prefix's words again (the same words: they depend only
// on the index).
void run_fixed_dynamic_one_read(const LoopArgs& args, const Format& format, const Rounding& rounding, int threads) {
  const int64_t n = args.n;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  threads = static_cast<int>(std::clamp<int64_t>(threads, 1, chunks));
  std::vector<uint32_t> part_max(static_cast<size_t>(threads), 0);
  LoopArgs base = args;
  base.streaming = n >= kStreamThreshold;
  // Rounds [begin, end) of the span with step exponent se (kNoScaleStepExponent: copies it).
  auto round_range = [&](int64_t begin, int64_t end, int se, const Params& p) {
    if (se == kNoScaleStepExponent) return copy_if_needed(args.in + begin, args.out + begin, end - begin);
    LoopArgs part = base;
    part.in = args.in + begin;
    part.out = args.out + begin;
    part.random = args.random != nullptr ? args.random + begin : nullptr;
    part.first = args.first + begin;
    part.n = end - begin;
    part.params = &p;
    run_span(part);
  };
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t team = omp_get_num_threads();  // may be fewer than asked for
    const int64_t begin = std::min(n, chunks * t / team * kChunk);
    const int64_t end = std::min(n, chunks * (t + 1) / team * kChunk);
    uint32_t running_max = 0;
    int se = kNoScaleStepExponent;
    Params p;
    int64_t rounded_with_se_from = begin;  // [from, end) was rounded with step exponent se
    for (int64_t c = begin; c < end; c += kChunk) {
      const int64_t len = std::min(kChunk, end - c);
      const uint32_t chunk_max = max_finite_bits_span(args.in + c, len);
      if (chunk_max > running_max) {
        running_max = chunk_max;
        const int grown = step_exponent_from_max(running_max, format);
        if (grown != se) {
          se = grown;
          p = fixed_params(format.word_length, se, rounding);
          rounded_with_se_from = c;
        }
      }
      round_range(c, c + len, se, p);
    }
    part_max[static_cast<size_t>(t)] = running_max;
#pragma omp barrier
    uint32_t span_max = 0;
    for (int64_t i = 0; i < team; ++i) span_max = std::max(span_max, part_max[static_cast<size_t>(i)]);
    const int span_se = step_exponent_from_max(span_max, format);
    const int64_t again_end = se == span_se ? rounded_with_se_from : end;
    if (span_se != kNoScaleStepExponent && again_end > begin) {
      round_range(begin, again_end, span_se, fixed_params(format.word_length, span_se, rounding));
    }
  }
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
      a.twos_complement_sr = true;
      // Only spans that do not fit in cache (on smaller ones the second read is a cache hit, cheaper
      // than rounding a prefix again). On one thread only without a given word span (nearest-even,
      // or words from a RandomFill): at 2^24 there it ran 1.02-1.47x (nearest-even) and 1.11-1.26x
      // (lfsr, philox/8 words) the two passes' rate, with given words 0.89-1.16x (docs/results.md,
      // eighteenth session; the eleventh session had found it slower on one thread, 0.73x, when
      // this machine's memory ran at half today's rate).
      if (src != dst && n >= kStreamThreshold && (threads >= 2 || random == nullptr)) {
        return run_fixed_dynamic_one_read(a, format, rounding, threads);
      }
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
        auto run_blocks = [&](const LoopArgs& part) { run_blocks_span(part, block, m, rounding.random_bits); };
        if (a.fill == nullptr) return run_blocks(ga);
        // words on the fly: whole blocks of about kFillChunk words at a time (see kFillChunk)
        const int64_t step = std::max<int64_t>(1, kFillChunk / block) * block;
        words.resize(static_cast<size_t>(std::min(step, ga.n)));
        run_filled(ga, step, words, run_blocks);
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
