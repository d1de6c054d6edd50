// Rounding modes (DESIGN.md "Arithmetic"). Stochastic rounding is defined bit-exactly, as
// hardware does it, from R random bits r (the low R bits of a 32-bit word):
//  - float formats and bfp, on the magnitude: f = the top R bits of |x| below the kept precision
//    (the truncated fraction of |x|/quantum, scaled by 2^R and floored); the magnitude rounds away
//    from zero iff f + r >= 2^R.
//  - fixed formats, on the two's complement value: lo = floor(x/step), f = the top R bits of the
//    fraction x/step - lo; the result is (lo + [f + r >= 2^R])·step.
// An exactly representable x never moves; NaN stays NaN.
#pragma once
#include <string>
#include <string_view>

namespace rngfree {

enum class RoundingKind {
  kNearestEven,  // nearest, ties to even
  kNearestAway,  // nearest, ties away from zero
  kTowardZero,   // truncation of the magnitude
  kUp,           // toward +infinity
  kDown,         // toward -infinity
  kStochastic,   // SR with `random_bits` bits, as above
};

struct Rounding {
  RoundingKind kind = RoundingKind::kNearestEven;
  int random_bits = 0;  // R in 1..32, kStochastic only

  // Parses "nearest-even", "nearest-away", "toward-zero", "up", "down", "stochastic:R".
  static Rounding parse(std::string_view spec);
  std::string name() const;
  // Throws rngfree::Error if random_bits is out of range for kStochastic (for hand-built Roundings).
  void validate() const;
  bool is_stochastic() const { return kind == RoundingKind::kStochastic; }
  bool operator==(const Rounding&) const = default;
};

}  // namespace rngfree
