// `rngfree random` from outside: the printed words are the published known answers (Random123's
// Philox KAT, the C++ standard's mt19937 10000th output, the xoshiro128++ reference via
// tests/tools/random_reference.py), and a bad --source fails with a message naming the allowed
// values. Skipped (with a message) when the rngfree program has not been built.
#include <gtest/gtest.h>

#include "support/cli.hpp"

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using rngfree::testing::run_rngfree;
std::vector<std::string> lines(const std::string& s) { return rngfree::testing::split_lines(s); }
auto run(const std::string& args) { return run_rngfree(args); }

TEST(RandomCommand, PrintsKnownAnswers) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  auto r = run("random --source philox --seed 0 --count 4");
  ASSERT_EQ(r.status, 0) << r.out;
  // 0x6627e8d5 0xe169c58d 0xbc57ac4c 0x9b00dbd8 in decimal
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"1713891541", "3781805453", "3159862348", "2600524760"}));
  r = run("random --source mt19937 --seed 5489 --count 10000");
  ASSERT_EQ(r.status, 0);
  EXPECT_EQ(lines(r.out).back(), "4123659995");
  r = run("random --source xoshiro128pp:16 --seed 0 --count 2");  // lane 0 = the single stream
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"1179900579", "1938959192"}));
  r = run("random --source lfsr:8 --seed 0 --count 2");  // 0xaf -> 0xef -> 0xcf (mask 0xb8)
  EXPECT_EQ(lines(r.out), (std::vector<std::string>{"239", "207"}));
}

TEST(RandomCommand, BadSourceFailsNamingTheAllowedValues) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const auto r = run("random --source lfsr:99 --count 1");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("3..64"), std::string::npos) << r.out;
}

// --seed is unsigned 64-bit: "-5" is refused, not wrapped to 2^64 - 5 as CLI11 and strtoull do.
TEST(RandomCommand, NegativeSeedAndCountAreRefusedNamingTheRange) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  auto r = run("random --source philox --seed -5 --count 1");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "rngfree: error: --seed -5: allowed 0..18446744073709551615\n");
  r = run("random --source philox --count -1");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "rngfree: error: --count -1: allowed 0..9223372036854775807\n");
}

}  // namespace
