// Numbers typed by users (command-line flags, config keys): parsed strictly and range-checked, never
// narrowed or wrapped. An out-of-range value throws rngfree::Error naming the parameter, the value
// and the allowed range ("--seed -5: allowed 0..18446744073709551615"). Text is decimal only: no
// '+', no spaces, no hex or octal (CLI11 and strtoull read "010" as 8 and "-5" as 2^64 - 5).
#pragma once
#include <charconv>
#include <concepts>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "rngfree/error.hpp"

namespace rngfree {

// The closed range lo..hi of an integer parameter; `note` says what special values mean ("0: all cores").
template <std::integral T>
struct IntRange {
  T lo = std::numeric_limits<T>::min();
  T hi = std::numeric_limits<T>::max();
  std::string_view note = {};
  std::string text() const {
    return std::to_string(lo) + ".." + std::to_string(hi) + (note.empty() ? "" : " (" + std::string(note) + ")");
  }
};

// A real range with open or closed ends: "(0, 100)", "[0, 1)".
struct RealRange {
  double lo = 0, hi = 0;
  bool lo_open = false, hi_open = false;
  std::string text() const;
  bool contains(double v) const {
    return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);  // false for NaN
  }
};

// Checks an integer already read (a TOML int64, a JSON number) against range; returns it as T.
template <std::integral T, std::integral V>
T checked_integer(std::string_view name, V value, IntRange<T> range) {
  if (!std::in_range<T>(value) || static_cast<T>(value) < range.lo || static_cast<T>(value) > range.hi) {
    throw Error(std::string(name) + " " + std::to_string(value) + ": allowed " + range.text());
  }
  return static_cast<T>(value);
}

// Parses decimal text into T within range.
template <std::integral T>
T parse_integer(std::string_view name, std::string_view text, IntRange<T> range) {
  const char* end = text.data() + text.size();
  if constexpr (std::is_unsigned_v<T>) {
    // "-5" for an unsigned parameter: a number, below the range (from_chars would only say "not a number").
    uint64_t magnitude = 0;
    if (text.size() > 1 && text[0] == '-') {
      const auto [p, e] = std::from_chars(text.data() + 1, end, magnitude, 10);
      if (p == end && e != std::errc::invalid_argument) {
        throw Error(std::string(name) + " " + std::string(text) + ": allowed " + range.text());
      }
    }
  }
  T value{};
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, 10);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    throw Error(std::string(name) + " '" + std::string(text) + "': not a whole decimal number; allowed " +
                range.text());
  }
  if (ec == std::errc::result_out_of_range || value < range.lo || value > range.hi) {
    throw Error(std::string(name) + " " + std::string(text) + ": allowed " + range.text());
  }
  return value;
}

// Checks a real number (NaN and infinities are outside every range).
double checked_real(std::string_view name, double value, const RealRange& range);
// Parses decimal text ("0.05", "5e-2") into a double within range.
double parse_real(std::string_view name, std::string_view text, const RealRange& range);

}  // namespace rngfree
