// `rngfree bench quantize`: throughput of the quantize kernels on 2^24 FP32 values on all threads
// (or --threads N),
// as ratios against a plain parallel copy measured in the same run (issue 2 "Speed"); the loops are
// rngfree::bench::bench_quantize. Parses, calls, prints.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <string>

#include "command.hpp"
#include "rngfree/bench/quantize.hpp"
#include "rngfree/error.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::app {
namespace {

void run(bool json, int repeats, int log2_elements, const std::string& target, int threads,
         const bench::QuantizeBenchFilter& filter) {
  if (threads > 0) omp_set_num_threads(threads);  // the kernels, the copy and the generator banks
  if (!target.empty()) {
    SimdLevel level = SimdLevel::kPortable;
    try {
      level = parse_simd_level(target);
    } catch (const Error&) {
      throw Error("--target '" + target + "': unknown; allowed: avx512, avx2, portable");
    }
    if (set_simd_level(level) != level) throw Error("--target '" + target + "': this CPU does not support it");
  }
  const bench::QuantizeBenchResult r = bench::bench_quantize(repeats, log2_elements, filter);
  if (json) {
    nlohmann::ordered_json j;
    j["elements"] = r.elements;
    j["threads"] = omp_get_max_threads();
    j["target"] = simd_level_name(simd_level());
    j["memcpy"]["elems_per_s"] = r.copy_elems_per_s;
    j["copy_non_temporal"]["elems_per_s"] = r.copy_non_temporal_elems_per_s;
    j["runs"] = nlohmann::ordered_json::array();
    for (const auto& run : r.runs) {
      j["runs"].push_back({{"format", run.format}, {"rounding", run.rounding}, {"source", run.source},
                           {"elems_per_s", run.elems_per_s}, {"vs_memcpy", run.elems_per_s / r.copy_elems_per_s},
                           {"vs_nearest_even", run.vs_nearest_even}});
    }
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("rngfree bench quantize: {} FP32 values (2^{}), {} threads, kernel target {}, best of {} runs\n", r.elements,
             log2_elements, omp_get_max_threads(), simd_level_name(simd_level()), repeats);
  fmt::print("{:<14} {:<15} {:<20} {:>10} {:>10} {:>16}\n", "format", "rounding", "source", "Melem/s", "vs memcpy",
             "vs nearest-even");
  fmt::print("{:<14} {:<15} {:<20} {:>10.1f} {:>10.2f} {:>16}\n", "(memcpy)", "-", "-", r.copy_elems_per_s / 1e6, 1.0, "-");
  fmt::print("{:<14} {:<15} {:<20} {:>10.1f} {:>10.2f} {:>16}\n", "(copy, NT)", "-", "non-temporal",
             r.copy_non_temporal_elems_per_s / 1e6, r.copy_non_temporal_elems_per_s / r.copy_elems_per_s, "-");
  for (const auto& run : r.runs) {
    fmt::print("{:<14} {:<15} {:<20} {:>10.1f} {:>10.2f} {:>16}\n", run.format, run.rounding, run.source,
               run.elems_per_s / 1e6, run.elems_per_s / r.copy_elems_per_s,
               run.vs_nearest_even > 0 ? fmt::format("{:.2f}", run.vs_nearest_even) : "-");
  }
}

const RegisterCommand kBenchQuantize("bench", "quantize", [](CLI::App& bench) {
  auto* cmd = bench.add_subcommand("quantize",
                                   "Quantize throughput (bf16, fp16, tf32, e4m3, e5m2, fixed:8:4, fixed:8:dyn, bfp:7:32; nearest-even, stochastic:16 and the presets' stochastic:8) vs a plain copy");
  auto json = std::make_shared<bool>(false);
  auto repeats = std::make_shared<int>(7);
  auto log2_elements = std::make_shared<int>(24);
  cmd->add_flag("--json", *json,
                "print {\"memcpy\": {...}, \"copy_non_temporal\": {...}, \"runs\": [...]} instead of a table");
  add_integer_flag(cmd, "--repeats", *repeats, "timed repetitions per run, the best is kept", IntRange<int>{1, 1000});
  add_integer_flag(cmd, "--log2-elements", *log2_elements, "log2 of the number of values", IntRange<int>{10, 28});
  auto threads = std::make_shared<int>(0);
  add_integer_flag(cmd, "--threads", *threads, "OpenMP threads (default: all, OMP_NUM_THREADS)", IntRange<int>{1, 1024});
  auto target = std::make_shared<std::string>();
  cmd->add_option("--target", *target, "kernel target: avx512, avx2 or portable (default: the best this CPU supports)");
  auto filter = std::make_shared<bench::QuantizeBenchFilter>();
  cmd->add_option("--format", filter->formats, "only these formats (repeat the option; default: all)");
  cmd->add_option("--source", filter->sources,
                  "only these random sources for stochastic rounding, e.g. given, philox, lfsr:32 (repeat the option; default: all)");
  cmd->callback([=] { run(*json, *repeats, *log2_elements, *target, *threads, *filter); });
});

}  // namespace
}  // namespace rngfree::app
