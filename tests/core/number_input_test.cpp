// User-typed numbers (number_input.hpp): decimal text is read exactly or refused with a message
// naming the parameter, the value and the range; nothing is narrowed, wrapped or read as octal or
// hex (the limits below are the types' own: 2^64 - 1, 2^31 - 1).
#include "rngfree/number_input.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "support/errors.hpp"

namespace rngfree {
namespace {
using testing::error_of;

TEST(NumberInput, IntegersAreDecimalAndExact) {
  EXPECT_EQ(parse_integer<int>("--epochs", "10", IntRange<int>{1, 100}), 10);
  EXPECT_EQ(parse_integer<int>("--epochs", "010", IntRange<int>{1, 100}), 10) << "decimal, never octal";
  EXPECT_EQ(parse_integer<uint64_t>("--seed", "18446744073709551615", IntRange<uint64_t>{}), UINT64_MAX);
  EXPECT_EQ(parse_integer<int64_t>("--n", "-9223372036854775808", IntRange<int64_t>{}), INT64_MIN);
  EXPECT_EQ(parse_integer<int>("--x", "-3", IntRange<int>{-5, 5}), -3);
}

TEST(NumberInput, IntegersOutsideTheRangeOrTheTypeAreRefusedNamingEverything) {
  EXPECT_EQ(error_of([] { parse_integer<uint64_t>("--seed", "-5", IntRange<uint64_t>{}); }),
            "--seed -5: allowed 0..18446744073709551615");
  EXPECT_EQ(error_of([] { parse_integer<uint64_t>("--seed", "18446744073709551616", IntRange<uint64_t>{}); }),
            "--seed 18446744073709551616: allowed 0..18446744073709551615");
  EXPECT_EQ(error_of([] { parse_integer<int>("--epochs", "4294967297", IntRange<int>{1, 100000}); }),
            "--epochs 4294967297: allowed 1..100000");
  EXPECT_EQ(error_of([] { parse_integer<int>("--threads", "2000", IntRange<int>{0, 1024, "0: all cores"}); }),
            "--threads 2000: allowed 0..1024 (0: all cores)");
  EXPECT_EQ(error_of([] { parse_integer<int>("--batch", "0", IntRange<int>{1, 65536}); }),
            "--batch 0: allowed 1..65536");
  for (const char* text : {"", "0x10", "+5", " 5", "5 ", "5.0", "1e3", "five"}) {
    EXPECT_EQ(error_of([&] { parse_integer<int>("--batch", text, IntRange<int>{1, 65536}); }),
              std::string("--batch '") + text + "': not a whole decimal number; allowed 1..65536")
        << text;
  }
}

TEST(NumberInput, CheckedIntegersNeverNarrow) {
  // A TOML int64 into an int: 2^32 + 1 would narrow to 1 with a plain cast.
  EXPECT_EQ(error_of([] { checked_integer("epochs", int64_t{4294967297}, IntRange<int>{1, 100000}); }),
            "epochs 4294967297: allowed 1..100000");
  EXPECT_EQ(error_of([] { checked_integer("seed", int64_t{-1}, IntRange<uint64_t>{}); }),
            "seed -1: allowed 0..18446744073709551615");
  EXPECT_EQ(checked_integer("epochs", int64_t{100000}, IntRange<int>{1, 100000}), 100000);
  EXPECT_EQ(checked_integer("seed", int64_t{INT64_MAX}, IntRange<uint64_t>{}), uint64_t{INT64_MAX});
}

TEST(NumberInput, RealsHonourOpenAndClosedEnds) {
  const RealRange lr{0, 100, true, true}, momentum{0, 1, false, true};
  EXPECT_EQ(parse_real("--lr", "0.05", lr), 0.05);
  EXPECT_EQ(parse_real("--lr", "5e-2", lr), 0.05);
  EXPECT_EQ(parse_real("momentum", "0", momentum), 0.0);
  EXPECT_EQ(error_of([&] { parse_real("--lr", "0", lr); }), "--lr 0: allowed (0, 100)");
  EXPECT_EQ(error_of([&] { parse_real("--lr", "100", lr); }), "--lr 100: allowed (0, 100)");
  EXPECT_EQ(error_of([&] { parse_real("momentum", "1", momentum); }), "momentum 1: allowed [0, 1)");
  EXPECT_EQ(error_of([&] { parse_real("--lr", "1e400", lr); }), "--lr 1e400: allowed (0, 100)");
  for (const char* text : {"nan", "inf", "-inf"}) {
    EXPECT_EQ(error_of([&] { parse_real("--lr", text, lr); }), std::string("--lr ") + text + ": allowed (0, 100)");
  }
  EXPECT_EQ(error_of([&] { parse_real("--lr", "0.05x", lr); }), "--lr '0.05x': not a number; allowed (0, 100)");
  EXPECT_EQ(error_of([&] { checked_real("weight_decay", -0.1, momentum); }), "weight_decay -0.1: allowed [0, 1)");
  EXPECT_EQ(error_of([&] { checked_real("lr", std::nan(""), lr); }).substr(0, 3), "lr ");
  EXPECT_NE(error_of([&] { checked_real("lr", std::nan(""), lr); }), "(no error)");
}

}  // namespace
}  // namespace rngfree
