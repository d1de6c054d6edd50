// Micro-benchmarks of the quantize kernels' inner loops: one thread, 2^16 values (L2-resident),
// every format family with deterministic and stochastic rounding (words given), and stochastic:16
// with the words made on the fly by every source of `rngfree bench quantize` — generators and the
// harvester's fused path included. Baseline: a memcpy of the same values in the same run.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ratio_reporter.hpp"
#include "rngfree/bench/quantize.hpp"
#include "rngfree/quantize.hpp"

namespace {

constexpr int kLog2 = 16;
constexpr int64_t kN = int64_t{1} << kLog2;
constexpr const char* kFormats[] = {"bf16", "fp16", "e4m3", "e5m2", "float:4:3:ieee", "fixed:8:4", "fixed:8:dyn", "bfp:8:16"};
constexpr const char* kRoundings[] = {"nearest-even", "nearest-away", "toward-zero", "down", "stochastic:8", "stochastic:16"};
const std::string kBaseline = "memcpy";

const std::vector<float>& input() {
  static const std::vector<float> in = rngfree::bench::quantize_bench_input(kLog2);
  return in;
}

void register_all() {
  benchmark::RegisterBenchmark(kBaseline.c_str(), [](benchmark::State& state) {
    std::vector<float> out(kN);
    for (auto _ : state) {
      std::memcpy(out.data(), input().data(), sizeof(float) * kN);
      benchmark::DoNotOptimize(out.data());
    }
    state.SetItemsProcessed(state.iterations() * kN);
  });
  for (const char* f : kFormats) {
    for (const char* r : kRoundings) {
      benchmark::RegisterBenchmark(("quantize/" + std::string(f) + "/" + r).c_str(), [f, r](benchmark::State& state) {
        const rngfree::Format format = rngfree::Format::parse(f);
        const rngfree::Rounding rounding = rngfree::Rounding::parse(r);
        std::vector<float> out(kN);
        std::vector<uint32_t> words(kN);
        std::mt19937 rng(7);
        for (auto& w : words) w = rng();
        for (auto _ : state) {
          rngfree::quantize(input(), out, format, rounding, words, rngfree::QuantizeOptions{1});
          benchmark::DoNotOptimize(out.data());
        }
        state.SetItemsProcessed(state.iterations() * kN);
      });
    }
  }
  // The sources keep pointers into input(): it lives for the whole program.
  static const std::vector<rngfree::bench::QuantizeBenchSource> sources = rngfree::bench::quantize_bench_sources(input());
  for (const auto& src : sources) {
    if (src.prefilled || src.materialize) continue;  // "given" is above; materialized runs on all threads only
    benchmark::RegisterBenchmark(("quantize-fused/bf16/stochastic:16/" + src.name).c_str(),
                                 [&src](benchmark::State& state) {
                                   const rngfree::Format format = rngfree::Format::parse("bf16");
                                   const rngfree::Rounding rounding = rngfree::Rounding::parse("stochastic:16");
                                   std::vector<float> out(kN);
                                   for (auto _ : state) {
                                     rngfree::quantize_with_source(input(), out, format, rounding, src.fill,
                                                                   rngfree::QuantizeOptions{1});
                                     benchmark::DoNotOptimize(out.data());
                                   }
                                   state.SetItemsProcessed(state.iterations() * kN);
                                 });
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  return rngfree::bench::run_benchmarks(argc, argv, [](const std::string& name) {
    return name == kBaseline ? std::string() : kBaseline;
  });
}
