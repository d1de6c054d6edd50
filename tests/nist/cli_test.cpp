// `rngfree nist` from outside: on data.e (n = 1,000,000) its --tsv file holds exactly the 188
// P-values that STS 2.1.2 prints (shared/nist e_pvalues.tsv, 1e-9 relative), with the documented
// header; a bad character is an error naming its position and the exit status is non-zero; on 800
// random bits the tests whose SP 800-22 size recommendations fail are "not applicable", never FAIL.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include "support/cli.hpp"

namespace {

using rngfree::testing::run_rngfree;

std::string last_field(const std::string& sub_test) { return sub_test.substr(sub_test.rfind(';') + 1); }

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> cols;
  std::stringstream ss(line);
  for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
  return cols;
}

TEST(NistCommand, TsvOfDataEMatchesSts212) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const std::string data = std::string(RNGFREE_SHARED_DIR) + "/nist/data.e";
  const auto tsv = (std::filesystem::temp_directory_path() / "rngfree_nist_cli_e.tsv").string();
  const auto r = run_rngfree("nist " + data + " -n 1000000 --tsv " + tsv);
  ASSERT_EQ(r.status, 0) << r.out;

  std::map<std::pair<std::string, std::string>, double> expected;
  std::ifstream ref(std::string(RNGFREE_SHARED_DIR) + "/nist/e_pvalues.tsv");
  std::string line;
  std::getline(ref, line);  // header
  while (std::getline(ref, line)) {
    const auto c = split_tabs(line);
    ASSERT_GE(c.size(), 4u) << line;
    expected[{c[1], last_field(c[2])}] = std::stod(c[3]);
  }
  ASSERT_EQ(expected.size(), 188u);

  std::ifstream got(tsv);
  ASSERT_TRUE(std::getline(got, line));
  EXPECT_EQ(line, "sequence\ttest\tsub_test\tp_value");
  size_t matched = 0;
  while (std::getline(got, line)) {
    const auto c = split_tabs(line);
    ASSERT_EQ(c.size(), 4u) << line;
    EXPECT_EQ(c[0], "0");
    const auto it = expected.find({c[1], last_field(c[2])});
    ASSERT_NE(it, expected.end()) << "unexpected row " << line;
    const double p = std::stod(c[3]);
    EXPECT_NEAR(p, it->second, 1e-9 * it->second) << line;
    ++matched;
  }
  EXPECT_EQ(matched, 188u);
  std::filesystem::remove(tsv);
}

// Numeric flags out of range are refused naming the flag, the value and the range (SP 800-22's
// limits for the block lengths), before any input is read; so is a total beyond 2^64 bits.
TEST(NistCommandLong, NumericFlagsOutOfRangeAreRefusedNamingFlagValueAndRange) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const std::string input = "0101";
  const std::pair<std::string, std::string> cases[] = {
      {"--streams 0", "--streams 0: allowed 1..18446744073709551615"},
      {"-n -1", "--bits -1: allowed 0..18446744073709551615 (0: all input bits / streams)"},
      {"--threads 2000", "--threads 2000: allowed 0..1024 (0: all cores)"},
      {"--block-frequency-m 0", "--block-frequency-m 0: allowed 1..18446744073709551615"},
      {"--non-overlapping-m 22", "--non-overlapping-m 22: allowed 2..21"},
      {"--overlapping-m 33", "--overlapping-m 33: allowed 1..32"},
      {"--approximate-entropy-m 0", "--approximate-entropy-m 0: allowed 1..23"},
      {"--serial-m 25", "--serial-m 25: allowed 2..24"},
      {"--linear-complexity-m 1", "--linear-complexity-m 1: allowed 2..100000"},
      {"-n 4294967296 --streams 4294967296",
       "--bits 4294967296 x --streams 4294967296: more than 2^64 bits in all; allowed: a product below 2^64"},
  };
  for (const auto& [flags, message] : cases) {
    const auto r = run_rngfree("nist - " + flags, &input);
    EXPECT_EQ(r.status, 2) << flags;
    EXPECT_EQ(r.out, "rngfree: error: " + message + "\n") << flags;
  }
}

TEST(NistCommand, BadCharacterIsAnErrorNamingItsPosition) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const std::string input = "0101x01";
  const auto r = run_rngfree("nist -", &input);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("position 4"), std::string::npos) << r.out;
}

TEST(NistCommand, ShortSequenceMarksInapplicableTestsAndDoesNotFailThem) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  // 800 bits of a fixed seeded generator (std::mt19937_64 is specified bit for bit by the standard).
  // Before the size rules, 14 NonOverlappingTemplate rows (mean count 0.18 per block) and others failed.
  std::mt19937_64 gen(800);
  std::string bits;
  for (int i = 0; i < 800; ++i) bits += static_cast<char>('0' + (gen() >> 63));
  const auto dir = std::filesystem::temp_directory_path() / ("rngfree_nist_short_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string input = (dir / "bits.txt").string(), json = (dir / "r.json").string(), tsv = (dir / "r.tsv").string();
  std::ofstream(input) << bits;
  const auto r = run_rngfree("nist " + input + " --json " + json + " --tsv " + tsv);
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(json));
  const auto& sum = j.at("summary");
  // Applicable at n = 800 (SP 800-22 2.x.7): Frequency, BlockFrequency (M = 128 >= 20), CumulativeSums
  // (2 rows), Runs, LongestRun (M = 8 needs 128 bits): 6 of the 188 rows.
  const std::set<std::string> applicable = {"Frequency", "BlockFrequency", "CumulativeSums", "Runs", "LongestRun"};
  EXPECT_EQ(sum.at("rows_judged"), 6u);
  EXPECT_EQ(sum.at("rows_not_applicable"), 182u);
  for (const auto& row : sum.at("rows")) {
    const std::string test = row.at("test");
    EXPECT_EQ(row.at("applicable").get<bool>(), applicable.count(test) == 1) << test;
    if (!row.at("applicable").get<bool>()) {
      EXPECT_TRUE(row.at("ok").get<bool>()) << test << " " << row.at("sub_test");
      EXPECT_EQ(row.at("sequences"), 0u);
      EXPECT_FALSE(row.at("not_applicable_reason").get<std::string>().empty()) << test;
    }
  }
  for (const auto& t : sum.at("tests")) {
    if (applicable.count(t.at("test")) == 0) {
      EXPECT_EQ(t.at("rows_failed"), 0u) << t.at("test");
    }
  }
  // This seed's six P-values are all above 0.01, so nothing fails and the verdict is PASS.
  EXPECT_EQ(sum.at("rows_failed"), 0u);
  EXPECT_TRUE(sum.at("ok").get<bool>());
  EXPECT_NE(r.out.find("NonOverlappingTemplate (148 sub-tests, not applicable)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Overall: PASS: 0 of 6 judged P-value rows failed (182 rows not applicable)"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
  std::ifstream t(tsv);
  uint64_t na = 0, rows = 0;
  for (std::string line; std::getline(t, line);) {
    if (line.rfind("sequence", 0) == 0) continue;
    ++rows;
    na += split_tabs(line).back() == "NA";
  }
  EXPECT_EQ(rows, 188u);
  EXPECT_EQ(na, 182u);
  std::filesystem::remove_all(dir);
}

}  // namespace
