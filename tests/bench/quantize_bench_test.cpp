// rngfree bench quantize's word sources (src/bench/quantize.cpp): the take:G rows round with the
// words a training site would take from generator G — one stream by index, the same for any thread
// count — and successive timed calls continue that stream.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "rngfree/bench/quantize.hpp"
#include "rngfree/format.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/rounding.hpp"

namespace rngfree::bench {
namespace {

const QuantizeBenchSource& source_named(const std::vector<QuantizeBenchSource>& sources, const std::string& name) {
  for (const auto& s : sources) {
    if (s.name == name) return s;
  }
  throw std::runtime_error("no bench source " + name);
}

std::vector<float> round_with(const std::vector<float>& in, const RandomFill& fill, int threads) {
  std::vector<float> out(in.size());
  quantize_with_source(in, out, Format::parse("bfp:7:32"), Rounding::parse("stochastic:8"), fill, {.threads = threads});
  return out;
}

bool same(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Above quantize's parallel threshold and not a multiple of its chunks (2 threads split the span),
// and 1 mod 4 (a second call of 8-bit words starts inside a 32-bit word): N(0, 1) values.
constexpr size_t kN = (size_t{1} << 17) + 77;
std::vector<float> normal_input(unsigned seed) {
  std::vector<float> in(kN);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& x : in) x = normal(rng);
  return in;
}

TEST(QuantizeBenchSources, TakeRowsRoundWithTheGeneratorsStreamForAnyThreadCount) {
  const size_t n = kN;
  const std::vector<float> in = normal_input(3);
  for (const std::string g : {"philox", "xoshiro128pp", "lfsr:32"}) {
    // Fresh sources, one thread: the row `g` is thread 0's stream filled in order (philox: its
    // words by index, the same at every call — the second call's are those from n on).
    const auto reference = quantize_bench_sources(in);
    const RandomFill& fill = source_named(reference, g).fill;
    const std::vector<float> first = round_with(in, fill, 1);
    const RandomFill from_n = [&](int64_t at, std::span<uint32_t> words) { fill(at + static_cast<int64_t>(n), words); };
    const std::vector<float> second = round_with(in, g == "philox" ? from_n : fill, 1);
    ASSERT_FALSE(same(first, second)) << g << ": the stream must move on between calls";
    for (const int threads : {1, 2, 3}) {
      const auto sources = quantize_bench_sources(in);
      const QuantizeBenchSource& taken = source_named(sources, "take:" + g);
      ASSERT_TRUE(taken.take) << g;
      EXPECT_TRUE(same(round_with(in, taken.take(), threads), first)) << g << ", " << threads << " threads, call 1";
      EXPECT_TRUE(same(round_with(in, taken.take(), threads), second)) << g << ", " << threads << " threads, call 2";
    }
  }
}

// take:G/8: each word of G's stream gives four words of 8 bits, lowest byte first, for rounding
// with stochastic:8; the second call starts inside a word (n = 1 mod 4).
TEST(QuantizeBenchSources, PackedTakeRowsSplitEachGeneratorWordIntoFourBytes) {
  const size_t n = kN;
  const std::vector<float> in = normal_input(4);
  for (const std::string g : {"philox", "xoshiro128pp", "lfsr:32"}) {
    std::vector<uint32_t> base(n / 2 + 2);  // 2n + 8 bytes: both calls' words
    source_named(quantize_bench_sources(in), g).fill(0, base);
    const auto bytes_from = [&base](int64_t offset) -> RandomFill {
      return [&base, offset](int64_t at, std::span<uint32_t> words) {
        for (size_t k = 0; k < words.size(); ++k) {
          const auto i = static_cast<size_t>(offset + at) + k;
          words[k] = (base[i / 4] >> (8 * (i % 4))) & 0xffu;
        }
      };
    };
    const std::vector<float> first = round_with(in, bytes_from(0), 1);
    const std::vector<float> second = round_with(in, bytes_from(static_cast<int64_t>(n)), 1);
    ASSERT_FALSE(same(first, second)) << g;
    for (const int threads : {1, 2, 3}) {
      const auto sources = quantize_bench_sources(in);
      const QuantizeBenchSource& taken = source_named(sources, "take:" + g + "/8");
      ASSERT_TRUE(taken.take) << g;
      EXPECT_EQ(taken.random_bits, 8) << g;
      EXPECT_TRUE(same(round_with(in, taken.take(), threads), first)) << g << ", " << threads << " threads, call 1";
      EXPECT_TRUE(same(round_with(in, taken.take(), threads), second)) << g << ", " << threads << " threads, call 2";
    }
  }
}

}  // namespace
}  // namespace rngfree::bench
