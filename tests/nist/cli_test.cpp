// `rngfree nist` from outside: on data.e (n = 1,000,000) its --tsv file holds exactly the 188
// P-values that STS 2.1.2 prints (shared/nist e_pvalues.tsv, 1e-9 relative), with the documented
// header; a bad character is an error naming its position and the exit status is non-zero.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
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
  if (!rngfree::testing::rngfree_built()) GTEST_SKIP() << "rngfree not built in " << RNGFREE_BINARY_DIR;
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

TEST(NistCommand, BadCharacterIsAnErrorNamingItsPosition) {
  if (!rngfree::testing::rngfree_built()) GTEST_SKIP() << "rngfree not built in " << RNGFREE_BINARY_DIR;
  const std::string input = "0101x01";
  const auto r = run_rngfree("nist -", &input);
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("position 4"), std::string::npos) << r.out;
}

}  // namespace
