// Rounding mode specs: parsing with validation and canonical names (DESIGN.md "Arithmetic").
// The arithmetic itself lives in quantize_reference.cpp (the spec) and quantize_kernels.hpp (fast kernels, compiled per SIMD target).
#include "rngfree/rounding.hpp"

#include <charconv>

#include "rngfree/error.hpp"

namespace rngfree {
namespace {
constexpr const char* kRoundingList = "nearest-even, nearest-away, toward-zero, up, down, stochastic:R (R = 1..32)";
}  // namespace

Rounding Rounding::parse(std::string_view spec) {
  Rounding r;
  if (spec == "nearest-even") {
    r.kind = RoundingKind::kNearestEven;
  } else if (spec == "nearest-away") {
    r.kind = RoundingKind::kNearestAway;
  } else if (spec == "toward-zero") {
    r.kind = RoundingKind::kTowardZero;
  } else if (spec == "up") {
    r.kind = RoundingKind::kUp;
  } else if (spec == "down") {
    r.kind = RoundingKind::kDown;
  } else if (spec.starts_with("stochastic:")) {
    const std::string_view text = spec.substr(11);
    int bits = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), bits);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
      throw Error("rounding '" + std::string(spec) + "': random bits R = '" + std::string(text) +
                  "' is not an integer; allowed 1..32");
    }
    if (bits < 1 || bits > 32) {
      throw Error("rounding '" + std::string(spec) + "': random bits R = " + std::to_string(bits) +
                  " is out of range; allowed 1..32");
    }
    r.kind = RoundingKind::kStochastic;
    r.random_bits = bits;
  } else if (spec == "stochastic") {
    throw Error("rounding 'stochastic': the number of random bits is missing; write stochastic:R with R = 1..32");
  } else {
    throw Error("rounding '" + std::string(spec) + "': unknown mode; allowed: " + kRoundingList);
  }
  return r;
}

void Rounding::validate() const {
  if (kind == RoundingKind::kStochastic && (random_bits < 1 || random_bits > 32)) {
    throw Error("rounding: random bits R = " + std::to_string(random_bits) + " is out of range; allowed 1..32");
  }
  if (static_cast<int>(kind) < 0 || static_cast<int>(kind) > static_cast<int>(RoundingKind::kStochastic)) {
    throw Error("rounding: unknown kind " + std::to_string(static_cast<int>(kind)));
  }
}

std::string Rounding::name() const {
  switch (kind) {
    case RoundingKind::kNearestEven: return "nearest-even";
    case RoundingKind::kNearestAway: return "nearest-away";
    case RoundingKind::kTowardZero: return "toward-zero";
    case RoundingKind::kUp: return "up";
    case RoundingKind::kDown: return "down";
    case RoundingKind::kStochastic: return "stochastic:" + std::to_string(random_bits);
  }
  return "?";
}

}  // namespace rngfree
