// The harvester against hand-computed numbers: bit fields of FP32 values whose IEEE-754 patterns
// are known (0.1f = 0x3DCCCCCD, pi = 0x40490FDB, 1/3 = 0x3EAAAAAB, 1.5 = 0x3FC00000, -2 = 0xC0000000),
// folding and pairing maps written out by hand, zero skipping, the whitening mix's values (computed
// with Python integers), MSB-first bit packing; then the fast kernels against the reference twin for
// many shapes, every SIMD level and thread counts 1 and 2.
#include <gtest/gtest.h>
#include <omp.h>

#include <bit>
#include <random>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/random/simd.hpp"

namespace rngfree::harvest {
namespace {

Extractor bits(int lo, int hi, bool whiten = false, ZeroPolicy z = ZeroPolicy::kKeep) {
  Extractor e;
  e.lo = lo;
  e.hi = hi;
  e.whiten = whiten;
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
  EXPECT_EQ(run({0.1f}, bits(0, 15, true), pairing("aligned"), 1), (std::vector<uint32_t>{0xddb8ca7bu}));
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
  EXPECT_EQ(run(x, bits(0, 15, false, ZeroPolicy::kSkip), pairing("auto"), 6),
            (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB, 0xCCCD, 0x0FDB, 0xAAAB}));
  // skip with m = 3: aligned on the nonzeros
  EXPECT_EQ(run(x, bits(0, 15, false, ZeroPolicy::kSkip), pairing("aligned"), 3),
            (std::vector<uint32_t>{0xCCCD, 0x0FDB, 0xAAAB}));
  // only zeros: every word is 0
  EXPECT_EQ(run({0.0f, -0.0f}, bits(0, 15, true, ZeroPolicy::kSkip), pairing("auto"), 3),
            (std::vector<uint32_t>{0, 0, 0}));
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
  b = harvest_bits(std::vector<float>{0.0f, 0.1f, -0.0f, 3.14159265f}, bits(0, 3, false, ZeroPolicy::kSkip));
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
  const auto best = random::simd_level_supported();
  struct Shape {
    size_t n, m;
    const char* pairing;
  };
  const Shape shapes[] = {{1, 1, "auto"},          {17, 17, "aligned"},     {1000, 999, "auto"},
                          {4096, 1000, "folded"},  {4096, 1000, "folded:2"}, {300, 5000, "auto"},
                          {300, 5000, "strided:7:11"}, {5000, 5000, "strided:1:2500"}, {1, 40, "auto"},
                          {(1u << 18) + 5, (1u << 17) + 3, "folded"},  // threaded
                          {(1u << 18) + 5, (1u << 18) + 5, "strided:3:1"},
                          {(1u << 18), (1u << 18), "aligned"}};
  const Extractor extractors[] = {bits(0, 15), bits(0, 22, true), bits(3, 9), bits(0, 31, true),
                                  bits(0, 15, false, ZeroPolicy::kSkip), bits(8, 23, true, ZeroPolicy::kSkip)};
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
        random::set_simd_level(static_cast<random::SimdLevel>(level));
        for (int threads : {1, 2}) {
          ASSERT_EQ(run(x, e, pairing(s.pairing), s.m, threads), ref)
              << s.n << "->" << s.m << " " << s.pairing << " " << e.name() << " level " << level << " threads " << threads;
        }
      }
      random::set_simd_level(best);
    }
  }
}

TEST(Specs, TapsParseAndPrint) {
  EXPECT_EQ(Tap::parse("act"), (Tap{TapKind::kAct, 0}));
  EXPECT_EQ(Tap::parse("err@-1"), (Tap{TapKind::kErr, -1}));
  EXPECT_EQ(Tap::parse("weights@+1"), (Tap{TapKind::kWeights, 1}));
  EXPECT_EQ(Tap::parse("grad@0"), (Tap{TapKind::kGrad, 0}));
  EXPECT_EQ(Tap::parse("self"), (Tap{TapKind::kSelf, 0}));
  EXPECT_EQ(Tap::parse("input"), (Tap{TapKind::kInput, 0}));
  for (const char* s : {"act", "err@-1", "weights@+1", "grad", "self", "input"}) EXPECT_EQ(Tap::parse(s).name(), s);
  for (const char* bad : {"", "acts", "act@2", "err@", "self@1", "input@-1", "act@x", "grad@+-1"}) {
    EXPECT_THROW(Tap::parse(bad), Error) << bad;
  }
}

TEST(Specs, ExtractorAndPairingParse) {
  const auto e = Extractor::parse_bits("3-17");
  EXPECT_EQ(e.lo, 3);
  EXPECT_EQ(e.hi, 17);
  EXPECT_EQ(e.width(), 15);
  for (const char* bad : {"", "3", "17-3", "0-32", "-1-4", "a-b", "0-15x"}) {
    EXPECT_THROW(Extractor::parse_bits(bad), Error) << bad;
  }
  EXPECT_EQ(pairing("strided:3:4").stride, 3);
  EXPECT_EQ(pairing("strided:3:4").offset, 4);
  EXPECT_EQ(pairing("folded:5").fold, 5);
  for (const char* bad : {"", "fold", "folded:0", "strided:0", "strided:1:-1", "aligned:1", "auto:2"}) {
    EXPECT_THROW(Pairing::parse(bad), Error) << bad;
  }
  for (const char* s : {"auto", "aligned", "folded", "folded:3", "strided:2:5"}) {
    EXPECT_EQ(Pairing::parse(s).name(), s);
  }
}

}  // namespace
}  // namespace rngfree::harvest
