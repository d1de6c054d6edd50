// Test inputs shared by the harvest tests: seeded normal tensors and bit-for-bit comparison.
#pragma once
#include <bit>
#include <cstdint>
#include <random>
#include <vector>

namespace rngfree::testing {

inline std::vector<float> normal_tensor(size_t n, uint64_t seed, float sigma) {
  std::mt19937_64 g(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> x(n);
  for (auto& v : x) v = d(g);
  return x;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i])) return false;
  }
  return true;
}

}  // namespace rngfree::testing
