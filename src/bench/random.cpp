// `rngfree bench random` (include/rngfree/bench/random.hpp): each source fills the same
// L1-resident chunk over and over; the best of `repeats` runs counts.
#include "rngfree/bench/random.hpp"

#include <memory>
#include <random>

#include "rngfree/bench/timing.hpp"
#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::bench {
namespace {

constexpr const char* kSources[] = {"harvest",         "philox",     "mt19937",       "xoshiro128pp",
                                    "xoshiro128pp:16", "xorshift32", "xorshift32:16", "lfsr:32:1",
                                    "lfsr:32",         "lfsr:64"};
constexpr int64_t kWords = int64_t{1} << 24;

}  // namespace

std::span<const char* const> random_bench_sources() { return kSources; }

std::function<void(std::span<uint32_t>)> random_bench_filler(const std::string& name, std::span<const float> tap) {
  if (name == "harvest") {
    harvest::Pairing aligned;
    aligned.kind = harvest::PairingKind::kAligned;
    const harvest::Extractor low16;  // bits 0-15, no whitening, zeros kept
    return [tap, aligned, low16](std::span<uint32_t> words) {
      harvest::harvest_words(tap.first(words.size()), low16, aligned, words, harvest::HarvestOptions{1});
    };
  }
  std::shared_ptr<random::RandomSource> g = random::make_generator(name, 1, 0);
  return [g](std::span<uint32_t> words) { g->fill(words); };
}

RandomBenchResult bench_random(int repeats) {
  if (repeats < 1 || repeats > 1000) throw Error("--repeats " + std::to_string(repeats) + ": allowed 1..1000");
  std::vector<uint32_t> words(kRandomBenchChunk);
  std::vector<float> tap(kRandomBenchChunk);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& x : tap) x = normal(rng);
  RandomBenchResult result;
  result.words = kWords;
  for (const char* name : kSources) {
    const auto fill = random_bench_filler(name, tap);
    const double s = best_seconds(repeats, [&] {
      for (int64_t i = 0; i < kWords; i += kRandomBenchChunk) {
        fill(words);
        result.sink ^= words[0];
      }
    });
    result.rows.push_back({name, static_cast<double>(kWords) / s});
  }
  return result;
}

}  // namespace rngfree::bench
