// `rngfree bench nist` (include/rngfree/bench/nist.hpp): each test alone over all sequences, and
// each test's counting kernel against its reference twin.
#include "rngfree/bench/nist.hpp"

#include <chrono>
#include <string>

#include "rngfree/error.hpp"
#include "rngfree/nist/kernels.hpp"
#include "rngfree/nist/suite.hpp"

namespace rngfree::bench {
using namespace rngfree::nist;
namespace {

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

// The counting kernels a test spends its time in (FFT is left out of the kernel baseline).
double time_nist_kernel(TestId id, const BitSequence& s, const std::vector<uint8_t>& e, bool fast) {
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

std::vector<BitSequence> nist_bench_sequences(uint64_t sequences, uint64_t n) {
  std::vector<BitSequence> seqs;
  uint64_t state = 0x5EED5EED2024ULL;
  std::vector<uint64_t> words(n / 64 + 1);
  for (uint64_t i = 0; i < sequences; ++i) {
    for (auto& w : words) w = splitmix64(state);
    seqs.push_back(BitSequence::from_words(words, n));
  }
  return seqs;
}

NistBenchResult bench_nist(int threads, uint64_t sequences, uint64_t n) {
  if (threads < 1) throw Error("--threads = " + std::to_string(threads) + " (allowed: >= 1)");
  if (sequences < 1) throw Error("--sequences = " + std::to_string(sequences) + " (allowed: >= 1)");
  if (n < 1000 || n > (uint64_t{1} << 30)) throw Error("-n = " + std::to_string(n) + " (allowed: 1000..2^30)");
  const std::vector<BitSequence> seqs = nist_bench_sequences(sequences, n);
  NistBenchResult result;
  for (size_t t = 0; t < all_tests().size(); ++t) {
    SuiteOptions opt;
    opt.tests = {all_tests()[t]};
    opt.threads = threads;
    const auto t0 = std::chrono::steady_clock::now();
    run_suite(seqs, opt);
    result.seconds[t] = seconds_since(t0);
    result.total += result.seconds[t];
  }
  return result;
}

}  // namespace rngfree::bench
