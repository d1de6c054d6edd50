// Number formats emulated on FP32 (DESIGN.md "Arithmetic"). A Format says which FP32 values are
// representable; every emulated value is stored as an FP32. Parsing validates every field and
// throws rngfree::Error naming the field, the value and the allowed range.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace rngfree {

enum class FormatKind {
  kFloat,         // float:E:M[:ieee], fp16, bf16, tf32, e5m2, e4m3 — sign-magnitude, subnormals
  kFixed,         // fixed:WL:FL — two's complement, step 2^-FL, saturating
  kFixedDynamic,  // fixed:WL:dyn — fixed with a per-tensor power-of-two step chosen from max|x|
  kBlockFloat,    // bfp:M:B — shared exponent per block of B consecutive values
};

struct Format {
  FormatKind kind = FormatKind::kFloat;

  // kFloat. exponent_bits E in 2..8, mantissa_bits M in 0..23 (stored fraction bits).
  // bias = 2^(E-1)-1; normal exponents 1-bias .. bias (IEEE-like, top exponent code reserved for
  // inf/NaN) — except e4m3 (OCP E4M3FN), where the top code is used for finite values, max = 448
  // and NaN is only S.1111.111. Overflow saturates to ±max unless ieee_overflow (`:ieee`), which
  // gives ±inf (NaN for e4m3, which has no infinity) as IEEE 754 §7.4 directs for the mode.
  int exponent_bits = 8;
  int mantissa_bits = 23;
  bool ieee_overflow = false;
  bool e4m3fn = false;  // set only by the alias `e4m3`

  // kFixed / kFixedDynamic. word_length WL in 2..32 (sign included); fraction_length FL in -64..64
  // (kFixed only): step = 2^-FL, values k·step for k in [-2^(WL-1), 2^(WL-1)-1]. Where WL > 25 the
  // top of that range is not an FP32 value; saturation then goes to the largest FP32 value on the grid.
  // Values outside the range (infinities too) saturate. kFixedDynamic: per call (the span is the
  // tensor), e = floor(log2(max finite |x|)), FL = WL-2-e (so max|x| < 2^(WL-1)·step), then as
  // fixed:WL:FL; a span without a nonzero finite value is returned unchanged.
  int word_length = 0;
  int fraction_length = 0;

  // kBlockFloat. block_mantissa_bits M in 1..24 (magnitude bits, sign separate; FP32 carries 24
  // significant bits), block_size B in 1..2^40.
  // Per block: e = floor(log2(max finite |x|)), step = 2^(e+1-M), magnitudes k·step, k in 0..2^M-1
  // (saturating at (2^M-1)·step — or at the largest FP32 value below it, where tiny blocks put it
  // below FP32's subnormal spacing; infinities saturate too). A block without a nonzero finite
  // value is returned unchanged.
  int block_mantissa_bits = 0;
  int64_t block_size = 0;

  // Parses "float:E:M[:ieee]", "fp16", "bf16", "tf32", "e5m2", "e4m3", "fixed:WL:FL",
  // "fixed:WL:dyn", "bfp:M:B" (aliases may take ":ieee" too). Throws rngfree::Error.
  static Format parse(std::string_view spec);
  // Canonical spelling (aliases print as their alias), parse(f.name()) == f.
  std::string name() const;

  // Throws rngfree::Error naming the field if any field is out of range (for hand-built Formats).
  void validate() const;

  bool is_float() const { return kind == FormatKind::kFloat; }
  // kFloat only: bias 2^(E-1)-1, smallest normal exponent 1-bias, largest exponent (bias; bias+1
  // for e4m3).
  int bias() const;
  int min_exponent() const;
  int max_exponent() const;
  // kFloat only: largest finite value, smallest normal, smallest subnormal (FP32, exact).
  float max_value() const;
  float min_normal() const;
  float min_subnormal() const;

  bool operator==(const Format&) const = default;
};

}  // namespace rngfree
