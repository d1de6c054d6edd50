// BitSequence: ASCII parsing (whitespace ignored, other characters rejected with their position),
// bytes most significant bit first, word-level reads and popcounts against bit-by-bit counting.
#include <gtest/gtest.h>

#include <random>

#include "rngfree/error.hpp"
#include "rngfree/nist/bit_sequence.hpp"
#include "support/errors.hpp"

namespace rngfree::nist {
namespace {

TEST(NistBitSequence, AsciiIgnoresWhitespaceAndRejectsOtherCharacters) {
  const BitSequence s = BitSequence::from_ascii(" 10\n1 1\t0\r\n");
  EXPECT_EQ(s.to_string(), "10110");
  EXPECT_EQ(BitSequence::from_ascii("1 0 1 1 1", 3).to_string(), "101");
  try {
    BitSequence::from_ascii("0101 01x1");
    FAIL() << "no error for 'x'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("position 7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(BitSequence::from_ascii("0120"), Error);
  EXPECT_TRUE(BitSequence::from_ascii("").empty());
}

TEST(NistBitSequence, BytesAreMostSignificantBitFirst) {
  const uint8_t bytes[] = {0xA0, 0x0F, 0xFF};
  EXPECT_EQ(BitSequence::from_bytes(bytes).to_string(), "101000000000111111111111");
  EXPECT_EQ(BitSequence::from_bytes(bytes, 11).to_string(), "10100000000");
  EXPECT_THROW(BitSequence::from_bytes(bytes, 25), Error);
  EXPECT_EQ(BitSequence::from_bytes(std::string_view("\xA0\x0F", 2)).to_string(), "1010000000001111");
  EXPECT_EQ(BitSequence::from_bytes(std::string_view("\xA0\x0F", 2), 3).to_string(), "101");
  const uint8_t bits[] = {1, 0, 1};
  EXPECT_EQ(BitSequence::from_bits(bits).to_string(), "101");
  const uint8_t bad[] = {1, 2};
  EXPECT_THROW(BitSequence::from_bits(bad), Error);
  const uint64_t words[] = {0x8000000000000001ULL};
  EXPECT_EQ(BitSequence::from_words(words, 64).count_ones(), 2u);
  EXPECT_EQ(BitSequence::from_words(words, 63).count_ones(), 1u);
}

TEST(NistBitSequence, WordReadsAndPopcountsMatchBitByBit) {
  std::mt19937_64 gen(42);
  std::vector<uint8_t> bits(1000);
  for (auto& b : bits) b = gen() & 1;
  const BitSequence s = BitSequence::from_bits(bits);
  for (uint64_t begin : {0u, 1u, 63u, 64u, 65u, 500u, 999u}) {
    for (uint64_t len : {0u, 1u, 5u, 63u, 64u, 65u, 130u, 500u}) {
      if (begin + len > bits.size()) continue;
      uint64_t ones = 0;
      for (uint64_t i = begin; i < begin + len; ++i) ones += bits[i];
      EXPECT_EQ(s.count_ones(begin, len), ones) << begin << "+" << len;
      EXPECT_EQ(s.slice(begin, len).count_ones(), ones);
    }
    uint64_t word = 0;
    for (uint64_t i = 0; i < 64; ++i) word = (word << 1) | (begin + i < bits.size() ? bits[begin + i] : 0);
    EXPECT_EQ(s.bits64(begin), word) << begin;
  }
}

TEST(NistReadSequences, AsciiAndBinaryCutIntoStreams) {
  const auto a = read_sequences("0101 1100\n11", BitInput::kAscii, 0, 2, "f.txt");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].to_string(), "01011");
  EXPECT_EQ(a[1].to_string(), "10011");
  const auto b = read_sequences(std::string_view("\xF0\x0F\xAA", 3), BitInput::kBinary, 8, 3, "f.bin");
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[2].to_string(), "10101010");
  // -n with ASCII stops reading after n x streams bits: a bad character after them is never seen.
  EXPECT_EQ(read_sequences("0101x", BitInput::kAscii, 2, 2, "f.txt")[1].to_string(), "01");
}

TEST(NistReadSequences, TooFewBitsAndBadInputAreRefusedNamingTheSource) {
  EXPECT_NE(testing::error_of([] { read_sequences("01x", BitInput::kAscii, 0, 1, "bits.txt"); }).find("bits.txt: "),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { read_sequences("", BitInput::kBinary, 0, 1, "empty.bin"); })
                .find("empty.bin: no bits to test"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { read_sequences("0101", BitInput::kAscii, 3, 2, "f.txt"); })
                .find("-n 3 x --streams 2 needs 6 bits, but f.txt has only 4"),
            std::string::npos);
  EXPECT_NE(testing::error_of([] { read_sequences("0101", BitInput::kAscii, 1, 0, "f.txt"); }).find("--streams = 0"),
            std::string::npos);
}

// Regression: n x streams past 2^64 wrapped around, so a small product passed the size check and
// slicing ran past the end (an internal check failure instead of an error for the user).
TEST(NistReadSequences, ProductPast64BitsIsRefusedNotWrapped) {
  const std::string msg = testing::error_of(
      [] { read_sequences("0101010101", BitInput::kAscii, uint64_t{1} << 62, 8, "f.txt"); });
  EXPECT_NE(msg.find("needs more than 2^64 bits, but f.txt has only"), std::string::npos) << msg;
}

}  // namespace
}  // namespace rngfree::nist
