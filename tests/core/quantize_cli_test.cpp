// `rngfree quantize` from the outside: values in, quantized values out (shortest round-trip
// decimal or C99 hex), bad lines rejected with their line number and a non-zero exit. Expected
// outputs are hand-derived from docs/formats.md. Skipped when the program is not built.
#include <gtest/gtest.h>

#include "support/cli.hpp"

#include <cstdio>
#include <filesystem>
#include <string>

namespace {

const std::string kProgram = rngfree::testing::rngfree_program();

struct Result {
  std::string output;
  int status;
};

// `input` uses printf-style escapes ("\\n") as the tests below write them.
Result run(const std::string& input, const std::string& args) {
  std::string text;
  for (size_t i = 0; i < input.size(); ++i) {
    if (input[i] == '\\' && i + 1 < input.size() && input[i + 1] == 'n') {
      text += '\n';
      ++i;
    } else {
      text += input[i];
    }
  }
  const auto r = rngfree::testing::run_rngfree("quantize " + args, &text);
  return {r.out, r.status};
}

class QuantizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(kProgram)) << kProgram << " is not built";
  }
};

TEST_F(QuantizeCli, NearestEvenDecimalAndHex) {
  // e4m3: 0.1f -> 13/128 = 0.1015625; 464 is a tie between 448 and 480 -> 448 (even); saturation.
  EXPECT_EQ(run("0.1\\n464\\n1e9\\n-0\\nnan\\n", "--format e4m3 --rounding nearest-even").output,
            "0.1015625\n448\n448\n-0\nnan\n");
  // bf16: 1 + 2^-8 is a tie -> 1; hex input and output.
  EXPECT_EQ(run("0x1.01p0\\n0x1.03p0\\n", "--format bf16 --rounding nearest-even --hex").output, "0x1p+0\n0x1.04p+0\n");
  // e4m3:ieee overflow is NaN; toward-zero gives max (IEEE 754 7.4).
  EXPECT_EQ(run("465\\n", "--format e4m3:ieee --rounding nearest-even").output, "nan\n");
  EXPECT_EQ(run("465\\n", "--format e4m3:ieee --rounding toward-zero").output, "448\n");
}

TEST_F(QuantizeCli, StochasticWithGivenWords) {
  // docs/formats.md worked examples: threshold r >= 3072 (bf16, R = 12) and r >= 19661 (fixed, R = 16).
  EXPECT_EQ(run("0x1.0c8p0 3071\\n0x1.0c8p0 3072\\n-0x1.0c8p0 3072\\n",
                "--format bf16 --rounding stochastic:12 --random given --hex").output,
            "0x1.0cp+0\n0x1.0ep+0\n-0x1.0ep+0\n");
  EXPECT_EQ(run("-2.3 19660\\n-2.3 19661\\n", "--format fixed:8:0 --rounding stochastic:16 --random given").output,
            "-3\n-2\n");
}

TEST_F(QuantizeCli, WholeInputIsOneSpan) {
  // fixed:8:dyn over 3, 0.1, -1.7, 0.015625: step 1/32.
  EXPECT_EQ(run("3\\n0.1\\n-1.7\\n0.015625\\n", "--format fixed:8:dyn --rounding nearest-even").output,
            "3\n0.09375\n-1.6875\n0\n");
}

TEST_F(QuantizeCli, ErrorsNameTheLineAndExitNonZero) {
  Result r = run("1.5\\nabc\\n", "--format bf16 --rounding nearest-even");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("line 2"), std::string::npos) << r.output;
  r = run("1.5 7\\n2.5 -1\\n", "--format bf16 --rounding stochastic:4 --random given");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("line 2"), std::string::npos) << r.output;
  r = run("1.5\\n", "--format bf16 --rounding stochastic:4");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("--random given"), std::string::npos) << r.output;
  r = run("1.5\\n", "--format fixed:40:0 --rounding up");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("word length WL = 40"), std::string::npos) << r.output;
  r = run("1.5\\n", "--format bf16 --rounding up --random philox9");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.output.find("given"), std::string::npos) << r.output;
}

}  // namespace
