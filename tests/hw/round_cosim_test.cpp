// Co-simulation of the SR and RNE rounding units (hw/rtl/sr_fixed.v, sr_float.v through
// hw/sim/cosim_round.v) against rngfree::quantize, bit for bit: fixed:8:4, fixed:8:dyn, bf16, e4m3 and
// e5m2, each with stochastic:R for R = 1, 2, 3, 8, 12, 16 and nearest-even. 10^6 random vectors, every
// FP32 exponent code, the formats' edges, and for every x the random words on both sides of the
// boundary f + r = 2^R (found from the library alone, by bisection over r).
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "Vcosim_round.h"
#include "hw/cosim.hpp"
#include "rngfree/format.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/rounding.hpp"
#include "verilated.h"

namespace rngfree::hw_test {
namespace {

constexpr int kSlots = 7;                       // slots of cosim_round.v
constexpr std::array<int, kSlots> kSlotR = {1, 2, 3, 8, 12, 16, 0};  // 0: nearest-even
constexpr int kFixedStep = -4;                  // fixed:8:4

Rounding slot_rounding(int s) {
  return kSlotR[s] == 0 ? Rounding::parse("nearest-even") : Rounding::parse("stochastic:" + std::to_string(kSlotR[s]));
}

enum Unit { kFixed, kDyn, kBf16, kE4m3, kE5m2, kUnits };
constexpr std::array<const char*, kUnits> kUnitName = {"fixed:8:4", "fixed:8:dyn", "bf16", "e4m3", "e5m2"};

// The RTL, one combinational evaluation per vector, outputs decoded to FP32 values.
class RoundUnits {
 public:
  RoundUnits() : model_(std::make_unique<Vcosim_round>(&context_)) {}
  void eval(float x, uint32_t word, int step_exp) {
    model_->x = std::bit_cast<uint32_t>(x);
    model_->r = word;
    model_->step_exp = static_cast<uint16_t>(step_exp) & 0x3ff;
    model_->eval();
    step_exp_ = step_exp;
  }
  // The unit's result as an FP32 value (fixed: k * step; NaN when the unit raises nan).
  float result(Unit u, int s) const {
    switch (u) {
      case kFixed: return fixed_value(model_->y_fixed, model_->nan_fixed, s, kFixedStep);
      case kDyn: return fixed_value(model_->y_dyn, model_->nan_dyn, s, step_exp_);
      case kBf16: {
        const uint32_t word = model_->y_bf16[(16 * s) / 32] >> ((16 * s) % 32);
        return std::bit_cast<float>((word & 0xffffu) << 16);
      }
      case kE4m3: return decode_float(static_cast<uint32_t>(model_->y_e4m3 >> (8 * s)) & 0xff, 4, 3, true);
      case kE5m2: return decode_float(static_cast<uint32_t>(model_->y_e5m2 >> (8 * s)) & 0xff, 5, 2, false);
      case kUnits: break;
    }
    return 0;
  }

 private:
  static float fixed_value(uint64_t y, uint32_t nan, int s, int step_exp) {
    if ((nan >> s) & 1) return std::numeric_limits<float>::quiet_NaN();
    const int k = static_cast<int8_t>(static_cast<uint8_t>(y >> (8 * s)));
    return std::ldexp(static_cast<float>(k), step_exp);
  }
  VerilatedContext context_;
  std::unique_ptr<Vcosim_round> model_;
  int step_exp_ = 0;
};

Format unit_format(Unit u) {
  switch (u) {
    case kFixed: return Format::parse("fixed:8:4");
    case kDyn: return Format::parse("fixed:8:dyn");  // the step is given (quantize_reference's step_exponent)
    case kBf16: return Format::parse("bf16");
    case kE4m3: return Format::parse("e4m3");
    case kE5m2: return Format::parse("e5m2");
    case kUnits: break;
  }
  return {};
}

// The library's result for one value (the reference twin; quantize() is used for whole batches).
float library_one(Unit u, int s, float x, uint32_t word, int step_exp) {
  const int step = u == kDyn ? step_exp : kFixedStep;
  return quantize_reference(x, unit_format(u), slot_rounding(s), word, step);
}

// Same result: FP32 bits (float formats; NaN = NaN) or the same multiple of the step (fixed: the
// two's complement k has no -0, the FP32 emulation keeps the sign of a value rounded to zero).
bool same_result(Unit u, float rtl, float lib) {
  if (u == kFixed || u == kDyn) return (std::isnan(rtl) && std::isnan(lib)) || rtl == lib;
  return same_float(rtl, lib);
}

struct Tally {
  int64_t vectors = 0, mismatches = 0;
  std::string first;
  void check(Unit u, int s, float x, uint32_t word, int step_exp, float rtl, float lib) {
    ++vectors;
    if (same_result(u, rtl, lib)) return;
    if (++mismatches <= 10) {
      char line[256];
      std::snprintf(line, sizeof line, "%s %s x=%a (0x%08x) r=0x%08x step=%d: rtl %a, library %a\n", kUnitName[u],
                    slot_rounding(s).name().c_str(), x, std::bit_cast<uint32_t>(x), word, step_exp, rtl, lib);
      first += line;
    }
  }
};

// Steps for which every k * 2^step (|k| <= 128) is an FP32 value.
int clamp_step(int step) { return std::clamp(step, -149, 120); }

TEST(RoundCosim, RandomVectorsMatchQuantizeBitForBit) {
  RoundUnits rtl;
  Tally tally;
  std::mt19937_64 rng(20261201);
  constexpr int64_t kBatch = 4096;
  const int64_t batches = (kRandomVectors + kBatch - 1) / kBatch;
  std::vector<float> x(kBatch);
  std::vector<uint32_t> words(kBatch);
  std::array<std::array<std::vector<float>, kSlots>, kUnits> lib;
  for (auto& unit : lib) {
    for (auto& slot : unit) slot.resize(kBatch);
  }
  for (int64_t b = 0; b < batches; ++b) {
    const int center = static_cast<int>(rng() % 271) - 140;
    const int step_exp = clamp_step(center - 6 + static_cast<int>(rng() % 9) - 4);
    for (int64_t i = 0; i < kBatch; ++i) {
      x[i] = random_input(rng, center);
      words[i] = static_cast<uint32_t>(rng());
    }
    for (int s = 0; s < kSlots; ++s) {
      for (Unit u : {kFixed, kBf16, kE4m3, kE5m2}) quantize(x, lib[u][s], unit_format(u), slot_rounding(s), words);
      for (int64_t i = 0; i < kBatch; ++i) lib[kDyn][s][i] = library_one(kDyn, s, x[i], words[i], step_exp);
    }
    for (int64_t i = 0; i < kBatch; ++i) {
      rtl.eval(x[i], words[i], step_exp);
      for (int u = 0; u < kUnits; ++u) {
        for (int s = 0; s < kSlots; ++s) {
          tally.check(Unit(u), s, x[i], words[i], step_exp, rtl.result(Unit(u), s), lib[u][s][i]);
        }
      }
    }
  }
  std::printf("[cosim] rounding units: %lld vectors per unit (x %d units x %d roundings), %lld mismatches\n",
              static_cast<long long>(batches * kBatch), kUnits, kSlots, static_cast<long long>(tally.mismatches));
  EXPECT_GE(batches * kBatch, kRandomVectors);
  EXPECT_EQ(tally.mismatches, 0) << tally.first;
}

// The edges: every FP32 exponent code with several mantissas, and each format's landmarks (max,
// the ties around it, min normal/subnormal and their halves, carries into the next binade, the fixed
// grid's ends). For every x and SR unit: r = 0, r = 2^R - 1 and the two words around the boundary
// r* = 2^R - f, where r* is the smallest word the library rounds up with (bisection on the library).
TEST(RoundCosim, EdgesAndEveryBoundaryWordMatchTheLibrary) {
  std::vector<float> xs = exponent_sweep();
  for (float v : {0.0f, 448.0f, 464.0f, 480.0f, 479.9f, 240.0f, 57344.0f, 61440.0f, 65536.0f, 0x1.fep127f, 0x1.ffp127f,
                  0x1p-6f, 0x1p-9f, 0x1p-10f, 0x1.8p-10f, 0x1p-14f, 0x1p-16f, 0x1p-17f, 0x1.8p-17f, 0x1p-126f,
                  0x1p-133f, 0x1p-134f, 0x1.8p-134f, 0x1.01p0f, 0x1.03p0f, 0x1.ffp0f, 0x1.ff8p0f, 0x1.fffffep0f,
                  7.9375f, 7.96875f, 8.0f, 8.03125f, 0.03125f, 0.09375f, 0.0625f, 0x1.0c8p0f, 2.3f, 0.7f, 1e-30f}) {
    xs.push_back(v);
    xs.push_back(-v);
  }
  xs.push_back(std::numeric_limits<float>::infinity());
  xs.push_back(-std::numeric_limits<float>::infinity());
  xs.push_back(std::bit_cast<float>(0x7fa00000u));  // signalling NaN
  xs.push_back(std::bit_cast<float>(0xffc00001u));  // negative quiet NaN
  RoundUnits rtl;
  Tally tally;
  int64_t boundaries = 0;
  for (float x : xs) {
    int step_exp = kFixedStep;
    if (std::isfinite(x) && x != 0) step_exp = clamp_step(std::ilogb(x) - 6);
    for (int u = 0; u < kUnits; ++u) {
      for (int s = 0; s < kSlots; ++s) {
        std::vector<uint32_t> words = {0u, 0xffffffffu, 0x55555555u};
        const int r_bits = kSlotR[s];
        if (r_bits > 0) {
          const uint32_t top = (1u << r_bits) - 1;
          const float down = library_one(Unit(u), s, x, 0, step_exp);
          if (!same_result(Unit(u), library_one(Unit(u), s, x, top, step_exp), down)) {
            uint32_t lo = 0, hi = top;  // result(lo) = down, result(hi) = up
            while (hi - lo > 1) {
              const uint32_t mid = lo + (hi - lo) / 2;
              (same_result(Unit(u), library_one(Unit(u), s, x, mid, step_exp), down) ? lo : hi) = mid;
            }
            words.push_back(lo);  // r* - 1: f + r = 2^R - 1, rounds down
            words.push_back(hi);  // r*: f + r = 2^R, rounds up
            ++boundaries;
          }
        }
        for (uint32_t w : words) {
          rtl.eval(x, w, step_exp);
          tally.check(Unit(u), s, x, w, step_exp, rtl.result(Unit(u), s), library_one(Unit(u), s, x, w, step_exp));
        }
      }
    }
  }
  std::printf("[cosim] rounding edges: %zu inputs, %lld boundary pairs, %lld checks, %lld mismatches\n", xs.size(),
              static_cast<long long>(boundaries), static_cast<long long>(tally.vectors),
              static_cast<long long>(tally.mismatches));
  EXPECT_GT(boundaries, 10000);
  EXPECT_EQ(tally.mismatches, 0) << tally.first;
}

// fixed:8:dyn as a tensor site uses it: the library picks the step from the span's maximum
// (dynamic_step_exponent) and quantizes the span; the RTL gets that step and must agree.
TEST(RoundCosim, DynamicFixedSpansMatchQuantize) {
  RoundUnits rtl;
  Tally tally;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const Format dyn = Format::parse("fixed:8:dyn");
  for (int span = 0; span < 64; ++span) {
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 200) - 100);
    std::vector<float> x(2048), out(2048);
    std::vector<uint32_t> words(2048);
    for (size_t i = 0; i < x.size(); ++i) {
      x[i] = normal(rng) * scale;
      words[i] = static_cast<uint32_t>(rng());
    }
    const int step_exp = dynamic_step_exponent(x, dyn);
    for (int s : {3, 5, 6}) {  // stochastic:8, stochastic:16, nearest-even
      quantize(x, out, dyn, slot_rounding(s), words);
      for (size_t i = 0; i < x.size(); ++i) {
        rtl.eval(x[i], words[i], step_exp);
        tally.check(kDyn, s, x[i], words[i], step_exp, rtl.result(kDyn, s), out[i]);
      }
    }
  }
  EXPECT_EQ(tally.vectors, 64 * 2048 * 3);
  EXPECT_EQ(tally.mismatches, 0) << tally.first;
}

}  // namespace
}  // namespace rngfree::hw_test
