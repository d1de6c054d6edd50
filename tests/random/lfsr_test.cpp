// lfsr:W is maximal length for every W = 3..64: the orbit of state 1 has period exactly 2^W - 1.
// Checked exhaustively (stepping the whole cycle) for W <= 20 and, for every W, algebraically:
// v·A^(2^W-1) = v and v·A^((2^W-1)/q) != v for each prime q | 2^W-1, the primes found here by
// Pollard's rho and Miller-Rabin (independent of the code under test).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <numeric>
#include <vector>

#include "rngfree/random/random_source.hpp"

namespace rngfree::random {
namespace {

__extension__ using u128 = unsigned __int128;

uint64_t mulmod(uint64_t a, uint64_t b, uint64_t m) { return static_cast<uint64_t>(static_cast<u128>(a) * b % m); }
uint64_t powmod(uint64_t a, uint64_t e, uint64_t m) {
  uint64_t r = 1 % m;
  for (a %= m; e; e >>= 1, a = mulmod(a, a, m)) {
    if (e & 1) r = mulmod(r, a, m);
  }
  return r;
}
bool is_prime(uint64_t n) {  // deterministic Miller-Rabin for 64-bit n
  if (n < 2) return false;
  for (uint64_t p : {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37}) {
    if (n % p == 0) return n == p;
  }
  uint64_t d = n - 1;
  int s = 0;
  while ((d & 1) == 0) d >>= 1, ++s;
  for (uint64_t a : {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37}) {
    uint64_t x = powmod(a, d, n);
    if (x == 1 || x == n - 1) continue;
    bool composite = true;
    for (int r = 1; r < s && composite; ++r) {
      x = mulmod(x, x, n);
      if (x == n - 1) composite = false;
    }
    if (composite) return false;
  }
  return true;
}
uint64_t rho(uint64_t n) {
  if (n % 2 == 0) return 2;
  for (uint64_t c = 1;; ++c) {
    uint64_t x = 2, y = 2, d = 1;
    while (d == 1) {
      x = (mulmod(x, x, n) + c) % n;
      y = (mulmod(y, y, n) + c) % n;
      y = (mulmod(y, y, n) + c) % n;
      d = std::gcd(x > y ? x - y : y - x, n);
    }
    if (d != n) return d;
  }
}
void factor(uint64_t n, std::vector<uint64_t>& primes) {
  if (n == 1) return;
  if (is_prime(n)) {
    primes.push_back(n);
    return;
  }
  const uint64_t d = rho(n);
  factor(d, primes);
  factor(n / d, primes);
}

// The LFSR step as a GF(2)-linear map, column j = image of basis vector e_j.
using Matrix = std::array<uint64_t, 64>;
uint64_t apply(const Matrix& m, uint64_t v, int w) {
  uint64_t r = 0;
  for (int j = 0; j < w; ++j) {
    if ((v >> j) & 1) r ^= m[static_cast<size_t>(j)];
  }
  return r;
}
uint64_t power_apply(uint64_t v, uint64_t e, uint64_t mask, int w) {
  Matrix m{};
  for (int j = 0; j < w; ++j) m[static_cast<size_t>(j)] = lfsr_step(uint64_t{1} << j, mask);
  while (e) {
    if (e & 1) v = apply(m, v, w);
    Matrix sq{};
    for (int j = 0; j < w; ++j) sq[static_cast<size_t>(j)] = apply(m, m[static_cast<size_t>(j)], w);
    m = sq;
    e >>= 1;
  }
  return v;
}

TEST(Lfsr, PeriodIsExhaustively2PowWMinus1ForWUpTo20) {
  for (int w = 3; w <= 20; ++w) {
    const uint64_t mask = lfsr_galois_mask(w);
    uint64_t s = 1, steps = 0;
    do {
      s = lfsr_step(s, mask);
      ++steps;
      ASSERT_LT(s >> w, 1u) << "state left W bits";
    } while (s != 1 && steps <= (uint64_t{1} << w));
    EXPECT_EQ(steps, (uint64_t{1} << w) - 1) << "W = " << w;
  }
}

TEST(Lfsr, EveryWidthIsMaximalLengthAlgebraically) {
  for (int w = 3; w <= 64; ++w) {
    const uint64_t mask = lfsr_galois_mask(w);
    const uint64_t period = w == 64 ? ~uint64_t{0} : (uint64_t{1} << w) - 1;
    std::vector<uint64_t> primes;
    factor(period, primes);
    std::sort(primes.begin(), primes.end());
    primes.erase(std::unique(primes.begin(), primes.end()), primes.end());
    EXPECT_EQ(power_apply(1, period, mask, w), 1u) << "W = " << w;
    for (uint64_t q : primes) {
      EXPECT_NE(power_apply(1, period / q, mask, w), 1u) << "W = " << w << ", q = " << q;
    }
  }
}

TEST(Lfsr, AlgebraicCheckRejectsANonMaximalPolynomial) {
  // The check itself can fail: x^4 + x^2 + 1 = (x^2+x+1)^2 is not primitive (taps 4,2 -> mask 0b1010).
  const uint64_t mask = 0xA;
  const bool maximal = power_apply(1, 15, mask, 4) == 1 && power_apply(1, 5, mask, 4) != 1 &&
                       power_apply(1, 3, mask, 4) != 1;
  EXPECT_FALSE(maximal);
}

}  // namespace
}  // namespace rngfree::random
