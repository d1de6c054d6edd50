// Co-simulation of whole harvested arrays (hw/rtl/sr_array.v with rand_supply's harvest feeds, through
// hw/sim/cosim_array.v) against the library's fused path, quantize_with_source with harvest_fill
// (one tap, aligned) and harvest_fill_sum (four aligned taps, training's default sum): 16 lanes, cycle t's lane j rounds site
// element 16t + j with bits from the same element of the neighbouring tensors. 2^20 elements.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <vector>

#include "Vcosim_array.h"
#include "hw/cosim.hpp"
#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/quantize.hpp"
#include "verilated.h"

namespace rngfree::hw_test {
namespace {

TEST(ArrayCosim, HarvestedSixteenLaneArraysEqualFusedHarvestQuantize) {
  constexpr int64_t kLanes = 16, kElements = int64_t{1} << 20;
  std::mt19937_64 rng(4242);
  std::vector<float> x(kElements);
  for (int64_t i = 0; i < kElements; i += 4096) {
    const int center = static_cast<int>(rng() % 16) - 10;  // around fixed:8:4's range and bf16's
    for (int64_t j = i; j < i + 4096; ++j) x[j] = random_input(rng, center);
  }
  std::array<std::vector<float>, 4> taps = {layer_output(rng, kElements, false), layer_output(rng, kElements, true),
                                            layer_output(rng, kElements, false), layer_output(rng, kElements, true)};
  const harvest::Extractor e = extractor(8, 23, harvest::Mix::kField);
  const harvest::Pairing aligned = harvest::Pairing::parse("aligned");

  std::vector<float> want_bf16(kElements), want_fixed(kElements);
  quantize_with_source(x, want_bf16, Format::parse("bf16"), Rounding::parse("stochastic:8"),
                       harvest::harvest_fill(taps[0], e, aligned, kElements));
  std::vector<harvest::TapPairing> sum;
  for (const auto& t : taps) sum.push_back({t, aligned});
  quantize_with_source(x, want_fixed, Format::parse("fixed:8:4"), Rounding::parse("stochastic:8"),
                       harvest::harvest_fill_sum(sum, e, kElements));

  VerilatedContext context;
  Vcosim_array m(&context);
  int64_t mismatches = 0;
  for (int64_t t = 0; t < kElements / kLanes; ++t) {
    for (int64_t j = 0; j < kLanes; ++j) {
      const int64_t i = t * kLanes + j;
      m.x[j] = std::bit_cast<uint32_t>(x[i]);
      m.tap0[j] = std::bit_cast<uint32_t>(taps[0][i]);
      m.tap1[j] = std::bit_cast<uint32_t>(taps[1][i]);
      m.tap2[j] = std::bit_cast<uint32_t>(taps[2][i]);
      m.tap3[j] = std::bit_cast<uint32_t>(taps[3][i]);
    }
    m.eval();
    for (int64_t j = 0; j < kLanes; ++j) {
      const int64_t i = t * kLanes + j;
      const uint32_t bf16 = (m.y_bf16[j / 2] >> (16 * (j % 2))) & 0xffff;
      const int k = static_cast<int8_t>(static_cast<uint8_t>(m.y_fixed[j / 4] >> (8 * (j % 4))));
      // The array's fixed lanes drop sr_fixed's nan flag: a NaN gives k = 0 (the library: NaN).
      const bool fixed_ok = std::isnan(x[i]) ? std::isnan(want_fixed[i]) && k == 0
                                             : std::ldexp(static_cast<float>(k), -4) == want_fixed[i];
      const bool ok = same_float(std::bit_cast<float>(bf16 << 16), want_bf16[i]) && fixed_ok;
      if (!ok && ++mismatches <= 5) {
        ADD_FAILURE() << "element " << i << " x=" << x[i] << ": rtl bf16 0x" << std::hex << bf16 << " fixed k "
                      << std::dec << k << ", library " << want_bf16[i] << " " << want_fixed[i];
      }
    }
  }
  std::printf("[cosim] harvested arrays: %lld elements x 2 arrays, %lld mismatches\n",
              static_cast<long long>(kElements), static_cast<long long>(mismatches));
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace rngfree::hw_test
