// `rngfree bench random`: how fast each random source makes words, on one thread, 4096 words at a
// time into an L1-resident buffer (as a fused SR kernel consumes them), as ratios against the
// harvester's extraction from an L1-resident tap measured in the same run (rngfree::bench::bench_random).
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <string>

#include "command.hpp"
#include "rngfree/bench/random.hpp"
#include "rngfree/error.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::app {
namespace {

void run(bool json, int repeats, const std::string& simd) {
  if (simd == "best") {
    set_simd_level(SimdLevel::kAvx512);  // clamped to this CPU
  } else {
    try {
      set_simd_level(parse_simd_level(simd));
    } catch (const Error&) {
      throw Error(fmt::format("--simd '{}': allowed best, avx512, avx2, portable", simd));
    }
  }
  const bench::RandomBenchResult r = bench::bench_random(repeats);
  const double base = r.rows.front().words_per_s;
  if (json) {
    nlohmann::ordered_json j;
    j["simd"] = simd_level_name(simd_level());
    j["runs"] = nlohmann::ordered_json::array();
    for (const auto& row : r.rows) j["runs"].push_back({{"source", row.source}, {"words_per_s", row.words_per_s}});
    j["sink"] = r.sink;  // keeps the words observable
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("rngfree bench random: {} words per source, one thread, {}-word chunks, SIMD {}, best of {} (sink {:x})\n",
             r.words, bench::kRandomBenchChunk, simd_level_name(simd_level()), repeats, r.sink);
  fmt::print("{:<18} {:>12} {:>12}\n", "source", "Gwords/s", "vs harvest");
  for (const auto& row : r.rows) {
    fmt::print("{:<18} {:>12.2f} {:>12.2f}\n", row.source, row.words_per_s / 1e9, row.words_per_s / base);
  }
}

const RegisterCommand kBenchRandom("bench", "random", [](CLI::App& bench) {
  auto* cmd = bench.add_subcommand("random", "Word throughput of each generator vs the harvester (one thread, L1-resident chunks)");
  auto json = std::make_shared<bool>(false);
  auto repeats = std::make_shared<int>(5);
  auto simd = std::make_shared<std::string>("best");
  cmd->add_flag("--json", *json, "print {\"simd\": ..., \"runs\": [{\"source\": S, \"words_per_s\": X}, ...]}");
  add_integer_flag(cmd, "--repeats", *repeats, "timed repetitions per source, the best is kept", IntRange<int>{1, 1000});
  cmd->add_option("--simd", *simd, "kernel level: best, avx512, avx2, portable (clamped to this CPU)")->capture_default_str();
  cmd->callback([=] { run(*json, *repeats, *simd); });
});

}  // namespace
}  // namespace rngfree::app
