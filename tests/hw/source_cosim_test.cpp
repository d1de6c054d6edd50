// Co-simulation of the random sources (hw/rtl/lfsr_galois.v for every W = 3..64, xorshift32.v,
// xoshiro128pp.v, philox_unrolled.v, philox_serial.v, through hw/sim/cosim_sources.v): loaded with the
// states docs/random.md's seeding defines, each one's first 10^5 words equal the library's stream
// for the same seed (rngfree::random::reference_sequence / make_generator, what `rngfree random` prints).
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "Vcosim_sources.h"
#include "rngfree/random/random_source.hpp"
#include "verilated.h"

namespace rngfree::hw_test {
namespace {

constexpr int64_t kWords = 100'000;

std::vector<uint32_t> library_words(const std::string& spec, uint64_t seed, uint64_t site, int64_t count) {
  std::vector<uint32_t> w(static_cast<size_t>(count));
  random::make_generator(spec, seed, site)->fill(w);
  return w;
}

void set_wide(VlWide<4>& port, uint64_t lo, uint64_t hi) {
  port[0] = static_cast<uint32_t>(lo);
  port[1] = static_cast<uint32_t>(lo >> 32);
  port[2] = static_cast<uint32_t>(hi);
  port[3] = static_cast<uint32_t>(hi >> 32);
}

class SourceCosim : public ::testing::TestWithParam<std::pair<uint64_t, uint64_t>> {};

TEST_P(SourceCosim, FirstHundredThousandWordsEqualTheLibrary) {
  const auto [seed, site] = GetParam();
  // docs/random.md's seeding: SplitMix64 of the site's seed; Philox: key = seed, counter = site << 64.
  random::SplitMix64 sm(random::site_seed(seed, site));
  const uint64_t z1 = sm.next(), z2 = sm.next();
  ASSERT_NE(z1 & 7, 0u) << "this seed's LFSR state would be replaced by 1 for W = 3; pick another seed";
  ASSERT_NE(static_cast<uint32_t>(z1), 0u);

  VerilatedContext context;
  Vcosim_sources m(&context);
  m.lfsr_seed = z1;
  m.xorshift_seed = static_cast<uint32_t>(z1);
  set_wide(m.xoshiro_seed, z1, z2);  // s0 = lo32(z1), s1 = hi32(z1), s2 = lo32(z2), s3 = hi32(z2)
  m.philox_key = seed;
  set_wide(m.philox_counter, 0, site);
  const auto clock = [&] {
    m.clk = 0;
    m.eval();
    m.clk = 1;
    m.eval();
  };
  m.load = 1;
  m.en = 0;
  clock();
  m.load = 0;

  std::vector<std::vector<uint64_t>> lfsr(62, std::vector<uint64_t>(kWords));
  std::vector<uint32_t> xorshift(kWords), xoshiro(kWords), philox, philox_serial;
  for (int64_t t = 0; philox_serial.size() < static_cast<size_t>(kWords); ++t) {
    const bool stepping = t < kWords;
    if (stepping) xoshiro[t] = m.xoshiro_word;  // combinational from the state: this step's word
    if (philox.size() < static_cast<size_t>(kWords)) {
      for (int j = 0; j < 4; ++j) philox.push_back(m.philox_block[j]);
    }
    m.en = stepping;
    clock();
    if (m.philox_serial_valid) {
      for (int j = 0; j < 4; ++j) philox_serial.push_back(m.philox_serial_block[j]);
    }
    if (stepping) {  // LFSR and xorshift32: the word is the state after the step
      xorshift[t] = m.xorshift_word;
      for (int w = 3; w <= 64; ++w) {
        const int slot = w - 3;
        lfsr[slot][t] = uint64_t{m.lfsr_state[2 * slot]} | uint64_t{m.lfsr_state[2 * slot + 1]} << 32;
      }
    }
  }
  philox.resize(kWords);
  philox_serial.resize(kWords);

  int64_t compared = 0;
  for (int w = 3; w <= 64; ++w) {
    const std::string spec = "lfsr:" + std::to_string(w) + ":1";
    // lane 0's W-bit states; for a site != 0 the library seeds from site_seed (as done above)
    std::vector<uint64_t> want = random::reference_sequence(spec, random::site_seed(seed, site), kWords);
    ASSERT_EQ(lfsr[w - 3], want) << spec;
    // and the words the library hands to SR are their low 32 bits
    const std::vector<uint32_t> words = library_words(spec, seed, site, 64);
    for (int t = 0; t < 64; ++t) ASSERT_EQ(words[t], static_cast<uint32_t>(want[t])) << spec;
    compared += kWords;
  }
  EXPECT_EQ(xorshift, library_words("xorshift32", seed, site, kWords));
  EXPECT_EQ(xoshiro, library_words("xoshiro128pp", seed, site, kWords));
  EXPECT_EQ(philox, library_words("philox", seed, site, kWords));
  EXPECT_EQ(philox_serial, library_words("philox", seed, site, kWords));
  compared += 4 * kWords;
  std::printf("[cosim] sources seed %llu site %llu: %lld words compared (62 LFSR widths, xorshift32, xoshiro128++, "
              "Philox unrolled and round-serial)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(site),
              static_cast<long long>(compared));
}

INSTANTIATE_TEST_SUITE_P(Seeds, SourceCosim,
                         ::testing::Values(std::pair<uint64_t, uint64_t>{2026, 0},
                                           std::pair<uint64_t, uint64_t>{0x0123456789abcdefull, 7}));

}  // namespace
}  // namespace rngfree::hw_test
