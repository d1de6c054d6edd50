// `rngfree bench random`: how fast each random source makes words, on one thread, 4096 words at a
// time into an L1-resident buffer (as a fused SR kernel consumes them), as ratios against the
// harvester's extraction from an L1-resident tap measured in the same run. Best of --repeats.
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "command.hpp"
#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/random/simd.hpp"

namespace rngfree::app {
namespace {

constexpr const char* kSources[] = {"harvest",       "philox",          "mt19937",    "xoshiro128pp",
                                    "xoshiro128pp:16", "xorshift32",      "xorshift32:16", "lfsr:32:1",
                                    "lfsr:32",       "lfsr:64"};

double best_seconds(int repeats, const std::function<void()>& body) {
  body();
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void run(bool json, int repeats, const std::string& simd) {
  if (repeats < 1 || repeats > 1000) throw Error(fmt::format("--repeats {}: allowed 1..1000", repeats));
  if (simd == "portable") random::set_simd_level(random::SimdLevel::kPortable);
  else if (simd == "avx2") random::set_simd_level(random::SimdLevel::kAvx2);
  else if (simd == "avx512" || simd == "best") random::set_simd_level(random::SimdLevel::kAvx512);
  else throw Error(fmt::format("--simd '{}': allowed best, avx512, avx2, portable", simd));
  constexpr size_t kChunk = 4096;
  constexpr int64_t kWords = int64_t{1} << 24;
  std::vector<uint32_t> words(kChunk);
  std::vector<float> tap(kChunk);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& x : tap) x = normal(rng);
  uint32_t sink = 0;
  struct Row {
    std::string source;
    double words_per_s;
  };
  std::vector<Row> rows;
  for (const char* name : kSources) {
    double s = 0;
    if (std::string_view(name) == "harvest") {
      const harvest::Extractor low16;
      harvest::Pairing aligned;
      aligned.kind = harvest::PairingKind::kAligned;
      s = best_seconds(repeats, [&] {
        for (int64_t i = 0; i < kWords; i += kChunk) {
          harvest::harvest_words(tap, low16, aligned, words, harvest::HarvestOptions{1});
          sink ^= words[static_cast<size_t>(i) & (kChunk - 1)];
        }
      });
    } else {
      auto g = random::make_generator(name, 1, 0);
      s = best_seconds(repeats, [&] {
        for (int64_t i = 0; i < kWords; i += kChunk) {
          g->fill(words);
          sink ^= words[static_cast<size_t>(i) & (kChunk - 1)];
        }
      });
    }
    rows.push_back({name, static_cast<double>(kWords) / s});
  }
  const double base = rows.front().words_per_s;
  if (json) {
    nlohmann::ordered_json j;
    j["simd"] = random::simd_level_name(random::simd_level());
    j["runs"] = nlohmann::ordered_json::array();
    for (const Row& r : rows) j["runs"].push_back({{"source", r.source}, {"words_per_s", r.words_per_s}});
    j["sink"] = sink;  // keeps the words observable
    fmt::print("{}\n", j.dump());
    return;
  }
  fmt::print("rngfree bench random: {} words per source, one thread, {}-word chunks, SIMD {}, best of {} (sink {:x})\n",
             kWords, kChunk, random::simd_level_name(random::simd_level()), repeats, sink);
  fmt::print("{:<18} {:>12} {:>12}\n", "source", "Gwords/s", "vs harvest");
  for (const Row& r : rows) fmt::print("{:<18} {:>12.2f} {:>12.2f}\n", r.source, r.words_per_s / 1e9, r.words_per_s / base);
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
