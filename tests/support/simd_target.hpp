// A value-parameterized fixture that runs each test once per SIMD target ("avx512", "avx2",
// "portable"): SetUp selects the target with set_simd_level (a target the CPU lacks is skipped with
// a message: it can only run on a CPU that has it), TearDown restores the level.
#pragma once
#include <gtest/gtest.h>

#include "rngfree/simd.hpp"

namespace rngfree::testing {

class SimdTargetTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    saved_ = simd_level();
    const SimdLevel want = parse_simd_level(GetParam());
    if (static_cast<int>(want) > static_cast<int>(simd_level_supported())) {
      GTEST_SKIP() << "this CPU does not support " << GetParam();
    }
    ASSERT_EQ(set_simd_level(want), want);
  }
  void TearDown() override { set_simd_level(saved_); }
  SimdLevel saved_ = SimdLevel::kPortable;
};

// Every target, best first.
inline auto every_simd_target() { return ::testing::Values("avx512", "avx2", "portable"); }

}  // namespace rngfree::testing
