// `rngfree bench quantize` (issue 2 "Speed"): throughput of the quantize kernels on 2^k FP32 values
// on all threads, against a plain parallel copy measured in the same run, for bf16, e4m3 and
// fixed:8:dyn with nearest-even and with stochastic:16 fed by every random source below.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "rngfree/quantize.hpp"

namespace rngfree::bench {

// A source of random words for the stochastic runs.
struct QuantizeBenchSource {
  std::string name;
  // true: `fill` fills the whole word buffer once before timing and the kernel reads it (the words
  // are "given"); false: the words are produced on the fly inside the timed region, chunk by chunk,
  // by quantize_with_source calling `fill` (thread-safe, words depending only on the index).
  bool prefilled = true;
  RandomFill fill;
  // Set: the timed region is materialize(words) for the whole tensor, then quantize() reading them
  // (a word tensor written and read back); `fill` is unused.
  std::function<void(std::span<uint32_t>)> materialize = {};
  // Set: each timed call rounds with the words of a fresh take() of one generator — one stream, its
  // words by index, any thread anywhere in it: what a training site's E, G or U pays
  // (RandomSource::take); `fill` is unused.
  std::function<RandomFill()> take = {};
  // Random bits per word (a packed generator GEN/R has R): timed only for stochastic:R' with R' <= it.
  int random_bits = 32;
};

// Every source timed with stochastic rounding, for the tensor `in` being quantized (which the
// `self` taps read; it must outlive the sources). src/bench/quantize.cpp says what each one does.
std::vector<QuantizeBenchSource> quantize_bench_sources(std::span<const float> in);

// (format, rounding) pairs of the benchmark.
struct QuantizeBenchCase {
  const char* format;
  const char* rounding;
  bool every_source = true;  // false: only the short list of sources (src/bench/quantize.cpp)
};
std::span<const QuantizeBenchCase> quantize_bench_cases();

// 2^log2_elements normal (unit variance, fixed seed) activation-like values.
std::vector<float> quantize_bench_input(int log2_elements);

struct QuantizeBenchRun {
  std::string format, rounding, source;  // source "none" for a deterministic rounding
  double elems_per_s = 0;
  double vs_nearest_even = 0;  // 0 for nearest-even runs
};

struct QuantizeBenchResult {
  int64_t elements = 0;
  double copy_elems_per_s = 0;  // the baseline: a parallel memcpy of the same values
  // A parallel copy with non-temporal stores (x86 SSE2; elsewhere memcpy again): the output is not
  // read for ownership, as in the kernels' out-of-place path at >= 2^22 values, so this is the
  // memory's ceiling for a read-one-write-one pass, which memcpy's ordinary stores stay below.
  double copy_non_temporal_elems_per_s = 0;
  std::vector<QuantizeBenchRun> runs;
};

// Restricts a run to some formats and sources (empty: all of them). A stochastic case keeps its
// format's nearest-even run, the denominator of vs_nearest_even.
struct QuantizeBenchFilter {
  std::vector<std::string> formats;  // names as in quantize_bench_cases()
  std::vector<std::string> sources;  // names as in quantize_bench_sources()
};

// Throws rngfree::Error naming the parameter for repeats outside 1..1000, log2_elements outside
// 10..28, or a filter's name that no case or source has (the message lists the allowed ones).
QuantizeBenchResult bench_quantize(int repeats, int log2_elements, const QuantizeBenchFilter& filter = {});

}  // namespace rngfree::bench
