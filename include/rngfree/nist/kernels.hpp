// The counting kernels behind the SP 800-22 tests, in two versions with the same results: fast
// (word-level: popcount, 64-bit runs, bitwise Gaussian elimination, one-pass window histograms,
// word-packed Berlekamp-Massey, byte tables for random walks) and reference (one bit per byte,
// written as the spec's steps read; it is the specification the fast kernels are tested against).
// Every kernel returns exact integer counts, so the two versions must agree exactly.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "rngfree/nist/bit_sequence.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::nist::kernels {

// Partial sums S_k = sum_{i<k} (2 e_i - 1), k = 0..n (S_0 = 0): final value, max and min.
struct WalkExtremes {
  int64_t final_sum = 0, max_sum = 0, min_sum = 0;
  bool operator==(const WalkExtremes&) const = default;
};

// Random excursions (2.14, 2.15): cycles J (zero crossings, plus a final unfinished cycle), the
// number of zeros of S_1..S_n, nu[k][i] = cycles visiting state x_i = -4..-1,1..4 exactly k times
// (k = 5: five or more), and visits[j] = total visits to state -9..-1,1..9.
struct Excursions {
  uint64_t cycles = 0, zeros = 0;
  std::array<std::array<uint64_t, 8>, 6> nu{};
  std::array<uint64_t, 18> visits{};
  bool operator==(const Excursions&) const = default;
};

// Aperiodic (bifix-free) binary words of length m in ascending order, as STS's templates/templateM.
std::vector<uint32_t> aperiodic_templates(int m);
bool is_aperiodic(uint32_t pattern, int m);

// Fast kernels on the packed sequence.
WalkExtremes walk_extremes(const BitSequence& s);
uint64_t transitions(const BitSequence& s);  // #{k < n-1 : e_k != e_{k+1}}
std::vector<uint32_t> block_ones(const BitSequence& s, uint64_t block_length);
std::vector<uint32_t> longest_runs(const BitSequence& s, uint64_t block_length);  // longest run of ones per block
// Rank over GF(2) of each rows x cols matrix (cols <= 64) filled row by row from consecutive bits.
std::vector<int> ranks(const BitSequence& s, int rows, int cols);
// counts[t][i]: non-overlapping occurrences (after a match the scan jumps m bits) of templates[t]
// (m bits, first bit most significant) in the m-bit windows starting at 0..M-m of block i.
std::vector<std::vector<uint32_t>> template_counts(const BitSequence& s, std::span<const uint32_t> templates, int m,
                                                   uint64_t block_length, uint64_t blocks);
// Overlapping occurrences of `pattern` in each block.
std::vector<uint32_t> overlapping_counts(const BitSequence& s, uint32_t pattern, int m, uint64_t block_length,
                                         uint64_t blocks);
// counts[v]: m-bit windows (cyclic: the sequence wraps around) starting at 0..n-1 with value v.
std::vector<uint32_t> cyclic_window_counts(const BitSequence& s, int m);
// Counts of the (m-1)-bit prefixes: exact for cyclic counts, each start position has one window.
std::vector<uint32_t> marginalize_prefix(std::span<const uint32_t> counts);
Excursions excursions(const BitSequence& s);
// Dispatched at run time on the library's SIMD level (rngfree/simd.hpp); `level` forces one (for
// tests; one the CPU does not support fails a check).
std::vector<int> linear_complexities(const BitSequence& s, uint64_t block_length, uint64_t blocks,
                                     std::optional<SimdLevel> level = std::nullopt);
// Maurer: sum over blocks i = Q+1..Q+K of log2(i - last occurrence), STS's order of summation.
double universal_log_sum(const BitSequence& s, int L, uint64_t Q, uint64_t K);
// Number of DFT magnitudes |S_j|, j = 0..n/2-1, below `threshold` (FFTW; plans cached per size).
uint64_t dft_count_below(const BitSequence& s, double threshold);

namespace reference {
// The same counts, one bit per byte, straight from the spec text.
WalkExtremes walk_extremes(std::span<const uint8_t> e);
uint64_t transitions(std::span<const uint8_t> e);
std::vector<uint32_t> block_ones(std::span<const uint8_t> e, uint64_t block_length);
std::vector<uint32_t> longest_runs(std::span<const uint8_t> e, uint64_t block_length);
std::vector<int> ranks(std::span<const uint8_t> e, int rows, int cols);
std::vector<std::vector<uint32_t>> template_counts(std::span<const uint8_t> e, std::span<const uint32_t> templates,
                                                   int m, uint64_t block_length, uint64_t blocks);
std::vector<uint32_t> overlapping_counts(std::span<const uint8_t> e, uint32_t pattern, int m, uint64_t block_length,
                                         uint64_t blocks);
std::vector<uint32_t> cyclic_window_counts(std::span<const uint8_t> e, int m);
Excursions excursions(std::span<const uint8_t> e);
int linear_complexity(std::span<const uint8_t> block);
std::vector<int> linear_complexities(std::span<const uint8_t> e, uint64_t block_length, uint64_t blocks);
double universal_log_sum(std::span<const uint8_t> e, int L, uint64_t Q, uint64_t K);
// Naive O(n^2) DFT (long double), for checking the FFTW path on short inputs.
uint64_t dft_count_below(std::span<const uint8_t> e, double threshold);
}  // namespace reference

}  // namespace rngfree::nist::kernels
