// Bit-exact tables: every format family and rounding mode against tests/core/data/quantize_table.tsv,
// computed with exact rationals by tests/tools/gen_quantize_table.py from the definitions in
// docs/formats.md (not from this code). Each row names its edge case (ties, carry into the exponent,
// subnormal boundary, overflow and saturation, -0, NaN, infinities, SR thresholds). Both the fast
// kernels (quantize) and the reference (quantize_reference) must reproduce every row.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/quantize.hpp"
#include "support/step_exponent.hpp"

namespace rngfree {
namespace {

struct Row {
  int line;
  std::string format, rounding, comment;
  std::vector<float> inputs, expected;
  std::vector<uint32_t> words;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(s);
  while (std::getline(in, field, sep)) out.push_back(field);
  return out;
}

std::vector<float> parse_floats(const std::string& s) {
  std::vector<float> v;
  for (const std::string& t : split(s, ' ')) {
    char* end = nullptr;
    v.push_back(std::strtof(t.c_str(), &end));
    EXPECT_EQ(*end, '\0') << "bad float '" << t << "'";
  }
  return v;
}

std::vector<Row> load_table() {
  const std::string path = std::string(RNGFREE_SOURCE_DIR) + "/tests/core/data/quantize_table.tsv";
  std::ifstream file(path);
  EXPECT_TRUE(file.good()) << "cannot open " << path;
  std::vector<Row> rows;
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> f = split(line, '\t');
    EXPECT_EQ(f.size(), 6u) << path << ":" << number;
    if (f.size() != 6) continue;
    Row r{number, f[0], f[1], f[5], parse_floats(f[2]), parse_floats(f[4]), {}};
    for (const std::string& w : split(f[3], ' ')) r.words.push_back(static_cast<uint32_t>(std::stoul(w)));
    EXPECT_EQ(r.inputs.size(), r.expected.size()) << path << ":" << number;
    EXPECT_EQ(r.inputs.size(), r.words.size()) << path << ":" << number;
    rows.push_back(std::move(r));
  }
  return rows;
}

bool same(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) && std::signbit(a) == std::signbit(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

using rngfree::testing::independent_step_exponent;

TEST(QuantizeTable, CoversEveryFamilyAndMode) {
  const std::vector<Row> rows = load_table();
  ASSERT_GT(rows.size(), 1000u);
  std::map<std::string, int> seen;
  for (const Row& r : rows) {
    const Format f = Format::parse(r.format);
    const Rounding m = Rounding::parse(r.rounding);
    seen[std::to_string(static_cast<int>(f.kind)) + "/" + std::to_string(static_cast<int>(m.kind))]++;
  }
  EXPECT_EQ(seen.size(), 4u * 6u) << "every format kind x rounding kind";
}

TEST(QuantizeTable, FastKernelsMatchEveryRow) {
  int failures = 0;
  for (const Row& r : load_table()) {
    const Format format = Format::parse(r.format);
    const Rounding rounding = Rounding::parse(r.rounding);
    std::vector<float> out(r.inputs.size());
    quantize(r.inputs, out, format, rounding, r.words);
    for (size_t i = 0; i < out.size(); ++i) {
      if (!same(out[i], r.expected[i]) && ++failures <= 20) {
        ADD_FAILURE() << "line " << r.line << ": " << r.format << " " << r.rounding << " [" << r.comment << "] x="
                      << std::hexfloat << r.inputs[i] << " word=" << r.words[i] << " got " << out[i] << " expected "
                      << r.expected[i];
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(QuantizeTable, ReferenceMatchesEveryRow) {
  int failures = 0;
  for (const Row& r : load_table()) {
    const Format format = Format::parse(r.format);
    const Rounding rounding = Rounding::parse(r.rounding);
    const int64_t block = format.kind == FormatKind::kBlockFloat ? format.block_size : static_cast<int64_t>(r.inputs.size());
    for (size_t i = 0; i < r.inputs.size(); ++i) {
      int se = 0;
      if (format.kind == FormatKind::kFixedDynamic || format.kind == FormatKind::kBlockFloat) {
        const size_t begin = i / block * block;
        se = independent_step_exponent(std::span<const float>(r.inputs).subspan(begin, std::min<size_t>(block, r.inputs.size() - begin)), format);
      }
      const float got = quantize_reference(r.inputs[i], format, rounding, r.words[i], se);
      if (!same(got, r.expected[i]) && ++failures <= 20) {
        ADD_FAILURE() << "line " << r.line << ": " << r.format << " " << r.rounding << " [" << r.comment << "] x="
                      << std::hexfloat << r.inputs[i] << " word=" << r.words[i] << " got " << got << " expected "
                      << r.expected[i];
      }
    }
  }
  EXPECT_EQ(failures, 0);
}

}  // namespace
}  // namespace rngfree
