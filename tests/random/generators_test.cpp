// Generator baselines against independent numbers: published known-answer vectors (Random123's
// Philox KATs, the C++ standard's mt19937 10000th output, the xoshiro128++ reference code's outputs
// and jump, SplitMix64's reference outputs), std::mt19937 itself, and tests/tools/random_reference.py
// (an independent Python transcription of the reference algorithms). Also: stream splitting,
// checkpoint continuation, site independence, thread-count independence, SIMD levels agree.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::random {
namespace {

std::vector<uint32_t> words(std::string_view spec, uint64_t seed, uint64_t site, size_t n) {
  auto g = make_generator(spec, seed, site);
  std::vector<uint32_t> v(n);
  g->fill(v);
  return v;
}

std::string fmt_hex(uint32_t x) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", x);
  return buf;
}

const std::vector<std::string> kAllSpecs = {"philox",         "mt19937",      "xoshiro128pp", "xoshiro128pp:16",
                                            "xorshift32",     "xorshift32:8", "lfsr:32",      "lfsr:7:4",
                                            "lfsr:64:1",      "lfsr:48:64",   "xoshiro128pp:64"};
// Packed words (GEN/R): a word of R bits each; sites may share words by chance, so the tests of
// distinct and uncorrelated sites keep to kAllSpecs.
const std::vector<std::string> kPackedSpecs = {"philox/8", "philox/1", "xoshiro128pp/16", "lfsr:32/8",
                                               "lfsr:64:1/4", "mt19937/2", "xorshift32:8/8"};
std::vector<std::string> specs_with_packed() {
  std::vector<std::string> v = kAllSpecs;
  v.insert(v.end(), kPackedSpecs.begin(), kPackedSpecs.end());
  return v;
}

TEST(SplitMix64, ReferenceOutputsForSeedZero) {
  // Vigna's splitmix64.c with x = 0.
  SplitMix64 sm(0);
  EXPECT_EQ(sm.next(), 0xe220a8397b1dcdafull);
  EXPECT_EQ(sm.next(), 0x6e789e6aa1b965f4ull);
  EXPECT_EQ(sm.next(), 0x06c45d188009454full);
}

TEST(Philox, Random123KnownAnswers) {
  // Random123 kat_vectors, philox4x32 10 rounds.
  using A4 = std::array<uint32_t, 4>;
  EXPECT_EQ(philox4x32_10({0, 0, 0, 0}, {0, 0}), (A4{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (A4{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (A4{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, StreamIsCounterBlocksOfTheIssueDefinition) {
  // Seed 0: the first block is the KAT; the stream is blocks with counter 0, 1, 2, ... (128-bit LE),
  // key (lo32(seed), hi32(seed)); site s puts s into counter words 2 and 3.
  const auto v = words("philox", 0, 0, 4);
  EXPECT_EQ(v, (std::vector<uint32_t>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  const uint64_t seed = 0x0123456789abcdefull, site = 0xfedcba9876543210ull;
  const auto w = words("philox", seed, site, 4 * 70 + 3);
  for (uint32_t b = 0; b < 71; ++b) {
    const auto blk = philox4x32_10({b, 0, static_cast<uint32_t>(site), static_cast<uint32_t>(site >> 32)},
                                   {0x89abcdef, 0x01234567});
    for (uint32_t k = 0; k < 4 && 4 * b + k < w.size(); ++k) ASSERT_EQ(w[4 * b + k], blk[k]) << b << " " << k;
  }
}

TEST(Philox, PositionalFillEqualsTheSequentialStream) {
  const auto stream = words("philox", 0xabcdef, 4, 3000);
  for (uint64_t pos : {0ull, 1ull, 2ull, 3ull, 5ull, 130ull, 1001ull}) {
    std::vector<uint32_t> part(1999 - pos % 7);
    philox_fill(0xabcdef, 4, pos, part);
    for (size_t i = 0; i < part.size(); ++i) ASSERT_EQ(part[i], stream[pos + i]) << pos << " " << i;
  }
}

TEST(Mt19937, StandardTenThousandthOutput) {
  // C++ standard [rand.predef]: the 10000th consecutive invocation of a default-constructed mt19937
  // (seed 5489) produces 4123659995.
  const auto v = words("mt19937", 5489, 0, 10000);
  EXPECT_EQ(v[9999], 4123659995u);
}

TEST(Mt19937, EqualsStdMt19937ForSiteZeroAndSeedSeqForOtherSites) {
  for (uint64_t seed : {0ull, 1ull, 0xdeadbeefcafef00dull}) {
    std::mt19937 ref(static_cast<std::mt19937::result_type>(seed));
    const auto v = words("mt19937", seed, 0, 2000);
    for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(v[i], ref()) << i;
    for (uint64_t site : {1ull, 2ull, 977ull}) {
      // site seed per docs/random.md: mix(mix(site) ^ seed), mix = SplitMix64's output function.
      auto mix = [](uint64_t z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
      };
      const uint64_t s = mix(mix(site) ^ seed);
      std::seed_seq seq{static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32)};
      std::mt19937 ref_site(seq);
      const auto w = words("mt19937", seed, site, 1500);
      for (size_t i = 0; i < w.size(); ++i) ASSERT_EQ(w[i], ref_site()) << site << " " << i;
    }
  }
}

TEST(Xoshiro128pp, ReferenceCodeOutputsForState1234) {
  // Outputs of xoshiro128plusplus.c for s = {1, 2, 3, 4} (as quoted by the rand_xoshiro crate's tests).
  auto g = make_generator("xoshiro128pp", 0, 0);
  g->load_state("xoshiro128pp 1 2 3 4 1 0");  // lanes s0..s3, row position 1 (= empty), row word
  std::vector<uint32_t> v(10);
  g->fill(v);
  EXPECT_EQ(v, (std::vector<uint32_t>{641, 1573767, 3222811527, 3517856514, 836907274, 4247214768, 3867114732,
                                      1355841295, 495546011, 621204420}));
}

TEST(Xoshiro128pp, JumpMatchesReferenceCode) {
  // jump() of the reference code applied to {1, 2, 3, 4} (rand_xoshiro's instrumented test values).
  EXPECT_EQ(xoshiro128_jump({1, 2, 3, 4}), (std::array<uint32_t, 4>{2843103750u, 2038079848u, 1533207345u, 44816753u}));
}

// Advancing by matrix powers against stepping one at a time, and against the reference code's jump
// (2^64 steps = 2^63 twice).
TEST(Xoshiro128pp, AdvanceEqualsStepsAndTheReferenceJump) {
  auto g = make_generator("xoshiro128pp", 0, 0);
  g->load_state("xoshiro128pp 1 2 3 4 1 0");
  std::vector<uint32_t> ref(5000);
  g->fill(ref);
  for (uint64_t n : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 4095ull, 4096ull, 4990ull}) {
    auto h = make_generator("xoshiro128pp", 0, 0);
    const auto s = xoshiro128_advance({1, 2, 3, 4}, n);
    h->load_state(fmt::format("xoshiro128pp {:x} {:x} {:x} {:x} 1 0", s[0], s[1], s[2], s[3]));
    std::vector<uint32_t> v(10);
    h->fill(v);
    const auto at = ref.begin() + static_cast<ptrdiff_t>(n);
    EXPECT_EQ(v, std::vector<uint32_t>(at, at + 10)) << n;
  }
  const uint64_t half = uint64_t{1} << 63;
  EXPECT_EQ(xoshiro128_advance(xoshiro128_advance({1, 2, 3, 4}, half), half), xoshiro128_jump({1, 2, 3, 4}));
  // Additive: a + b steps = a steps then b steps, for distances past the step-by-step shortcut.
  const auto a = xoshiro128_advance({5, 6, 7, 8}, 123456789);
  EXPECT_EQ(xoshiro128_advance(a, 987654321), xoshiro128_advance({5, 6, 7, 8}, 123456789 + 987654321));
}

// tests/tools/random_reference.py output (seeding of issue 3: SplitMix64 z1, z2 -> s0..s3).
const uint32_t kXoshiro128ppSeed0[] = {1179900579u, 1938959192u, 3089844957u, 3657088315u,
                                       1015453891u, 479942911u,  3433842246u, 669252886u};
const uint32_t kXorshift32Seed0[] = {2543965083u, 395201330u, 65334406u,  1358435388u,
                                     495459683u,  3668589649u, 959056609u, 1991560602u};
const uint32_t kXoshiro128ppSeed123456789abcdef[] = {2785953498u, 1381613784u, 2111807583u, 561192517u,
                                                     679551924u,  1398034727u, 1272055191u, 3396123337u};
const uint32_t kXorshift32Seed123456789abcdef[] = {1784179731u, 2627584062u, 3084409875u, 924198398u,
                                                   2258245994u, 1934642577u, 648563936u,  3384751162u};

TEST(Xoshiro128pp, IssueSeedingMatchesIndependentTranscription) {
  EXPECT_EQ(words("xoshiro128pp", 0, 0, 8), std::vector<uint32_t>(std::begin(kXoshiro128ppSeed0), std::end(kXoshiro128ppSeed0)));
  EXPECT_EQ(words("xoshiro128pp", 0x0123456789abcdefull, 0, 8),
            std::vector<uint32_t>(std::begin(kXoshiro128ppSeed123456789abcdef), std::end(kXoshiro128ppSeed123456789abcdef)));
}

TEST(Xorshift32, IssueSeedingMatchesIndependentTranscription) {
  EXPECT_EQ(words("xorshift32", 0, 0, 8), std::vector<uint32_t>(std::begin(kXorshift32Seed0), std::end(kXorshift32Seed0)));
  EXPECT_EQ(words("xorshift32", 0x0123456789abcdefull, 0, 8),
            std::vector<uint32_t>(std::begin(kXorshift32Seed123456789abcdef), std::end(kXorshift32Seed123456789abcdef)));
}

TEST(Banks, WordIComesFromLaneIModL) {
  // xoshiro128pp:L: lane 0 = the single stream, lane j = lane 0 after j jumps.
  const auto bank = words("xoshiro128pp:4", 7, 0, 4 * 50);
  const auto single = words("xoshiro128pp", 7, 0, 50);
  for (size_t r = 0; r < 50; ++r) ASSERT_EQ(bank[4 * r], single[r]) << r;
  // lane 1 starts at jump(lane 0's state): load that state into a single-lane generator.
  SplitMix64 sm(7);
  const uint64_t z1 = sm.next(), z2 = sm.next();
  const auto j = xoshiro128_jump({static_cast<uint32_t>(z1), static_cast<uint32_t>(z1 >> 32),
                                  static_cast<uint32_t>(z2), static_cast<uint32_t>(z2 >> 32)});
  auto one = make_generator("xoshiro128pp", 0, 0);
  one->load_state("xoshiro128pp " + fmt_hex(j[0]) + " " + fmt_hex(j[1]) + " " + fmt_hex(j[2]) + " " + fmt_hex(j[3]) + " 1 0");
  std::vector<uint32_t> lane1(50);
  one->fill(lane1);
  for (size_t r = 0; r < 50; ++r) ASSERT_EQ(bank[4 * r + 1], lane1[r]) << r;

  // xorshift32:L: lane j seeded with lo32 of the (j+1)-th SplitMix64 output.
  const auto xb = words("xorshift32:8", 99, 0, 8 * 40);
  SplitMix64 sx(99);
  for (int lane = 0; lane < 8; ++lane) {
    uint32_t x = static_cast<uint32_t>(sx.next());
    if (x == 0) x = 1;
    for (size_t r = 0; r < 40; ++r) {
      x ^= x << 13;
      x ^= x >> 17;
      x ^= x << 5;
      ASSERT_EQ(xb[8 * r + static_cast<size_t>(lane)], x) << lane << " " << r;
    }
  }
}

// Runs body at every SIMD level this CPU supports (portable, AVX2, AVX-512), the level named in a
// failure's trace, and sets the best level again after.
void at_every_simd_level(const std::function<void()>& body) {
  const SimdLevel best = simd_level_supported();
  for (SimdLevel level : {SimdLevel::kPortable, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (static_cast<int>(level) > static_cast<int>(best)) {
      std::printf("SIMD level %s not supported here: skipped\n", simd_level_name(level).c_str());
      continue;
    }
    set_simd_level(level);
    SCOPED_TRACE(simd_level_name(level));
    body();
  }
  set_simd_level(best);
}

TEST(Lfsr, WordsAreLowBitsOfEachLaneStateAfterOneStep) {
  // lfsr:W:L — lane j's initial state = low W bits of the (j+1)-th SplitMix64 output (1 if 0);
  // one Galois step per word; word = low 32 bits of the new state. Masks from XAPP052's taps.
  // Every SIMD level (the banks make four rows per pass from one state on some: kernels.cpp), one
  // lane and several, a row count that is not a multiple of four.
  struct Case {
    int w;
    uint64_t mask;  // taps t -> bit t-1
  };
  at_every_simd_level([&] {
    for (Case c : {Case{16, 0xD008ull /*16,15,13,4*/}, Case{32, 0x80200003ull /*32,22,2,1*/},
                   Case{64, 0xD800000000000000ull /*64,63,61,60*/}, Case{5, 0x14ull /*5,3*/}}) {
      EXPECT_EQ(lfsr_galois_mask(c.w), c.mask) << c.w;
      for (const int lanes : {1, 4, 64}) {
        const std::string spec = "lfsr:" + std::to_string(c.w) + ":" + std::to_string(lanes);
        constexpr size_t kRows = 103;
        const auto v = words(spec, 3, 0, static_cast<size_t>(lanes) * kRows);
        SplitMix64 sm(3);
        for (int lane = 0; lane < lanes; ++lane) {
          uint64_t st = sm.next();
          if (c.w < 64) st &= (uint64_t{1} << c.w) - 1;
          if (st == 0) st = 1;
          for (size_t r = 0; r < kRows; ++r) {
            st = (st >> 1) ^ ((st & 1) ? c.mask : 0);
            ASSERT_EQ(v[static_cast<size_t>(lanes) * r + static_cast<size_t>(lane)], static_cast<uint32_t>(st))
                << spec << " " << lane << " " << r;
          }
        }
      }
      // `rngfree random` prints lane 0's states.
      const auto ref = reference_sequence("lfsr:" + std::to_string(c.w), 3, 100);
      const auto v = words("lfsr:" + std::to_string(c.w) + ":4", 3, 0, 4 * 100);
      for (size_t r = 0; r < 100; ++r) ASSERT_EQ(static_cast<uint32_t>(ref[r]), v[4 * r]);
    }
  });
}

TEST(ReferenceSequence, IsTheSingleLaneStream) {
  const auto ref = reference_sequence("xoshiro128pp:16", 0, 8);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(ref[i], kXoshiro128ppSeed0[i]);
  const auto mt = reference_sequence("mt19937", 5489, 10000);
  EXPECT_EQ(mt[9999], 4123659995u);
}

TEST(Streams, FillInPiecesEqualsOneFill) {
  for (const auto& spec : specs_with_packed()) {
    const auto whole = words(spec, 42, 3, 5000);
    auto g = make_generator(spec, 42, 3);
    std::vector<uint32_t> pieces;
    size_t sizes[] = {0, 1, 3, 5, 17, 624, 1, 2, 700, 33, 1000, 7};
    for (size_t n : sizes) {
      std::vector<uint32_t> p(n);
      g->fill(p);
      pieces.insert(pieces.end(), p.begin(), p.end());
    }
    ASSERT_EQ(std::vector<uint32_t>(whole.begin(), whole.begin() + static_cast<ptrdiff_t>(pieces.size())), pieces)
        << spec;
  }
}

// take(n): words by index, in any order and from several threads, equal to fill's (for the lfsr
// banks, the 7 words read first leave part of a row unread: the take starts with it); the stream then
// continues after them. The generators whose words only follow one another give nothing and keep
// their stream.
TEST(Streams, TakeGivesFillsWordsByIndexAndAdvancesTheStream) {
  for (const auto& spec : specs_with_packed()) {
    SCOPED_TRACE(spec);
    const auto whole = words(spec, 42, 3, 40000);
    auto g = make_generator(spec, 42, 3);
    std::vector<uint32_t> head(7);
    g->fill(head);  // take after an odd start
    const RandomSource::IndexedWords take = g->take(30000);
    const std::string base = spec.substr(0, spec.find('/'));
    const bool indexed = base == "philox" || base == "xoshiro128pp" || base.starts_with("lfsr:");
    ASSERT_EQ(indexed, static_cast<bool>(take));
    if (take) {
      std::vector<uint32_t> got(30000);
      // Chunks as quantize threads ask: each thread its range in order, one chunk asked twice, and
      // one range from its end backwards.
#pragma omp parallel for num_threads(3) schedule(static, 1)
      for (int t = 0; t < 3; ++t) {
        const int64_t begin = t * 10000, end = begin + 10000;
        if (t == 2) {
          for (int64_t c = end - 1000; c >= begin; c -= 1000) {
            take(c, std::span(got).subspan(static_cast<size_t>(c), 1000));
          }
        } else {
          for (int64_t c = begin; c < end; c += 1024) {
            const auto k = static_cast<size_t>(std::min<int64_t>(1024, end - c));
            take(c, std::span(got).subspan(static_cast<size_t>(c), k));
            if (c == begin + 2048) take(c, std::span(got).subspan(static_cast<size_t>(c), k));
          }
        }
      }
      ASSERT_EQ(got, std::vector<uint32_t>(whole.begin() + 7, whole.begin() + 30007));
    }
    std::vector<uint32_t> rest(100);
    g->fill(rest);
    const size_t at = indexed ? 30007 : 7;
    EXPECT_EQ(rest, std::vector<uint32_t>(whole.begin() + static_cast<ptrdiff_t>(at),
                                          whole.begin() + static_cast<ptrdiff_t>(at) + 100));
  }
}

// lfsr:W n steps ahead by matrix powers against stepping one at a time, additive over long
// distances, and with the period of a maximal-length register: 2^W - 1 steps return to the start.
TEST(Lfsr, AdvanceEqualsStepsAndHasTheFullPeriod) {
  for (int width : {3, 7, 20, 32, 33, 48, 64}) {
    SCOPED_TRACE(width);
    const uint64_t mask = lfsr_galois_mask(width);
    const uint64_t all = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
    const uint64_t start = 0x9E3779B97F4A7C15ull & all;
    std::vector<uint64_t> steps(5001);
    steps[0] = start;
    for (size_t i = 1; i < steps.size(); ++i) steps[i] = lfsr_step(steps[i - 1], mask);
    for (uint64_t n : {0ull, 1ull, 63ull, 64ull, 65ull, 1000ull, 4095ull, 4096ull, 5000ull}) {
      EXPECT_EQ(lfsr_advance(start, width, n), steps[n]) << n;
    }
    const uint64_t a = lfsr_advance(start, width, 123456789);
    EXPECT_EQ(lfsr_advance(a, width, 987654321), lfsr_advance(start, width, 123456789 + 987654321));
    if (width < 64) {
      const uint64_t period = (uint64_t{1} << width) - 1;
      EXPECT_EQ(lfsr_advance(start, width, period), start);
      EXPECT_EQ(lfsr_advance(start, width, period + 5), steps[5]);
      EXPECT_NE(lfsr_advance(start, width, period / 3), start);  // no return before the period
    }
  }
}

TEST(Streams, SaveLoadContinuesBitIdentically) {
  for (const auto& spec : specs_with_packed()) {
    auto g = make_generator(spec, 1234, 5);
    std::vector<uint32_t> a(777);
    g->fill(a);
    const std::string state = g->save_state();
    std::vector<uint32_t> expect(1500);
    g->fill(expect);
    auto h = make_generator(spec, 999, 0);  // different seed and site: the state replaces both
    h->load_state(state);
    std::vector<uint32_t> got(1500);
    h->fill(got);
    EXPECT_EQ(got, expect) << spec;
    auto c = h->clone();
    std::vector<uint32_t> x(10), y(10);
    h->fill(x);
    c->fill(y);
    EXPECT_EQ(x, y) << spec;
    EXPECT_EQ(make_generator(g->name(), 1, 1)->name(), g->name()) << spec;
  }
}

TEST(Streams, LoadStateRejectsForeignState) {
  auto philox = make_generator("philox", 1, 0);
  auto lfsr = make_generator("lfsr:32", 1, 0);
  EXPECT_THROW(lfsr->load_state(philox->save_state()), Error);
  EXPECT_THROW(philox->load_state("philox 1 2"), Error);
  EXPECT_THROW(philox->load_state("philox 1 2 zz"), Error);
}

TEST(Streams, SitesAreDistinctStreams) {
  // Distinct sites must not share words (beyond chance: 2^-32 per pair) or be shifts of each other.
  for (const auto& spec : kAllSpecs) {
    if (spec.rfind("lfsr:7", 0) == 0) continue;  // a 7-bit LFSR has only 127 states
    std::set<uint32_t> seen;
    size_t total = 0;
    for (uint64_t site : {0ull, 1ull, 2ull, 1000ull}) {
      const auto v = words(spec, 77, site, 512);
      seen.insert(v.begin(), v.end());
      total += v.size();
    }
    // Expected collisions among 2048 uniform 32-bit words: ~5e-4; allow a handful.
    EXPECT_GE(seen.size() + 4, total) << spec;
  }
}

TEST(Streams, SitesAreUncorrelated) {
  // Bits of site 0 and site 1 agree with probability 1/2 each: over N bit pairs the count of
  // agreements is Binomial(N, 1/2), sd = sqrt(N)/2; allow 5 sd. An LFSR word repeats the previous
  // word's bits shifted by one, so only bit 0 of its words (the m-sequence itself) is fresh.
  for (const auto& spec : kAllSpecs) {
    if (spec.rfind("lfsr:7", 0) == 0) continue;  // 7 state bits in a 32-bit word: not uniform words
    const bool lfsr = spec.rfind("lfsr", 0) == 0;
    const auto a = words(spec, 5, 0, 1 << 16), b = words(spec, 5, 1, 1 << 16);
    int64_t agree = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      agree += lfsr ? 1 - static_cast<int64_t>((a[i] ^ b[i]) & 1) : 32 - std::popcount(a[i] ^ b[i]);
    }
    const double n = (lfsr ? 1.0 : 32.0) * static_cast<double>(a.size());
    EXPECT_NEAR(static_cast<double>(agree), n / 2, 5 * std::sqrt(n) / 2) << spec;
  }
}

TEST(Streams, PhiloxFillIsIndependentOfThreadCount) {
  const size_t n = (size_t{1} << 19) + 13;  // above the parallel threshold
  omp_set_num_threads(1);
  auto a = make_generator("philox", 5, 9);
  std::vector<uint32_t> one(n);
  std::vector<uint32_t> head(3);
  a->fill(head);  // start mid-block
  a->fill(one);
  omp_set_num_threads(2);
  auto b = make_generator("philox", 5, 9);
  std::vector<uint32_t> two(n);
  b->fill(head);
  b->fill(two);
  omp_set_num_threads(omp_get_num_procs());
  EXPECT_EQ(one, two);
  // and both equal the block definition
  for (size_t i : {size_t{0}, size_t{1}, n / 2, n - 1}) {
    const uint64_t pos = i + 3;
    const auto blk = philox4x32_10({static_cast<uint32_t>(pos / 4), static_cast<uint32_t>(pos / 4 >> 32), 9, 0}, {5, 0});
    EXPECT_EQ(one[i], blk[pos % 4]) << i;
  }
}

TEST(Streams, EverySimdLevelGivesTheSameWords) {
  const SimdLevel best = simd_level_supported();
  std::vector<std::vector<uint32_t>> base;
  set_simd_level(SimdLevel::kPortable);
  const std::vector<std::string> specs = specs_with_packed();
  for (const auto& spec : specs) base.push_back(words(spec, 11, 2, 3001));
  for (SimdLevel level : {SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (static_cast<int>(level) > static_cast<int>(best)) {
      std::printf("SIMD level %s not supported here: skipped\n", simd_level_name(level).c_str());
      continue;
    }
    set_simd_level(level);
    for (size_t k = 0; k < specs.size(); ++k) {
      EXPECT_EQ(words(specs[k], 11, 2, 3001), base[k]) << specs[k] << " " << simd_level_name(level);
    }
  }
  set_simd_level(best);
}

// One xoshiro128++ stream is made in blocks of 4,096 words across the vector lanes (each lane a
// span of the block, started by a bit-matrix jump, the words transposed back): at every SIMD level,
// in one fill, in pieces across block boundaries, and by take(), the words equal xoshiro128plusplus.c
// stepped one word at a time (transcribed here).
TEST(Xoshiro128pp, BlocksAcrossTheLanesEqualTheReferenceCodeAtEveryLevel) {
  auto rotl = [](uint32_t x, int k) { return (x << k) | (x >> (32 - k)); };
  std::vector<uint32_t> ref(3 * 4096 + 777);
  uint32_t s[4] = {1, 2, 3, 4};
  for (auto& w : ref) {
    w = rotl(s[0] + s[3], 7) + s[0];
    const uint32_t t = s[1] << 9;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = rotl(s[3], 11);
  }
  at_every_simd_level([&] {
    auto g = make_generator("xoshiro128pp", 0, 0);
    g->load_state("xoshiro128pp 1 2 3 4 1 0");
    std::vector<uint32_t> whole(ref.size());
    g->fill(whole);
    EXPECT_EQ(whole, ref);
    g->load_state("xoshiro128pp 1 2 3 4 1 0");
    std::vector<uint32_t> pieces;
    for (size_t n : {size_t{5}, size_t{4096}, size_t{8187}, size_t{777}}) {  // blocks start mid-block
      std::vector<uint32_t> p(n);
      g->fill(p);
      pieces.insert(pieces.end(), p.begin(), p.end());
    }
    EXPECT_EQ(pieces, ref);
    g->load_state("xoshiro128pp 1 2 3 4 1 0");
    const auto take = g->take(static_cast<int64_t>(ref.size()));
    std::vector<uint32_t> taken(ref.size());
    take(0, std::span(taken).first(4096 * 2 + 3));  // two blocks straight, then from a block buffer
    take(4096 * 2 + 3, std::span(taken).subspan(4096 * 2 + 3));
    EXPECT_EQ(taken, ref);
  });
}

// Supply: bits of randomness per word a spec gives. Known answers from the definitions (an lfsr:W word
// is the low 32 bits of a W-bit state; the others output full 32-bit words), then checked against the
// words themselves: the OR of 4096 words sets exactly the low generator_random_bits(spec) bits.
TEST(Supply, GeneratorRandomBitsAreTheBitsTheWordsUse) {
  const std::pair<const char*, int> known[] = {{"lfsr:3", 3},       {"lfsr:8", 8},       {"lfsr:16:4", 16},
                                               {"lfsr:31", 31},     {"lfsr:32", 32},     {"lfsr:33", 32},
                                               {"lfsr:64:1", 32},   {"philox", 32},      {"mt19937", 32},
                                               {"xoshiro128pp", 32}, {"xoshiro128pp:16", 32}, {"xorshift32:16", 32}};
  for (const auto& [spec, bits] : known) {
    EXPECT_EQ(generator_random_bits(spec), bits) << spec;
    uint32_t any = 0;
    for (uint32_t w : words(spec, 11, 3, 4096)) any |= w;
    EXPECT_EQ(any, bits == 32 ? 0xffffffffu : (1u << bits) - 1u) << spec;
  }
  for (const char* bad : {"lfsr", "lfsr:2", "lfsr:65", "philox:2", "pcg32", ""}) {
    EXPECT_THROW(generator_random_bits(bad), Error) << bad;
  }
}

// GEN/R: word i is bits [R·(i mod k), R·(i mod k) + R) of the base's word i / k (k = 32/R), for the
// site's own stream, by fill and by take, continuing across a take that ends inside a base word; the
// reference sequence splits the base's; R random bits per word.
TEST(PackedWords, AreTheBaseWordsBitFieldsLowestFirst) {
  for (const char* base : {"philox", "xoshiro128pp", "lfsr:32", "lfsr:64:1", "mt19937", "xorshift32:8"}) {
    const std::vector<uint32_t> b = words(base, 7, 4, 4000);
    for (int bits : {1, 2, 4, 8, 16}) {
      const std::string spec = fmt::format("{}/{}", base, bits);
      SCOPED_TRACE(spec);
      const int per = 32 / bits;
      const uint32_t mask = (1u << bits) - 1;
      const size_t n = 4000 * static_cast<size_t>(per) - 5;  // more than the pieces below
      std::vector<uint32_t> expect(n);
      for (size_t i = 0; i < n; ++i) expect[i] = (b[i / static_cast<size_t>(per)] >> (bits * static_cast<int>(i % static_cast<size_t>(per)))) & mask;
      ASSERT_EQ(words(spec, 7, 4, n), expect);
      EXPECT_EQ(generator_random_bits(spec), bits);
      EXPECT_EQ(make_generator(spec, 7, 4)->name(), spec.starts_with("lfsr:32") ? fmt::format("lfsr:32/{}", bits) : spec);
      auto g = make_generator(spec, 7, 4);
      std::vector<uint32_t> got(n);
      size_t at = 0;
      for (size_t piece : {size_t{3}, static_cast<size_t>(per == 1 ? 0 : per - 1), size_t{1000}, size_t{1}, size_t{4097}}) {
        if (const RandomSource::IndexedWords take = g->take(static_cast<int64_t>(piece))) {
          take(0, std::span(got).subspan(at, piece));
        } else {
          g->fill(std::span(got).subspan(at, piece));
        }
        at += piece;
      }
      g->fill(std::span(got).subspan(at, n - at));
      EXPECT_EQ(got, expect);
    }
  }
  const auto ref = reference_sequence("lfsr:32/8", 3, 10);
  const auto lfsr = reference_sequence("lfsr:32", 3, 3);
  for (size_t i = 0; i < 10; ++i) EXPECT_EQ(ref[i], (lfsr[i / 4] >> (8 * (i % 4))) & 0xff) << i;
  EXPECT_EQ(reference_sequence("philox/16", 0, 2), (std::vector<uint64_t>{0xE8D5, 0x6627}));  // 0x6627E8D5
}

TEST(Specs, BadSpecsNameTheAllowedValues) {
  for (const char* bad : {"", "philox:2", "lfsr", "lfsr:2", "lfsr:65", "lfsr:32:3", "lfsr:32:128", "xoshiro128pp:0",
                          "xorshift32:x", "mt", "xoshiro128pp:4:4", "lfsr:32:16:1", "philox/3", "philox/32",
                          "philox/0", "philox/", "/8", "philox/8/2", "lfsr:16/8", "lfsr:31:4/1", "pcg/8"}) {
    try {
      make_generator(bad, 0, 0);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("allowed"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(lfsr_galois_mask(2), Error);
  EXPECT_EQ(make_generator("lfsr:32:16", 0, 0)->name(), "lfsr:32");
  EXPECT_EQ(make_generator("xoshiro128pp:1", 0, 0)->name(), "xoshiro128pp");
}

}  // namespace
}  // namespace rngfree::random
