// `rngfree bench nist`: all 15 SP 800-22 tests on K sequences of n bits (default 100 x 10^6, issue
// 4's benchmark) from a fixed-seed SplitMix64, seconds per test; the in-run baseline is each test's
// counting kernel against its reference (bit-per-byte, spec-loop) twin on one sequence.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "rngfree/nist/bit_sequence.hpp"
#include "rngfree/nist/sp800_22.hpp"

namespace rngfree::bench {

// NIST STS 2.1.2's published figure (issue 4, -O2): 152 s for 100 sequences x 10^6 bits; not measured here.
inline constexpr double kSts212SecondsPer1e8Bits = 152.0;

// K sequences of n bits from SplitMix64 with a fixed seed.
std::vector<nist::BitSequence> nist_bench_sequences(uint64_t sequences, uint64_t n);

struct NistBenchResult {
  std::array<double, nist::kNumTests> seconds{};  // per test, in all_tests() order
  double total = 0;
};

// Runs each test alone over `sequences` on `threads` threads. Throws rngfree::Error naming the
// parameter for threads < 1, sequences < 1 or n outside 1000..2^30.
NistBenchResult bench_nist(int threads, uint64_t sequences, uint64_t n);

// Seconds of the counting kernel of test `id` on `s` — the fast kernel, or (fast = false) its
// reference twin on `e`, the same bits one per byte. 0 for FFT (no feasible reference: the naive DFT
// is O(n^2)).
double time_nist_kernel(nist::TestId id, const nist::BitSequence& s, const std::vector<uint8_t>& e, bool fast);

}  // namespace rngfree::bench
