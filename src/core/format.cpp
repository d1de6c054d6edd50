// Format specs: parsing with full validation, canonical names and the float formats' limits
// (DESIGN.md "Arithmetic"; docs/formats.md). Every parse error names the field, the value and the
// allowed range, and throws rngfree::Error.
#include "rngfree/format.hpp"

#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "rngfree/error.hpp"

namespace rngfree {
namespace {

constexpr const char* kFormatList =
    "float:E:M[:ieee], fp16, bf16, tf32, e5m2, e4m3 (aliases may take :ieee), fixed:WL:FL, "
    "fixed:WL:dyn, bfp:M:B";

std::vector<std::string_view> split_fields(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t colon = s.find(':', start);
    if (colon == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, colon - start));
    start = colon + 1;
  }
}

[[noreturn]] void fail(std::string_view spec, const std::string& what) {
  throw Error("format '" + std::string(spec) + "': " + what);
}

int64_t parse_field(std::string_view spec, std::string_view field, std::string_view text, int64_t lo,
                    int64_t hi) {
  int64_t v = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;
  auto [ptr, ec] = std::from_chars(first, last, v);
  if (text.empty() || ec != std::errc() || ptr != last) {
    fail(spec, std::string(field) + " = '" + std::string(text) + "' is not an integer; allowed " +
                   std::to_string(lo) + ".." + std::to_string(hi));
  }
  if (v < lo || v > hi) {
    fail(spec, std::string(field) + " = " + std::to_string(v) + " is out of range; allowed " +
                   std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

Format float_format(int e, int m) {
  Format f;
  f.kind = FormatKind::kFloat;
  f.exponent_bits = e;
  f.mantissa_bits = m;
  return f;
}

}  // namespace

Format Format::parse(std::string_view spec) {
  const std::vector<std::string_view> fields = split_fields(spec);
  const std::string_view head = fields[0];
  auto expect_count = [&](size_t lo, size_t hi, const char* form) {
    if (fields.size() < lo || fields.size() > hi) {
      fail(spec, std::string("expected the form ") + form + " (" + std::to_string(fields.size()) +
                     " colon-separated fields given)");
    }
  };
  auto ieee_suffix = [&](size_t index, const char* form) {
    if (fields.size() <= index) return false;
    if (fields[index] != "ieee") {
      fail(spec, "unknown suffix '" + std::string(fields[index]) + "'; allowed: ieee (form " + form + ")");
    }
    return true;
  };

  struct Alias {
    std::string_view name;
    int e, m;
  };
  static constexpr Alias kAliases[] = {{"fp16", 5, 10}, {"bf16", 8, 7}, {"tf32", 8, 10}, {"e5m2", 5, 2}, {"e4m3", 4, 3}};
  for (const Alias& a : kAliases) {
    if (head == a.name) {
      expect_count(1, 2, (std::string(a.name) + "[:ieee]").c_str());
      Format f = float_format(a.e, a.m);
      f.e4m3fn = head == "e4m3";
      f.ieee_overflow = ieee_suffix(1, "ALIAS[:ieee]");
      return f;
    }
  }
  if (head == "float") {
    expect_count(3, 4, "float:E:M[:ieee]");
    Format f = float_format(static_cast<int>(parse_field(spec, "exponent bits E", fields[1], 2, 8)),
                            static_cast<int>(parse_field(spec, "mantissa bits M", fields[2], 0, 23)));
    f.ieee_overflow = ieee_suffix(3, "float:E:M[:ieee]");
    return f;
  }
  if (head == "fixed") {
    expect_count(3, 3, "fixed:WL:FL or fixed:WL:dyn");
    Format f;
    f.word_length = static_cast<int>(parse_field(spec, "word length WL", fields[1], 2, 32));
    if (fields[2] == "dyn") {
      f.kind = FormatKind::kFixedDynamic;
    } else {
      f.kind = FormatKind::kFixed;
      f.fraction_length = static_cast<int>(parse_field(spec, "fraction length FL (or 'dyn')", fields[2], -64, 64));
    }
    return f;
  }
  if (head == "bfp") {
    expect_count(3, 3, "bfp:M:B");
    Format f;
    f.kind = FormatKind::kBlockFloat;
    f.block_mantissa_bits = static_cast<int>(parse_field(spec, "block mantissa bits M", fields[1], 1, 24));
    f.block_size = parse_field(spec, "block size B", fields[2], 1, int64_t{1} << 40);
    return f;
  }
  fail(spec, "unknown format; allowed: " + std::string(kFormatList));
}

void Format::validate() const {
  auto bad = [&](const char* field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi) {
      throw Error(std::string("format: ") + field + " = " + std::to_string(v) + " is out of range; allowed " +
                  std::to_string(lo) + ".." + std::to_string(hi));
    }
  };
  switch (kind) {
    case FormatKind::kFloat:
      bad("exponent bits E", exponent_bits, 2, 8);
      bad("mantissa bits M", mantissa_bits, 0, 23);
      if (e4m3fn && (exponent_bits != 4 || mantissa_bits != 3)) {
        throw Error("format: e4m3fn is set but E = " + std::to_string(exponent_bits) + ", M = " +
                    std::to_string(mantissa_bits) + "; allowed only E = 4, M = 3");
      }
      return;
    case FormatKind::kFixed:
      bad("word length WL", word_length, 2, 32);
      bad("fraction length FL", fraction_length, -64, 64);
      return;
    case FormatKind::kFixedDynamic:
      bad("word length WL", word_length, 2, 32);
      return;
    case FormatKind::kBlockFloat:
      bad("block mantissa bits M", block_mantissa_bits, 1, 24);
      bad("block size B", block_size, 1, int64_t{1} << 40);
      return;
  }
  throw Error("format: unknown kind " + std::to_string(static_cast<int>(kind)));
}

std::string Format::name() const {
  switch (kind) {
    case FormatKind::kFloat: {
      std::string base;
      if (e4m3fn) {
        base = "e4m3";
      } else if (exponent_bits == 5 && mantissa_bits == 10) {
        base = "fp16";
      } else if (exponent_bits == 8 && mantissa_bits == 7) {
        base = "bf16";
      } else if (exponent_bits == 8 && mantissa_bits == 10) {
        base = "tf32";
      } else if (exponent_bits == 5 && mantissa_bits == 2) {
        base = "e5m2";
      } else {
        base = "float:" + std::to_string(exponent_bits) + ":" + std::to_string(mantissa_bits);
      }
      return ieee_overflow ? base + ":ieee" : base;
    }
    case FormatKind::kFixed:
      return "fixed:" + std::to_string(word_length) + ":" + std::to_string(fraction_length);
    case FormatKind::kFixedDynamic:
      return "fixed:" + std::to_string(word_length) + ":dyn";
    case FormatKind::kBlockFloat:
      return "bfp:" + std::to_string(block_mantissa_bits) + ":" + std::to_string(block_size);
  }
  return "?";
}

int Format::bias() const { return (1 << (exponent_bits - 1)) - 1; }
int Format::min_exponent() const { return 1 - bias(); }
int Format::max_exponent() const { return e4m3fn ? bias() + 1 : bias(); }

float Format::max_value() const {
  RNGFREE_CHECK(is_float(), "max_value() of a non-float format " + name());
  // e4m3 (E4M3FN): the top exponent code holds finite values except S.1111.111 (NaN).
  const int m = mantissa_bits;
  const double significand = e4m3fn ? 2.0 - std::ldexp(1.0, 1 - m) : 2.0 - std::ldexp(1.0, -m);
  return static_cast<float>(std::ldexp(significand, max_exponent()));
}

float Format::min_normal() const {
  RNGFREE_CHECK(is_float(), "min_normal() of a non-float format " + name());
  return std::ldexp(1.0f, min_exponent());
}

float Format::min_subnormal() const {
  RNGFREE_CHECK(is_float(), "min_subnormal() of a non-float format " + name());
  return std::ldexp(1.0f, min_exponent() - mantissa_bits);
}

}  // namespace rngfree
