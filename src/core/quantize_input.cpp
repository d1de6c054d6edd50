// `rngfree quantize`'s line parser (include/rngfree/quantize_input.hpp). strtof gives the nearest
// FP32 (overflow: ±inf, underflow: ±0 or a subnormal), so the values are exactly what C reads.
#include "rngfree/quantize_input.hpp"

#include <charconv>
#include <cstdlib>
#include <string>

#include "rngfree/error.hpp"

namespace rngfree {
namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string line_prefix(int64_t line) { return "line " + std::to_string(line) + ": "; }

float parse_value(std::string_view token, int64_t line) {
  const std::string text(token);  // strtof needs a terminated string
  char* end = nullptr;
  const float v = std::strtof(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    throw Error(line_prefix(line) + "'" + text + "' is not a number (expected a decimal or C99 hex float)");
  }
  return v;
}

uint32_t parse_word(std::string_view token, int64_t line) {
  uint32_t w = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), w);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) {
    throw Error(line_prefix(line) + "random word '" + std::string(token) +
                "' is not an unsigned 32-bit decimal integer (0..4294967295)");
  }
  return w;
}

}  // namespace

QuantizeInput parse_quantize_lines(std::string_view input, bool with_words) {
  QuantizeInput out;
  int64_t number = 0;
  size_t pos = 0;
  while (pos < input.size()) {
    const size_t newline = input.find('\n', pos);
    const size_t end = newline == std::string_view::npos ? input.size() : newline;
    const std::string_view text = trim(input.substr(pos, end - pos));
    pos = end + 1;
    ++number;
    if (text.empty()) throw Error(line_prefix(number) + "empty; expected " + (with_words ? "'value word'" : "a value"));
    const auto space = text.find_first_of(" \t");
    const std::string_view first = text.substr(0, space);
    const std::string_view rest = space == std::string_view::npos ? std::string_view{} : trim(text.substr(space));
    out.values.push_back(parse_value(first, number));
    if (with_words) {
      if (rest.empty()) throw Error(line_prefix(number) + "the random word is missing (--random given: 'value word')");
      if (rest.find_first_of(" \t") != std::string_view::npos) {
        throw Error(line_prefix(number) + "expected 'value word', got extra fields: '" + std::string(text) + "'");
      }
      out.words.push_back(parse_word(rest, number));
    } else if (!rest.empty()) {
      throw Error(line_prefix(number) + "expected one value, got extra fields: '" + std::string(text) +
                  "' (random words need --random given)");
    }
  }
  return out;
}

}  // namespace rngfree
