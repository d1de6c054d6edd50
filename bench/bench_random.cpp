// Micro-benchmarks of the generators' fill loops and the harvester's extraction: one thread, 4096
// words at a time into an L1-resident buffer, at every SIMD level this CPU supports. Baseline: the
// harvester's extraction at the same level, in the same run.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "ratio_reporter.hpp"
#include "rngfree/bench/random.hpp"
#include "rngfree/simd.hpp"

namespace {

void register_all() {
  const int best = static_cast<int>(rngfree::simd_level_supported());
  for (int level = 0; level <= best; ++level) {
    const auto simd = static_cast<rngfree::SimdLevel>(level);
    for (const char* name : rngfree::bench::random_bench_sources()) {
      const std::string label = "fill/" + rngfree::simd_level_name(simd) + "/" + name;
      benchmark::RegisterBenchmark(label.c_str(), [simd, name](benchmark::State& state) {
        rngfree::set_simd_level(simd);
        std::vector<uint32_t> words(rngfree::bench::kRandomBenchChunk);
        std::vector<float> tap(words.size());
        std::mt19937_64 rng(1);
        std::normal_distribution<float> normal(0.0f, 1.0f);
        for (auto& x : tap) x = normal(rng);
        const auto fill = rngfree::bench::random_bench_filler(name, tap);
        for (auto _ : state) {
          fill(words);
          benchmark::DoNotOptimize(words.data());
        }
        state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(words.size()));
        rngfree::set_simd_level(rngfree::simd_level_supported());
      });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  return rngfree::bench::run_benchmarks(argc, argv, [](const std::string& name) {
    const std::string prefix = name.substr(0, name.rfind('/') + 1);  // "fill/LEVEL/"
    return name == prefix + "harvest" ? std::string() : prefix + "harvest";
  });
}
