// Shared helpers of the co-simulation test benches (tests/hw): FP32 inputs that cover every exponent
// range the units handle, and decoders of the RTL's output encodings. The decoders follow the format
// definitions in docs/formats.md, not the RTL, so a wrong encoding fails the comparison.
#pragma once
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "rngfree/harvest/harvest.hpp"

namespace rngfree::hw_test {

// Vector counts: the issue asks for at least 10^6 random vectors per unit.
inline constexpr int64_t kRandomVectors = 1'000'000;

// FP32 patterns mostly around 2^center (exponents center-12 .. center+3, mantissas cut to a random
// number of leading bits so exact values and ties occur), plus 5 % raw 32-bit patterns (NaNs,
// infinities, subnormals, huge and tiny values).
inline float random_input(std::mt19937_64& rng, int center) {
  const uint64_t u = rng();
  const uint32_t sign = static_cast<uint32_t>(u & 1) << 31;
  if ((u >> 1) % 20 == 0) return std::bit_cast<float>(static_cast<uint32_t>(u >> 32));
  const int exponent = std::clamp(center + static_cast<int>((u >> 8) % 16) - 12, -126, 127);
  const int keep = static_cast<int>((u >> 16) % 24);  // leading mantissa bits kept
  const uint32_t mantissa = static_cast<uint32_t>(u >> 40) & 0x7fffff & ~((1u << (23 - keep)) - 1);
  return std::bit_cast<float>(sign | static_cast<uint32_t>(exponent + 127) << 23 | mantissa);
}

// Every FP32 exponent code (subnormals, infinities, NaNs included) with a few mantissas, both signs.
inline std::vector<float> exponent_sweep() {
  std::vector<float> v;
  for (uint32_t e = 0; e < 256; ++e) {
    for (uint32_t m : {0u, 1u, 0x400000u, 0x3fffffu, 0x7fffffu, 0x0c0000u, 0x080001u}) {
      for (uint32_t s : {0u, 0x80000000u}) v.push_back(std::bit_cast<float>(s | e << 23 | m));
    }
  }
  return v;
}

// float:E:M encoding {sign, exponent E bits, mantissa M bits} -> FP32 (bias 2^(E-1)-1, subnormals;
// IEEE-like: the top exponent code is inf/NaN; e4m3fn: only S.1111.111 is NaN).
inline float decode_float(uint32_t code, int e_bits, int m_bits, bool e4m3fn) {
  const bool negative = (code >> (e_bits + m_bits)) & 1;
  const uint32_t ef = (code >> m_bits) & ((1u << e_bits) - 1);
  const uint32_t mf = code & ((1u << m_bits) - 1);
  const int bias = (1 << (e_bits - 1)) - 1;
  const uint32_t top = (1u << e_bits) - 1;
  float magnitude;
  if (e4m3fn && ef == top && mf == (1u << m_bits) - 1) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (!e4m3fn && ef == top) {
    magnitude = mf == 0 ? std::numeric_limits<float>::infinity() : std::numeric_limits<float>::quiet_NaN();
  } else if (ef == 0) {
    magnitude = std::ldexp(static_cast<float>(mf), 1 - bias - m_bits);
  } else {
    magnitude = std::ldexp(static_cast<float>((1u << m_bits) + mf), static_cast<int>(ef) - bias - m_bits);
  }
  return negative ? -magnitude : magnitude;
}

// Same FP32 bits, or both NaN (the library returns the input NaN bit for bit; an 8- or 16-bit
// encoding holds the format's NaN).
inline bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

// out (rows x 64) = relu(in) · W for Gaussian in and W (fan-in 64): the values a layer computes.
inline std::vector<float> layer_output(std::mt19937_64& rng, int64_t count, bool relu_after) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> weights(64 * 64);
  for (auto& w : weights) w = normal(rng) * 0.125f;
  std::vector<float> out(static_cast<size_t>(count));
  std::vector<float> row(64);
  for (int64_t i = 0; i < count; i += 64) {
    for (auto& v : row) v = std::max(0.0f, normal(rng));
    for (int64_t j = 0; j < 64 && i + j < count; ++j) {
      float acc = 0;
      for (int k = 0; k < 64; ++k) acc += row[k] * weights[k * 64 + j];
      out[i + j] = relu_after ? std::max(0.0f, acc) : acc;
    }
  }
  return out;
}

// An extractor of the bit field lo..hi with the given mix (zeros kept).
inline harvest::Extractor extractor(int lo, int hi, harvest::Mix mix) {
  harvest::Extractor e;
  e.lo = lo;
  e.hi = hi;
  e.mix = mix;
  return e;
}

}  // namespace rngfree::hw_test
