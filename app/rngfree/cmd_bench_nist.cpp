// `rngfree bench nist`: all 15 SP 800-22 tests on K sequences of n bits (default 100 x 10^6, issue 4's
// benchmark) from a fixed-seed SplitMix64, seconds per test and in total. Baselines: the reference
// (bit-per-byte, spec-loop) kernels timed in the same run on one sequence, and NIST STS 2.1.2's
// published 152 s for 100 x 10^6 bits at -O2 (issue 4's figure; not measured here).
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "command.hpp"
#include "rngfree/error.hpp"
#include "rngfree/nist/kernels.hpp"
#include "rngfree/nist/suite.hpp"

namespace rngfree::app {
namespace {
using namespace rngfree::nist;

constexpr double kSts212SecondsPer1e8Bits = 152.0;  // issue 4: STS 2.1.2 at -O2, 100 sequences x 10^6 bits

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The counting kernels a test spends its time in, fast or reference, on one sequence (FFT: none
// feasible in reference form — the naive DFT is O(n^2) — so it is left out of the kernel baseline).
double time_kernels(TestId id, const BitSequence& s, const std::vector<uint8_t>& e, bool fast) {
  namespace k = rngfree::nist::kernels;
  namespace r = rngfree::nist::kernels::reference;
  const auto t0 = std::chrono::steady_clock::now();
  volatile uint64_t sink = 0;
  const uint64_t n = s.size();
  switch (id) {
    case TestId::kFrequency: sink = fast ? s.count_ones() : r::block_ones(e, n)[0]; break;
    case TestId::kBlockFrequency: sink = fast ? k::block_ones(s, 128).size() : r::block_ones(e, 128).size(); break;
    case TestId::kCumulativeSums: sink = fast ? k::walk_extremes(s).max_sum : r::walk_extremes(e).max_sum; break;
    case TestId::kRuns: sink = fast ? k::transitions(s) : r::transitions(e); break;
    case TestId::kLongestRun: sink = fast ? k::longest_runs(s, 10000)[0] : r::longest_runs(e, 10000)[0]; break;
    case TestId::kRank: sink = fast ? k::ranks(s, 32, 32)[0] : r::ranks(e, 32, 32)[0]; break;
    case TestId::kFft: return 0;
    case TestId::kNonOverlappingTemplate: {
      const auto t = k::aperiodic_templates(9);
      sink = fast ? k::template_counts(s, t, 9, n / 8, 8)[0][0] : r::template_counts(e, t, 9, n / 8, 8)[0][0];
      break;
    }
    case TestId::kOverlappingTemplate:
      sink = fast ? k::overlapping_counts(s, 511, 9, 1032, n / 1032)[0] : r::overlapping_counts(e, 511, 9, 1032, n / 1032)[0];
      break;
    case TestId::kUniversal: {
      const uint64_t K = n / 7 - 1280;
      sink = static_cast<uint64_t>(fast ? k::universal_log_sum(s, 7, 1280, K) : r::universal_log_sum(e, 7, 1280, K));
      break;
    }
    case TestId::kApproximateEntropy: sink = fast ? k::cyclic_window_counts(s, 11)[0] : r::cyclic_window_counts(e, 11)[0]; break;
    case TestId::kRandomExcursions:
    case TestId::kRandomExcursionsVariant: sink = fast ? k::excursions(s).cycles : r::excursions(e).cycles; break;
    case TestId::kSerial: sink = fast ? k::cyclic_window_counts(s, 16)[0] : r::cyclic_window_counts(e, 16)[0]; break;
    case TestId::kLinearComplexity: sink = fast ? k::linear_complexities(s, 500, n / 500)[0] : r::linear_complexities(e, 500, n / 500)[0]; break;
  }
  (void)sink;
  return seconds_since(t0);
}

void run(bool json, int threads, uint64_t sequences, uint64_t n) {
  if (threads < 1) throw Error("--threads = " + std::to_string(threads) + " (allowed: >= 1)");
  if (sequences < 1) throw Error("--sequences = " + std::to_string(sequences) + " (allowed: >= 1)");
  if (n < 1000 || n > (uint64_t{1} << 30)) throw Error("-n = " + std::to_string(n) + " (allowed: 1000..2^30)");
  std::vector<BitSequence> seqs;
  uint64_t state = 0x5EED5EED2024ULL;
  std::vector<uint64_t> words(n / 64 + 1);
  for (uint64_t i = 0; i < sequences; ++i) {
    for (auto& w : words) w = splitmix64(state);
    seqs.push_back(BitSequence::from_words(words, n));
  }
  std::map<TestId, double> secs;
  double total = 0;
  for (TestId id : all_tests()) {
    SuiteOptions opt;
    opt.tests = {id};
    opt.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    const auto results = run_suite(seqs, opt);
    secs[id] = seconds_since(t0);
    total += secs[id];
  }
  if (json) {
    nlohmann::ordered_json j;
    j["n"] = n;
    j["sequences"] = sequences;
    j["threads"] = threads;
    j["total_s"] = total;
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    for (TestId id : all_tests()) t[std::string(test_name(id))] = secs[id];
    j["tests"] = t;
    fmt::print("{}\n", j.dump());
    return;
  }
  // In-run baseline: reference kernels vs fast kernels on the first sequence, one thread.
  std::vector<uint8_t> e(n);
  for (uint64_t i = 0; i < n; ++i) e[i] = static_cast<uint8_t>(seqs[0].bit(i));
  fmt::print("SP 800-22, all 15 tests: {} sequences x {} bits (SplitMix64, fixed seed), {} thread(s)\n", sequences, n, threads);
  fmt::print("{:<26} {:>10} {:>7} {:>24}\n", "test", "seconds", "share", "kernel vs reference");
  for (TestId id : all_tests()) {
    // Best of 3 (the machine may be shared; the best run is the least disturbed).
    double fast = 1e300, ref = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      fast = std::min(fast, time_kernels(id, seqs[0], e, true));
      ref = std::min(ref, time_kernels(id, seqs[0], e, false));
    }
    const std::string ratio = id == TestId::kFft ? "n/a (FFTW)" : fmt::format("{:.1f}x", ref / std::max(fast, 1e-9));
    fmt::print("{:<26} {:>10.4f} {:>6.1f}% {:>24}\n", test_name(id), secs[id], 100 * secs[id] / total, ratio);
  }
  const double sts = kSts212SecondsPer1e8Bits * static_cast<double>(sequences) * static_cast<double>(n) / 1e8;
  fmt::print("{:<26} {:>10.4f}\n", "total", total);
  fmt::print("(kernel vs reference: the test's counting kernel against its bit-per-byte reference twin on the first "
             "sequence, best of 3, same run)\n");
  fmt::print("STS 2.1.2 reference figure (issue 4, -O2, not measured here): {:.1f} s for this input -> speed-up {:.1f}x\n",
             sts, sts / total);
}

const RegisterCommand kBenchNist("bench", "nist", [](CLI::App& bench) {
  auto* cmd = bench.add_subcommand("nist", "Time all 15 SP 800-22 tests on 100 x 10^6 random bits; seconds per test");
  static bool json = false;
  static int threads = 1;
  static uint64_t sequences = 100;
  static uint64_t n = 1000000;
  cmd->add_flag("--json", json, "Print {\"n\", \"sequences\", \"threads\", \"total_s\", \"tests\": {...}} only");
  add_integer_flag(cmd, "--threads", threads, "Worker threads (sequences run in parallel)", IntRange<int>{1, 1024});
  add_integer_flag(cmd, "--sequences", sequences, "Number of sequences K", IntRange<uint64_t>{1, 100000});
  add_integer_flag(cmd, "-n,--bits", n, "Bits per sequence", IntRange<uint64_t>{1000, uint64_t{1} << 30});
  cmd->callback([] { run(json, threads, sequences, n); });
});

}  // namespace
}  // namespace rngfree::app
