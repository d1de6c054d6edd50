// `rngfree bench random`: how fast each random source makes words, on one thread, 4096 words at a
// time into an L1-resident buffer (as a fused SR kernel consumes them), against the harvester's
// extraction from an L1-resident tap measured in the same run (the first row).
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace rngfree::bench {

// "harvest" first (the baseline), then generator specs (random::make_generator).
std::span<const char* const> random_bench_sources();
inline constexpr int64_t kRandomBenchChunk = 4096;

struct RandomBenchRow {
  std::string source;
  double words_per_s = 0;
};

struct RandomBenchResult {
  int64_t words = 0;  // per source
  std::vector<RandomBenchRow> rows;
  uint32_t sink = 0;  // XOR of sampled words: keeps them observable
};

// Times every source at the current SIMD level (rngfree/simd.hpp). Throws rngfree::Error for
// repeats outside 1..1000.
RandomBenchResult bench_random(int repeats);

// A filler for source `name` of random_bench_sources(): each call fills `words` with the next words
// (a generator made once, seed 1), or for the harvester extracts them from `tap` (bits 0-15, aligned,
// one thread; `tap` must outlive the filler and have at least as many elements as `words`).
std::function<void(std::span<uint32_t> words)> random_bench_filler(const std::string& name, std::span<const float> tap);

}  // namespace rngfree::bench
