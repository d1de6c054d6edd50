// The harvester against hand-computed numbers: bit fields of FP32 values whose IEEE-754 patterns
// are known (0.1f = 0x3DCCCCCD, pi = 0x40490FDB, 1/3 = 0x3EAAAAAB, 1.5 = 0x3FC00000, -2 = 0xC0000000),
// folding, spreading and pairing maps written out by hand, zero skipping, the whitening mix's values
// (computed with Python integers), MSB-first bit packing; which tap elements a spread pairing reads
// over a sweep of offsets (probed one element at a time); then the fast kernels against the
// reference twin for many shapes, every SIMD level and thread counts 1 and 2.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <random>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::harvest {
namespace {

Extractor bits(int lo, int hi, Mix mix = Mix::kNone, ZeroPolicy z = ZeroPolicy::kKeep) {
  Extractor e;
  e.lo = lo;
  e.hi = hi;
  e.mix = mix;
  e.zeros = z;
  return e;
}
std::vector<uint32_t> run(const std::vector<float>& tap, const Extractor& e, const Pairing& p, size_t m,
                          int threads = 0) {
  std::vector<uint32_t> out(m, 0xdeadbeefu);
  HarvestOptions o;
  o.threads = threads;
  harvest_words(tap, e, p, out, o);
  return out;
}
Pairing pairing(std::string_view spec) { return Pairing::parse(spec); }

TEST(Extract, BitFieldsOfKnownPatterns) {
  const std::vector<float> x = {0.1f, 3.14159265f, 1.0f / 3.0f, 1.5f, -2.0f};
  EXPECT_EQ(run(x, bits(0, 15), pairing("aligned"), 5), (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB, 0, 0}));
  EXPECT_EQ(run(x, bits(0, 3), pairing("aligned"), 5), (std::vector<uint32_t>{0xD, 0xB, 0xB, 0, 0}));
  // bits 16-22: the top 7 mantissa bits
  EXPECT_EQ(run(x, bits(16, 22), pairing("aligned"), 5), (std::vector<uint32_t>{0x4C, 0x49, 0x2A, 0x40, 0}));
  // bits 23-30: the biased exponent; 31: the sign; 0-31: the whole pattern
  EXPECT_EQ(run(x, bits(23, 30), pairing("aligned"), 5), (std::vector<uint32_t>{123, 128, 125, 127, 128}));
  EXPECT_EQ(run(x, bits(31, 31), pairing("aligned"), 5), (std::vector<uint32_t>{0, 0, 0, 0, 1}));
  EXPECT_EQ(run(x, bits(0, 31), pairing("aligned"), 5),
            (std::vector<uint32_t>{0x3DCCCCCD, 0x40490FDB, 0x3EAAAAAB, 0x3FC00000, 0xC0000000}));
}

TEST(Extract, WhiteningIsTheDocumentedMix) {
  // w ^= w >> 16; w *= 0x7feb352d; w ^= w >> 15 (values from Python's exact integers).
  EXPECT_EQ(whiten_word(1), 0x7febcafbu);
  EXPECT_EQ(whiten_word(0x12345678), 0x6b176b73u);
  EXPECT_EQ(whiten_word(0xffffffff), 0xcad295a6u);
  EXPECT_EQ(whiten_word(0), 0u);
  EXPECT_EQ(run({0.1f}, bits(0, 15, Mix::kWhiten32), pairing("aligned"), 1), (std::vector<uint32_t>{0xddb8ca7bu}));
}

TEST(Pairing, FoldedXorsWholeCopiesOfTheSite) {
  // n = 7, m = 2, K = 3: word 0 = f0^f2^f4, word 1 = f1^f3^f5; element 6 unused.
  const std::vector<float> x = {0.1f, 3.14159265f, 1.0f / 3.0f, 1.5f, 0.1f, -2.0f, 3.14159265f};
  EXPECT_EQ(run(x, bits(0, 15), pairing("folded:3"), 2), (std::vector<uint32_t>{0xCCCD ^ 0xAAAB ^ 0xCCCD, 0x0FDB ^ 0 ^ 0}));
  EXPECT_EQ(run(x, bits(0, 15), pairing("folded"), 2), run(x, bits(0, 15), pairing("folded:3"), 2));
  EXPECT_EQ(run(x, bits(0, 15), pairing("auto"), 2), run(x, bits(0, 15), pairing("folded:3"), 2));
  // K = 2 on the same tap: word 0 = f0^f2, word 1 = f1^f3.
  EXPECT_EQ(run(x, bits(0, 15), pairing("folded:2"), 2), (std::vector<uint32_t>{0xCCCD ^ 0xAAAB, 0x0FDB}));
  EXPECT_THROW(run(x, bits(0, 15), pairing("folded:4"), 2), Error);  // 4·2 > 7
  EXPECT_THROW(run(x, bits(0, 15), pairing("aligned"), 2), Error);   // n != m
}

TEST(Pairing, StridedReusesElementOffsetPlusIStrideModN) {
  // n = 5, stride 2, offset 3: indices 3, 0, 2, 4, 1, 3, 0, ...
  const std::vector<float> x = {0.1f, 3.14159265f, 1.0f / 3.0f, 1.5f, -2.0f};
  const uint32_t f[] = {0xCCCD, 0x0FDB, 0xAAAB, 0, 0};
  const auto w = run(x, bits(0, 15), pairing("strided:2:3"), 12);
  const int idx[] = {3, 0, 2, 4, 1, 3, 0, 2, 4, 1, 3, 0};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(w[static_cast<size_t>(i)], f[idx[i]]) << i;
  // auto with n < m tiles the tap: index i mod n.
  const auto t = run(x, bits(0, 15), pairing("auto"), 7);
  EXPECT_EQ(t, (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB, 0, 0, 0xCCCD, 0x0FDB}));
  // self pairing: offset floor(m/2).
  const auto s = run(x, bits(0, 15), self_pairing(5), 5);
  EXPECT_EQ(s, (std::vector<uint32_t>{0xAAAB, 0, 0, 0xCCCD, 0x0FDB}));
}

TEST(ZeroPolicy, SkipRemovesSignedZerosKeepGivesZeroFields) {
  const std::vector<float> x = {0.0f, 0.1f, -0.0f, 3.14159265f, 0.0f, 1.0f / 3.0f};
  EXPECT_EQ(run(x, bits(0, 15), pairing("auto"), 6), (std::vector<uint32_t>{0, 0xCCCD, 0, 0x0FDB, 0, 0xAAAB}));
  // skip: the tap becomes {0.1, pi, 1/3} (n = 3), auto with m = 6 tiles it.
  EXPECT_EQ(run(x, bits(0, 15, Mix::kNone, ZeroPolicy::kSkip), pairing("auto"), 6),
            (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB, 0xCCCD, 0x0FDB, 0xAAAB}));
  // skip with m = 3: aligned on the nonzeros
  EXPECT_EQ(run(x, bits(0, 15, Mix::kNone, ZeroPolicy::kSkip), pairing("aligned"), 3),
            (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB}));
  // only zeros: every word is mix(0): 0 for whiten32 (whiten_word(0) = 0), 0x26e6 for the field mix
  // at width 16 (mix_field's value from Python's exact integers)
  EXPECT_EQ(run({0.0f, -0.0f}, bits(0, 15, Mix::kWhiten32, ZeroPolicy::kSkip), pairing("auto"), 3),
            (std::vector<uint32_t>{0, 0, 0}));
  EXPECT_EQ(run({0.0f, -0.0f}, bits(0, 15, Mix::kField, ZeroPolicy::kSkip), pairing("auto"), 3),
            (std::vector<uint32_t>{0x26e6, 0x26e6, 0x26e6}));
  EXPECT_EQ(harvest_words_reference(std::vector<float>{0.0f}, bits(0, 15, Mix::kField, ZeroPolicy::kSkip),
                                    pairing("auto"), 2),
            (std::vector<uint32_t>{0x26e6, 0x26e6}));
}

TEST(Pairing, SpreadXorsOneWindowPerBlockShiftedByTheOffset) {
  // Fields at bits 0-15: 0.1f CCCD, pi 0FDB, 1/3 AAAB, 1.5 0000, -2 0000 (see the file header).
  const std::vector<float> x = {0.1f, 3.14159265f, 1.0f / 3.0f, 1.5f, -2.0f, 0.1f, 3.14159265f};
  const uint32_t f[] = {0xCCCD, 0x0FDB, 0xAAAB, 0, 0, 0xCCCD, 0x0FDB};
  // n = 7, m = 2, K = 0: k = floor(7/2) = 3, block = floor(7/3) = 2; word i = f[i] ^ f[i+2] ^ f[i+4].
  EXPECT_EQ(run(x, bits(0, 15), pairing("spread"), 2), (std::vector<uint32_t>{f[0] ^ f[2] ^ f[4], f[1] ^ f[3] ^ f[5]}));
  EXPECT_EQ(run(x, bits(0, 15), pairing("spread:3"), 2), run(x, bits(0, 15), pairing("spread"), 2));
  // offset 5: word 0 reads 5, 7 mod 7 = 0, 9 mod 7 = 2; word 1 reads 6, 1, 3.
  EXPECT_EQ(run(x, bits(0, 15), pairing("spread:0:5"), 2), (std::vector<uint32_t>{0xAAAB, 0}));
  // the offset is taken mod n: 12 = 5 (mod 7)
  Pairing p12 = pairing("spread");
  p12.offset = 12;
  EXPECT_EQ(run(x, bits(0, 15), p12, 2), (std::vector<uint32_t>{0xAAAB, 0}));
  // n = 7, m = 3, K = 2: block = 3; offset 0: {0,3} {1,4} {2,5}; offset 4: {4,0} {5,1} {6,2}.
  EXPECT_EQ(run(x, bits(0, 15), pairing("spread:2"), 3), (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB ^ 0xCCCD}));
  EXPECT_EQ(run(x, bits(0, 15), pairing("spread:2:4"), 3), (std::vector<uint32_t>{0xCCCD, 0xCCCD ^ 0x0FDB, 0x0FDB ^ 0xAAAB}));
  // K = 1: one window, a contiguous run of the tap from the offset (wrapping).
  EXPECT_EQ(run(x, bits(0, 15), pairing("spread:1:6"), 3), (std::vector<uint32_t>{0x0FDB, 0xCCCD, 0x0FDB}));
  // the field mix after the XOR: mix_field(0xcccd, 16) = 0xe70a (Python)
  EXPECT_EQ(run(x, bits(0, 15, Mix::kField), pairing("spread:2"), 3)[0], 0xe70au);
  // errors: K > floor(n/m) names the values; n < m; both from the reference too
  try {
    run(x, bits(0, 15), pairing("spread:4"), 2);
    ADD_FAILURE() << "spread:4 with n = 7, m = 2 must be refused";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("K = 4"), std::string::npos) << what;
    EXPECT_NE(what.find("floor(7/2) = 3"), std::string::npos) << what;
  }
  EXPECT_THROW(run(x, bits(0, 15), pairing("spread"), 8), Error);
  EXPECT_THROW(harvest_words_reference(x, bits(0, 15), pairing("spread:4"), 2), Error);
  EXPECT_THROW(harvest_words_reference(x, bits(0, 15), pairing("spread"), 8), Error);
  const SpreadShape s = spread_shape(7, 2);
  EXPECT_EQ(s.k, 3);
  EXPECT_EQ(s.block, 2);
  EXPECT_EQ(s.period, 3);  // 7 - 2·2
  EXPECT_THROW(spread_shape(7, 2, 4), Error);
  EXPECT_THROW(spread_shape(1, 2), Error);
}

// The tap indices that word i of a spread pairing reads, probed through harvest_words: a tap of
// zeros except element j (field 1) makes word i nonzero iff j is in S_i (each S_i has distinct indices,
// so j is XORed in once or not at all).
std::vector<std::vector<int64_t>> probe_sets(int64_t n, int64_t m, const Pairing& p) {
  std::vector<std::vector<int64_t>> sets(static_cast<size_t>(m));
  std::vector<float> tap(static_cast<size_t>(n), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    tap[static_cast<size_t>(j)] = std::bit_cast<float>(0x3f800001u);  // 1 + 2^-23: bits 0-15 = 1
    const auto w = run(tap, bits(0, 15), p, static_cast<size_t>(m));
    for (int64_t i = 0; i < m; ++i) {
      if (w[static_cast<size_t>(i)] != 0) sets[static_cast<size_t>(i)].push_back(j);
    }
    tap[static_cast<size_t>(j)] = 0.0f;
  }
  return sets;
}

TEST(Pairing, SpreadOffsetSweepCoversTheTap) {
  struct Case {
    int64_t n, m, fold;
  };
  // The n mod k remainder: none (64/8, 10/3 with K 2), covered by the block sweep's overshoot
  // ceil(block/m)·m - block (67/8 with K 5: block 13, overshoot 3 >= 2; 37/5 with K 2: 2 >= 1), and
  // not covered (23/4: k 5, block 4, overshoot 0 < 3; 101/10, 65/8, 50/7, 7/2: overshoot 0 < 1).
  const Case cases[] = {{7, 2, 0},  {10, 3, 0}, {10, 3, 2}, {23, 4, 0}, {23, 4, 3}, {50, 7, 0},
                        {64, 8, 0}, {65, 8, 0}, {67, 8, 5}, {101, 10, 0}, {100, 1, 0}, {37, 5, 2}};
  for (const auto& c : cases) {
    const int64_t most = c.n / c.m, k = c.fold == 0 ? most : c.fold, block = c.n / k;
    const SpreadShape s = spread_shape(c.n, c.m, c.fold);
    ASSERT_EQ(s.k, k);
    ASSERT_EQ(s.block, block);
    ASSERT_EQ(s.period, c.n - (k - 1) * block);
    auto sweep = [&](int64_t period) {
      std::vector<int> seen(static_cast<size_t>(c.n), 0);
      const int64_t steps = (period + c.m - 1) / c.m;
      for (int64_t t = 0; t < steps; ++t) {
        Pairing p = pairing("spread");
        p.fold = c.fold;
        p.offset = (t * c.m) % period;
        const auto sets = probe_sets(c.n, c.m, p);
        for (const auto& set : sets) {
          EXPECT_EQ(static_cast<int64_t>(set.size()), k) << c.n << "/" << c.m << " offset " << p.offset;
          for (int64_t j : set) seen[static_cast<size_t>(j)] = 1;
        }
      }
      return seen;
    };
    // The block sweep (t·m mod block): every index < k·block, and of the remainder exactly those
    // below k·block + ceil(block/m)·m - block.
    const auto by_block = sweep(block);
    const int64_t reach = k * block + ((block + c.m - 1) / c.m) * c.m - block;
    for (int64_t j = 0; j < c.n; ++j) {
      EXPECT_EQ(by_block[static_cast<size_t>(j)], j < std::max(k * block, std::min(reach, c.n)) ? 1 : 0)
          << "n " << c.n << " m " << c.m << " K " << c.fold << " index " << j;
    }
    // The period sweep (t·m mod (n - (k-1)·block)): every element.
    const auto by_period = sweep(s.period);
    for (int64_t j = 0; j < c.n; ++j) EXPECT_EQ(by_period[static_cast<size_t>(j)], 1) << c.n << "/" << c.m << " " << j;
  }
  // 101 elements, 10 words: k = 10, block = 10, one remainder element (index 100) that the block sweep
  // (one step) never reads — the case the period sweep (P = 11, two steps) exists for.
  EXPECT_EQ(spread_shape(101, 10).period, 11);
}

TEST(Bits, PackedMostSignificantFirst) {
  const std::vector<float> x = {0.1f, 3.14159265f};
  auto b = harvest_bits(x, bits(0, 3));
  EXPECT_EQ(b.bits, 8);
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{0xDB}));  // 1101 then 1011
  b = harvest_bits(std::vector<float>{0.1f}, bits(0, 11));           // 0xCCD -> 1100 1100 1101 (+ 4 pad bits)
  EXPECT_EQ(b.bits, 12);
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{0xCC, 0xD0}));
  // fold 2 over {0.1, pi, 1/3, 1.5, -2}: m = 2, words f0^f2, f1^f3 (element 4 unused)
  b = harvest_bits(std::vector<float>{0.1f, 3.14159265f, 1.0f / 3.0f, 1.5f, -2.0f}, bits(0, 15), 2);
  EXPECT_EQ(b.bits, 32);
  const uint32_t w0 = 0xCCCD ^ 0xAAAB, w1 = 0x0FDB;
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{static_cast<uint8_t>(w0 >> 8), static_cast<uint8_t>(w0),
                                           static_cast<uint8_t>(w1 >> 8), static_cast<uint8_t>(w1)}));
  // skip zeros in the bit stream
  b = harvest_bits(std::vector<float>{0.0f, 0.1f, -0.0f, 3.14159265f}, bits(0, 3, Mix::kNone, ZeroPolicy::kSkip));
  EXPECT_EQ(b.bytes, (std::vector<uint8_t>{0xDB}));
  EXPECT_THROW(harvest_bits(x, bits(0, 3), 0), Error);
}

std::vector<float> random_tensor(size_t n, uint32_t seed, double zero_fraction) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> x(n);
  for (auto& v : x) v = u(g) < zero_fraction ? (u(g) < 0.5 ? 0.0f : -0.0f) : d(g);
  return x;
}

TEST(Kernels, MatchTheReferenceForManyShapesLevelsAndThreadCounts) {
  const auto best = rngfree::simd_level_supported();
  struct Shape {
    size_t n, m;
    const char* pairing;
  };
  const Shape shapes[] = {{1, 1, "auto"},          {17, 17, "aligned"},     {1000, 999, "auto"},
                          {4096, 1000, "folded"},  {4096, 1000, "folded:2"}, {300, 5000, "auto"},
                          {300, 5000, "strided:7:11"}, {5000, 5000, "strided:1:2500"}, {1, 40, "auto"},
                          {(1u << 18) + 5, (1u << 17) + 3, "folded"},  // threaded
                          {(1u << 18) + 5, (1u << 18) + 5, "strided:3:1"},
                          {(1u << 18), (1u << 18), "aligned"},
                          {4096, 1000, "spread"},  {4096, 1000, "spread:3:777"}, {1000, 999, "spread:1:5"},
                          {(1u << 18) + 5, (1u << 17) + 3, "spread:0:12345"}};
  const Extractor extractors[] = {bits(0, 15), bits(0, 22, Mix::kWhiten32), bits(3, 9), bits(0, 31, Mix::kWhiten32),
                                  bits(0, 15, Mix::kNone, ZeroPolicy::kSkip), bits(8, 23, Mix::kWhiten32, ZeroPolicy::kSkip),
                                  bits(0, 15, Mix::kField), bits(5, 5, Mix::kField), bits(0, 31, Mix::kField),
                                  bits(2, 13, Mix::kField, ZeroPolicy::kSkip)};
  for (const auto& s : shapes) {
    const auto x = random_tensor(s.n, static_cast<uint32_t>(s.n * 31 + s.m), 0.3);
    for (const auto& e : extractors) {
      std::vector<uint32_t> ref;
      try {
        ref = harvest_words_reference(x, e, pairing(s.pairing), static_cast<int64_t>(s.m));
      } catch (const Error&) {  // e.g. aligned after zero skipping: both must refuse
        EXPECT_THROW(run(x, e, pairing(s.pairing), s.m), Error);
        continue;
      }
      for (int level = 0; level <= static_cast<int>(best); ++level) {
        rngfree::set_simd_level(static_cast<rngfree::SimdLevel>(level));
        for (int threads : {1, 2}) {
          ASSERT_EQ(run(x, e, pairing(s.pairing), s.m, threads), ref)
              << s.n << "->" << s.m << " " << s.pairing << " " << e.name() << " level " << level << " threads " << threads;
        }
      }
      rngfree::set_simd_level(best);
    }
  }
}

// Spread pairings on random taps, every SIMD level: fast == reference for many (n, m, K, offset),
// including offsets past n (taken mod n) and K = 1 (a single window) and K = floor(n/m).
TEST(Kernels, SpreadMatchesTheReferenceForManyShapesAndOffsets) {
  const auto best = rngfree::simd_level_supported();
  std::mt19937_64 g(99);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t m = 1 + static_cast<int64_t>(g() % 3000);
    const int64_t n = m + static_cast<int64_t>(g() % (trial % 3 == 0 ? 5 : 5 * static_cast<uint64_t>(m)));
    const int64_t most = n / m;
    const int64_t fold = trial % 4 == 0 ? 0 : trial % 4 == 1 ? most : 1 + static_cast<int64_t>(g() % static_cast<uint64_t>(most));
    Pairing p = pairing("spread");
    p.fold = fold;
    p.offset = static_cast<int64_t>(g() % static_cast<uint64_t>(3 * n));
    const auto x = random_tensor(static_cast<size_t>(n), static_cast<uint32_t>(trial), 0.1);
    const Extractor e = trial % 2 == 0 ? bits(0, 15, Mix::kField) : bits(4, 20);
    const auto ref = harvest_words_reference(x, e, p, m);
    for (int level = 0; level <= static_cast<int>(best); ++level) {
      rngfree::set_simd_level(static_cast<rngfree::SimdLevel>(level));
      ASSERT_EQ(run(x, e, p, static_cast<size_t>(m), 1), ref) << n << "->" << m << " " << p.name() << " level " << level;
    }
    rngfree::set_simd_level(best);
  }
}

// harvest_words_range gives exactly the words [first, first + count) of harvest_words, for every
// pairing kind and mix, random sub-ranges (empty, single word, whole site), every SIMD level.
TEST(Kernels, RangeEqualsTheSameWordsOfTheWholeSite) {
  const auto best = rngfree::simd_level_supported();
  struct Shape {
    size_t n, m;
    const char* pairing;
  };
  const Shape shapes[] = {{5000, 5000, "aligned"}, {5000, 5000, "auto"}, {12000, 5000, "folded"},
                          {12000, 5000, "folded:2"}, {12000, 5000, "spread:0:4321"}, {700, 5000, "auto"},
                          {700, 5000, "strided:7:11"}, {5000, 5000, "strided:1:2500"}, {3, 5000, "strided:2:1"}};
  std::mt19937_64 g(5);
  for (const auto& s : shapes) {
    const auto x = random_tensor(s.n, static_cast<uint32_t>(s.n + s.m), 0.2);
    for (const Extractor& e : {bits(0, 15), bits(0, 15, Mix::kWhiten32), bits(1, 12, Mix::kField)}) {
      const auto whole = run(x, e, pairing(s.pairing), s.m, 1);
      for (int level = 0; level <= static_cast<int>(best); ++level) {
        rngfree::set_simd_level(static_cast<rngfree::SimdLevel>(level));
        for (int t = 0; t < 20; ++t) {
          const size_t first = t == 0 ? 0 : g() % s.m;
          const size_t count = t == 0 ? s.m : t == 1 ? 0 : t == 2 ? 1 : g() % (s.m - first + 1);
          std::vector<uint32_t> part(count, 0xdeadbeefu);
          harvest_words_range(x, e, pairing(s.pairing), static_cast<int64_t>(s.m), static_cast<int64_t>(first), part);
          ASSERT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + static_cast<std::ptrdiff_t>(first)))
              << s.pairing << " " << e.name() << " [" << first << ", +" << count << ") level " << level;
        }
      }
      rngfree::set_simd_level(best);
    }
  }
  // kSkip is refused (which elements survive depends on the whole tap); pairing errors as harvest_words.
  std::vector<uint32_t> w(4);
  const auto x = random_tensor(10, 1, 0.0);
  EXPECT_THROW(harvest_words_range(x, bits(0, 15, Mix::kNone, ZeroPolicy::kSkip), pairing("auto"), 10, 0, w), Error);
  EXPECT_THROW(harvest_words_range(x, bits(0, 15), pairing("aligned"), 12, 0, w), Error);
  EXPECT_THROW(harvest_fill(x, bits(0, 15, Mix::kNone, ZeroPolicy::kSkip), pairing("auto"), 10), Error);
  EXPECT_THROW(harvest_fill(x, bits(0, 15), pairing("spread"), 11), Error);
}

TEST(Specs, TapsParseAndPrint) {
  EXPECT_EQ(Tap::parse("act"), (Tap{TapKind::kAct, 0}));
  EXPECT_EQ(Tap::parse("err@-1"), (Tap{TapKind::kErr, -1}));
  EXPECT_EQ(Tap::parse("weights@+1"), (Tap{TapKind::kWeights, 1}));
  EXPECT_EQ(Tap::parse("grad@0"), (Tap{TapKind::kGrad, 0}));
  EXPECT_EQ(Tap::parse("self"), (Tap{TapKind::kSelf, 0}));
  EXPECT_EQ(Tap::parse("input"), (Tap{TapKind::kInput, 0}));
  EXPECT_EQ(Tap::parse("act@+3"), (Tap{TapKind::kAct, 3}));
  EXPECT_EQ(Tap::parse("err@last"), (Tap{TapKind::kErr, 0, true}));
  EXPECT_EQ(Tap::parse("act@last-2"), (Tap{TapKind::kAct, -2, true}));
  EXPECT_EQ(Tap::parse("act@-1000"), (Tap{TapKind::kAct, -1000}));
  EXPECT_EQ(Tap::parse("prob"), (Tap{TapKind::kProb, 0}));
  EXPECT_EQ(Tap::parse("prob@+1"), (Tap{TapKind::kProb, 1}));
  EXPECT_EQ(Tap::parse("prob@last-4"), (Tap{TapKind::kProb, -4, true}));
  for (const char* s : {"act", "err@-1", "weights@+1", "grad", "self", "input", "act@+2", "err@last", "act@last-1",
                        "prob", "prob@-1", "prob@+2", "prob@last", "prob@last-4"}) {
    EXPECT_EQ(Tap::parse(s).name(), s);
  }
  EXPECT_EQ(Tap::parse("prob@0").name(), "prob");  // offset 0 is not written
  EXPECT_EQ(Tap::parse("prob@+0").name(), "prob");
  for (const char* bad : {"", "acts", "act@1001", "err@", "self@1", "input@-1", "act@x", "grad@+-1", "act@last+1",
                          "act@last1", "act@lastx", "act@last-", "act@last--1", "input@last", "probs", "softmax",
                          "prob@last+1", "prob@"}) {
    EXPECT_THROW(Tap::parse(bad), Error) << bad;
  }
  try {
    (void)Tap::parse("softmax");
    ADD_FAILURE() << "softmax is not a tap";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weights, act, err, grad, prob"), std::string::npos) << e.what();
  }
}

TEST(Specs, ExtractorAndPairingParse) {
  const auto e = Extractor::parse_bits("3-17");
  EXPECT_EQ(e.lo, 3);
  EXPECT_EQ(e.hi, 17);
  EXPECT_EQ(e.width(), 15);
  EXPECT_EQ(e.random_bits(), 15);
  // Mixing adds no entropy: a 4-bit field supplies 4 bits, whitened to 32 bits or not.
  for (Mix mix : {Mix::kNone, Mix::kWhiten32, Mix::kField}) {
    EXPECT_EQ(bits(0, 3, mix).random_bits(), 4);
    EXPECT_EQ(bits(0, 31, mix).random_bits(), 32);
    EXPECT_EQ(bits(7, 7, mix).random_bits(), 1);
  }
  for (const char* bad : {"", "3", "17-3", "0-32", "-1-4", "a-b", "0-15x"}) {
    EXPECT_THROW(Extractor::parse_bits(bad), Error) << bad;
  }
  EXPECT_EQ(pairing("strided:3:4").stride, 3);
  EXPECT_EQ(pairing("strided:3:4").offset, 4);
  EXPECT_EQ(pairing("folded:5").fold, 5);
  EXPECT_EQ(pairing("spread").kind, PairingKind::kSpread);
  EXPECT_EQ(pairing("spread").fold, 0);
  EXPECT_EQ(pairing("spread:4").fold, 4);
  EXPECT_EQ(pairing("spread:0:9").offset, 9);
  for (const char* bad : {"", "fold", "folded:0", "strided:0", "strided:1:-1", "aligned:1", "auto:2", "spread:-1",
                          "spread:2:-3", "spread:1:2:3", "spreads"}) {
    EXPECT_THROW(Pairing::parse(bad), Error) << bad;
  }
  for (const char* s : {"auto", "aligned", "folded", "folded:3", "strided:2:5", "spread", "spread:4", "spread:0:9",
                        "spread:3:1"}) {
    EXPECT_EQ(Pairing::parse(s).name(), s);
  }
}

}  // namespace
}  // namespace rngfree::harvest
