// Micro-benchmarks of the SP 800-22 counting kernels on 2^20 bits, each beside its reference
// (bit-per-byte, spec-loop) twin in the same run: the ratio is the kernel's speed-up.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "ratio_reporter.hpp"
#include "rngfree/bench/nist.hpp"

namespace {

constexpr uint64_t kBits = uint64_t{1} << 20;

void register_all() {
  static const rngfree::nist::BitSequence s = rngfree::bench::nist_bench_sequences(1, kBits)[0];
  static const std::vector<uint8_t> e = [] {
    std::vector<uint8_t> bits(kBits);
    for (uint64_t i = 0; i < kBits; ++i) bits[i] = static_cast<uint8_t>(s.bit(i));
    return bits;
  }();
  for (rngfree::nist::TestId id : rngfree::nist::all_tests()) {
    if (id == rngfree::nist::TestId::kFft) continue;  // FFTW's; no reference kernel
    for (bool fast : {true, false}) {
      const std::string name = "kernel/" + std::string(rngfree::nist::test_name(id)) + (fast ? "/fast" : "/reference");
      benchmark::RegisterBenchmark(name.c_str(), [id, fast](benchmark::State& state) {
        for (auto _ : state) benchmark::DoNotOptimize(rngfree::bench::time_nist_kernel(id, s, e, fast));
        state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kBits));
      })->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  register_all();
  return rngfree::bench::run_benchmarks(argc, argv, [](const std::string& name) {
    const auto slash = name.rfind('/');
    return name.substr(slash) == "/reference" ? std::string() : name.substr(0, slash) + "/reference";
  });
}
