// `rngfree quantize`: one value per stdin line (decimal or C99 hex float, parsed to the nearest
// FP32), quantized with --format/--rounding, printed in shortest round-trip decimal (or C99 hex).
// Lets anyone check the arithmetic from outside (issue 2). All lines are one span, so fixed:WL:dyn
// scales over the whole input and bfp blocks are consecutive lines.
#include <fmt/core.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"
#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"

namespace rngfree::app {
namespace {

// Sources of random words this command accepts. "given": the word is the second field of each
// line. (Generators and harvested sources can be added here when the random module provides them.)
constexpr const char* kRandomSources[] = {"given"};

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

float parse_value(std::string_view token, int64_t line) {
  const std::string text(token);
  errno = 0;
  char* end = nullptr;
  const float v = std::strtof(text.c_str(), &end);  // nearest FP32 (C99), decimal or hex
  if (text.empty() || end != text.c_str() + text.size()) {
    throw Error("line " + std::to_string(line) + ": '" + text + "' is not a number (expected a decimal or C99 hex float)");
  }
  return v;  // overflow gives ±inf and underflow ±0 or a subnormal: the nearest FP32 in magnitude order
}

uint32_t parse_word(std::string_view token, int64_t line) {
  uint32_t w = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), w);
  if (token.empty() || ec != std::errc() || ptr != token.data() + token.size()) {
    throw Error("line " + std::to_string(line) + ": random word '" + std::string(token) +
                "' is not an unsigned 32-bit decimal integer (0..4294967295)");
  }
  return w;
}

std::string format_value(float v, bool hex) {
  if (std::isnan(v)) return std::signbit(v) ? "-nan" : "nan";
  char buf[64];
  auto [ptr, ec] = hex ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::hex) : std::to_chars(buf, buf + sizeof buf, v);
  RNGFREE_CHECK(ec == std::errc(), "to_chars failed");
  std::string s(buf, ptr);
  if (hex && !std::isinf(v)) s.insert(s[0] == '-' ? 1 : 0, "0x");
  return s;
}

void run(const std::string& format_spec, const std::string& rounding_spec, const std::string& random_source, bool hex) {
  const Format format = Format::parse(format_spec);
  const Rounding rounding = Rounding::parse(rounding_spec);
  const bool given = random_source == "given";
  if (!random_source.empty() && !given) {
    std::string allowed;
    for (const char* s : kRandomSources) allowed += std::string(allowed.empty() ? "" : ", ") + s;
    throw Error("--random '" + random_source + "': unknown source; allowed: " + allowed);
  }
  if (rounding.is_stochastic() && !given) {
    throw Error("--rounding " + rounding.name() +
                " needs random bits: pass --random given and write 'value word' on each line "
                "(word: unsigned 32-bit decimal whose low R bits are the random bits)");
  }
  std::vector<float> values;
  std::vector<uint32_t> words;
  std::string line;
  int64_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    const std::string_view text = trim(line);
    const auto space = text.find_first_of(" \t");
    const std::string_view first = text.substr(0, space);
    const std::string_view rest = space == std::string_view::npos ? std::string_view{} : trim(text.substr(space));
    if (text.empty()) throw Error("line " + std::to_string(number) + ": empty; expected " + (given ? "'value word'" : "a value"));
    values.push_back(parse_value(first, number));
    if (given) {
      if (rest.empty()) throw Error("line " + std::to_string(number) + ": the random word is missing (--random given: 'value word')");
      if (rest.find_first_of(" \t") != std::string_view::npos) {
        throw Error("line " + std::to_string(number) + ": expected 'value word', got extra fields: '" + std::string(text) + "'");
      }
      words.push_back(parse_word(rest, number));
    } else if (!rest.empty()) {
      throw Error("line " + std::to_string(number) + ": expected one value, got extra fields: '" + std::string(text) +
                  "' (random words need --random given)");
    }
  }
  std::vector<float> out(values.size());
  quantize(values, out, format, rounding, words);
  std::string text;
  for (float v : out) {
    text += format_value(v, hex);
    text += '\n';
  }
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    throw Error("stdout: writing the " + std::to_string(out.size()) + " results failed (closed pipe or full disk?)");
  }
}

const RegisterCommand kQuantize("", "quantize", [](CLI::App& root) {
  auto* cmd = root.add_subcommand("quantize",
                                  "Quantize FP32 values read from stdin (one per line; with --random given: 'value word')");
  auto format = std::make_shared<std::string>();
  auto rounding = std::make_shared<std::string>();
  auto random = std::make_shared<std::string>();
  auto hex = std::make_shared<bool>(false);
  cmd->add_option("--format", *format,
                  "float:E:M[:ieee], fp16, bf16, tf32, e5m2, e4m3 (aliases take :ieee), fixed:WL:FL, fixed:WL:dyn, bfp:M:B")
      ->required();
  cmd->add_option("--rounding", *rounding, "nearest-even, nearest-away, toward-zero, up, down, stochastic:R (R = 1..32)")
      ->required();
  cmd->add_option("--random", *random,
                  "source of random words for stochastic rounding; 'given': each line is 'value word', the word's low R "
                  "bits are the random bits");
  cmd->add_flag("--hex", *hex, "print C99 hex floats instead of shortest round-trip decimals");
  cmd->callback([=] { run(*format, *rounding, *random, *hex); });
});

}  // namespace
}  // namespace rngfree::app
