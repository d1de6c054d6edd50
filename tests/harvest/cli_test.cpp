// `rngfree harvest` from outside: raw little-endian FP32 in, MSB-first bit stream out, checked on
// values whose IEEE-754 patterns are known (0.1f = 0x3DCCCCCD, pi = 0x40490FDB), with each --mix;
// file errors name the file. Skipped (with a message) when the rngfree program has not been built.
#include <gtest/gtest.h>

#include "support/cli.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <string>
#include <vector>

namespace {

auto run(const std::string& args) { return rngfree::testing::run_rngfree(args); }

std::vector<unsigned char> read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(HarvestCommand, WritesTheFieldBitsMsbFirst) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const auto dir = std::filesystem::temp_directory_path() / ("rngfree_harvest_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string tap = (dir / "tap.f32").string(), bits = (dir / "bits.bin").string();
  {
    // 0.1f, +0, pi, -0 as little-endian bytes
    const std::string raw("\xCD\xCC\xCC\x3D\x00\x00\x00\x00\xDB\x0F\x49\x40\x00\x00\x00\x80", 16);
    std::ofstream(tap, std::ios::binary) << raw;
  }
  auto r = run("harvest --from " + tap + " --bits 0-15 --skip-zeros --mix none --out " + bits);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0xCC, 0xCD, 0x0F, 0xDB}));
  r = run("harvest --from " + tap + " --bits 0-3 --mix none --out " + bits);  // keep zeros: D 0 B 0
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0xD0, 0xB0}));
  r = run("harvest --from " + tap + " --bits 0-15 --fold 2 --mix none --out " + bits);  // (0.1 ^ pi), (0 ^ 0)
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0xCC ^ 0x0F, 0xCD ^ 0xDB, 0, 0}));
  // --mix field at bits 0-3: fields D 0 B 0 -> mix_field(., 4) = 1 C 8 C (Python's exact integers)
  r = run("harvest --from " + tap + " --bits 0-3 --mix field --out " + bits);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0x1C, 0x8C}));
  // --whiten = --mix whiten32: the low 4 bits of whiten_word: A 0 9 0
  r = run("harvest --from " + tap + " --bits 0-3 --whiten --out " + bits);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0xA0, 0x90}));
  r = run("harvest --from " + tap + " --bits 0-3 --mix whiten32 --out " + bits);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0xA0, 0x90}));
  r = run("harvest --from " + tap + " --bits 0-3 --whiten --mix field --out " + bits);  // contradictory
  EXPECT_NE(r.status, 0);
  // A trailing partial byte is written, padded with zero bits (as training's dump): fields 5 0 3 0 of
  // bits 0-2 -> 101 000 011 000 -> 1010 0001 1000 (0000).
  r = run("harvest --from " + tap + " --bits 0-2 --mix none --out " + bits);
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(read_all(bits), (std::vector<unsigned char>{0xA1, 0x80}));
  // The defaults are training's extractor ([quant.harvest] bits = "8-23", mix = "field").
  const std::string defaults_bits = (dir / "defaults.bin").string();
  ASSERT_EQ(run("harvest --from " + tap + " --out " + defaults_bits).status, 0);
  ASSERT_EQ(run("harvest --from " + tap + " --bits 8-23 --mix field --out " + bits).status, 0);
  EXPECT_EQ(read_all(defaults_bits), read_all(bits));
  ASSERT_EQ(run("harvest --from " + tap + " --bits 0-15 --mix field --out " + bits).status, 0);
  EXPECT_NE(read_all(defaults_bits), read_all(bits));  // the comparison can fail
  r = run("harvest --from " + tap + " --bits 0-3 --mix bogus --out " + bits);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("bogus"), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(HarvestCommand, FileErrorsNameTheFile) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  auto r = run("harvest --from /nonexistent/tap.f32 --out /tmp/never.bin");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("/nonexistent/tap.f32"), std::string::npos) << r.out;
  const auto odd = std::filesystem::temp_directory_path() / ("rngfree_odd_" + std::to_string(::getpid()) + ".f32");
  std::ofstream(odd, std::ios::binary) << "abcde";  // 5 bytes: not whole FP32 values
  r = run("harvest --from " + odd.string() + " --out /tmp/never.bin");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find(odd.string()), std::string::npos) << r.out;
  std::filesystem::remove(odd);
}

TEST(HarvestCommand, BadBitFieldIsAnErrorNamingTheField) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  // A valid input (two whole FP32 values), so the only thing wrong is the field: LO > HI.
  const auto dir = std::filesystem::temp_directory_path() / ("rngfree_harvest_field_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string tap = (dir / "tap.f32").string(), bits = (dir / "bits.bin").string();
  std::ofstream(tap, std::ios::binary) << std::string("\xCD\xCC\xCC\x3D\xDB\x0F\x49\x40", 8);
  ASSERT_EQ(run("harvest --from " + tap + " --bits 3-9 --out " + bits).status, 0);  // the same input is readable
  std::filesystem::remove(bits);
  const auto r = run("harvest --from " + tap + " --bits 9-3 --out " + bits);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--bits '9-3'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LO <= HI"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(bits));
  std::filesystem::remove_all(dir);
}

TEST(HarvestCommand, FoldOutOfRangeIsRefusedNamingTheRange) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const auto r = run("harvest --from /nonexistent/tap.f32 --fold 0 --out /tmp/never.bin");
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.out, "rngfree: error: --fold 0: allowed 1..9223372036854775807\n") << "the flag, before the file";
}

}  // namespace
