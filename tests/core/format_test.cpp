// Format and rounding specs: parsing, canonical names, published limits of the named formats
// (IEEE 754 binary16, bfloat16, TF32, OCP OFP8 E5M2/E4M3FN), and errors that name the field, the
// value and the allowed range.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "rngfree/error.hpp"
#include "rngfree/format.hpp"
#include "rngfree/rounding.hpp"

namespace rngfree {
namespace {

TEST(Format, PublishedLimitsOfNamedFormats) {
  struct Limits {
    const char* spec;
    double max, min_normal, min_subnormal;
  };
  const Limits limits[] = {
      {"fp16", 65504.0, 0x1p-14, 0x1p-24},                       // IEEE 754 binary16
      {"bf16", 0x1.fep127, 0x1p-126, 0x1p-133},                  // bfloat16
      {"tf32", 0x1.ffcp127, 0x1p-126, 0x1p-136},                 // NVIDIA TF32 (E8M10)
      {"e5m2", 57344.0, 0x1p-14, 0x1p-16},                       // OCP OFP8 E5M2
      {"e4m3", 448.0, 0x1p-6, 0x1p-9},                           // OCP OFP8 E4M3 (FN)
      {"float:8:23", 0x1.fffffep127, 0x1p-126, 0x1p-149},        // FP32 itself
      {"float:2:0", 2.0, 1.0, 1.0},                              // bias 1: values 0, 1, 2
  };
  for (const Limits& l : limits) {
    const Format f = Format::parse(l.spec);
    EXPECT_EQ(f.max_value(), l.max) << l.spec;
    EXPECT_EQ(f.min_normal(), l.min_normal) << l.spec;
    EXPECT_EQ(f.min_subnormal(), l.min_subnormal) << l.spec;
  }
}

TEST(Format, ParsesFieldsAndRoundTripsNames) {
  const Format e4m3 = Format::parse("e4m3:ieee");
  EXPECT_TRUE(e4m3.e4m3fn);
  EXPECT_TRUE(e4m3.ieee_overflow);
  EXPECT_EQ(e4m3.exponent_bits, 4);
  const Format fx = Format::parse("fixed:16:-3");
  EXPECT_EQ(fx.kind, FormatKind::kFixed);
  EXPECT_EQ(fx.word_length, 16);
  EXPECT_EQ(fx.fraction_length, -3);
  const Format bfp = Format::parse("bfp:8:32");
  EXPECT_EQ(bfp.kind, FormatKind::kBlockFloat);
  EXPECT_EQ(bfp.block_mantissa_bits, 8);
  EXPECT_EQ(bfp.block_size, 32);
  EXPECT_EQ(Format::parse("float:5:10"), Format::parse("fp16"));
  for (const char* s : {"fp16", "bf16", "tf32", "e5m2", "e4m3", "e4m3:ieee", "fp16:ieee", "float:3:2", "float:4:3",
                        "float:8:23:ieee", "fixed:8:4", "fixed:32:-64", "fixed:2:64", "fixed:8:dyn", "bfp:1:1", "bfp:24:1024"}) {
    EXPECT_EQ(Format::parse(s).name(), s);
    EXPECT_EQ(Format::parse(Format::parse(s).name()), Format::parse(s));
  }
  EXPECT_NE(Format::parse("float:4:3"), Format::parse("e4m3"));  // E4M3FN differs from IEEE-like E4M3
}

void expect_error(const std::string& spec, std::initializer_list<const char*> needles, bool rounding = false) {
  try {
    if (rounding) {
      Rounding::parse(spec);
    } else {
      Format::parse(spec);
    }
    ADD_FAILURE() << "'" << spec << "' was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    for (const char* n : needles) EXPECT_NE(what.find(n), std::string::npos) << "'" << what << "' lacks '" << n << "'";
  }
}

TEST(Format, ErrorsNameFieldValueAndRange) {
  expect_error("float:9:3", {"exponent bits E", "9", "2..8"});
  expect_error("float:1:3", {"exponent bits E", "1", "2..8"});
  expect_error("float:5:24", {"mantissa bits M", "24", "0..23"});
  expect_error("float:5:x", {"mantissa bits M", "'x'", "0..23"});
  expect_error("float:5", {"float:E:M[:ieee]"});
  expect_error("float:5:2:foo", {"foo", "ieee"});
  expect_error("fixed:1:0", {"word length WL", "1", "2..32"});
  expect_error("fixed:33:0", {"word length WL", "33", "2..32"});
  expect_error("fixed:8:65", {"fraction length FL", "65", "-64..64"});
  expect_error("fixed:8:-65", {"fraction length FL", "-65", "-64..64"});
  expect_error("fixed:8", {"fixed:WL:FL"});
  expect_error("bfp:0:4", {"block mantissa bits M", "0", "1..24"});
  expect_error("bfp:25:4", {"block mantissa bits M", "25", "1..24"});
  expect_error("bfp:4:0", {"block size B", "0", "1.."});
  expect_error("fp16:xyz", {"xyz", "ieee"});
  expect_error("fp8", {"unknown format", "fp16", "bfp:M:B"});
  expect_error("", {"unknown format"});
}

TEST(Rounding, ParsesAndNames) {
  for (const char* s : {"nearest-even", "nearest-away", "toward-zero", "up", "down", "stochastic:1", "stochastic:32"}) {
    EXPECT_EQ(Rounding::parse(s).name(), s);
  }
  EXPECT_EQ(Rounding::parse("stochastic:16").random_bits, 16);
  EXPECT_TRUE(Rounding::parse("stochastic:16").is_stochastic());
  EXPECT_FALSE(Rounding::parse("up").is_stochastic());
}

TEST(Rounding, ErrorsNameFieldValueAndRange) {
  expect_error("stochastic:0", {"random bits R", "0", "1..32"}, true);
  expect_error("stochastic:33", {"random bits R", "33", "1..32"}, true);
  expect_error("stochastic:x", {"random bits R", "'x'", "1..32"}, true);
  expect_error("stochastic", {"stochastic:R", "1..32"}, true);
  expect_error("nearest", {"unknown mode", "nearest-even", "stochastic:R"}, true);
}

TEST(Format, ValidateRejectsHandBuiltNonsense) {
  Format f;
  f.exponent_bits = 9;
  EXPECT_THROW(f.validate(), Error);
  Rounding r{RoundingKind::kStochastic, 0};
  EXPECT_THROW(r.validate(), Error);
}

}  // namespace
}  // namespace rngfree
