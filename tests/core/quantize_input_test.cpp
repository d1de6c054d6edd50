// parse_quantize_lines: `rngfree quantize`'s input as the library reads it — values parsed to the
// nearest FP32 as C's strtof does (the expected bit patterns are hand-derived), words as 32-bit
// decimals, every bad line refused with its line number and what was expected.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>

#include "rngfree/quantize_input.hpp"
#include "support/errors.hpp"

namespace rngfree {
namespace {

using testing::error_of;

TEST(QuantizeInput, ValuesAreTheNearestFp32) {
  const QuantizeInput in = parse_quantize_lines(" 0.1 \n0x1.8p1\r\n-0\n1e39\n1e-46\nnan\n-inf", false);
  ASSERT_EQ(in.values.size(), 7u);
  EXPECT_EQ(std::bit_cast<uint32_t>(in.values[0]), 0x3DCCCCCDu);  // 0.1 rounds up to 13421773 * 2^-27
  EXPECT_EQ(in.values[1], 3.0f);
  EXPECT_TRUE(std::signbit(in.values[2]) && in.values[2] == 0.0f);
  EXPECT_EQ(in.values[3], INFINITY);                                // overflow: +inf
  EXPECT_EQ(in.values[4], 0.0f);                                    // below half the smallest subnormal
  EXPECT_TRUE(std::isnan(in.values[5]));
  EXPECT_EQ(in.values[6], -INFINITY);
  EXPECT_TRUE(in.words.empty());
  EXPECT_TRUE(parse_quantize_lines("", false).values.empty());
}

TEST(QuantizeInput, WordsAreUnsigned32BitDecimals) {
  const QuantizeInput in = parse_quantize_lines("1 0\n2\t4294967295\n", true);
  EXPECT_EQ(in.values, (std::vector<float>{1, 2}));
  EXPECT_EQ(in.words, (std::vector<uint32_t>{0, 4294967295u}));
  EXPECT_NE(error_of([] { parse_quantize_lines("1 4294967296\n", true); }).find("line 1: random word '4294967296'"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_quantize_lines("1 -1\n", true); }).find("0..4294967295"), std::string::npos);
  EXPECT_NE(error_of([] { parse_quantize_lines("1 2\n3\n", true); }).find("line 2: the random word is missing"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_quantize_lines("1 2 3\n", true); }).find("extra fields"), std::string::npos);
}

TEST(QuantizeInput, BadLinesNameTheirNumber) {
  EXPECT_NE(error_of([] { parse_quantize_lines("1\n\n2\n", false); }).find("line 2: empty"), std::string::npos);
  EXPECT_NE(error_of([] { parse_quantize_lines("1\n2\n0x\n", false); }).find("line 3: '0x' is not a number"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_quantize_lines("1 5\n", false); }).find("random words need --random given"),
            std::string::npos);
  // A NUL byte inside a value is not a number (strtof would stop there).
  EXPECT_NE(error_of([] { parse_quantize_lines(std::string_view("1\0002\n", 4), false); }).find("line 1"),
            std::string::npos);
}

}  // namespace
}  // namespace rngfree
