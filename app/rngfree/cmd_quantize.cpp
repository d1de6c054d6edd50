// `rngfree quantize`: one value per stdin line (decimal or C99 hex float, parsed to the nearest
// FP32), quantized with --format/--rounding, printed in shortest round-trip decimal (or C99 hex).
// Lets anyone check the arithmetic from outside (issue 2); the lines are parsed by the library
// (rngfree/quantize_input.hpp). All lines are one span, so fixed:WL:dyn
// scales over the whole input and bfp blocks are consecutive lines.
#include <fmt/core.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/quantize_input.hpp"

namespace rngfree::app {
namespace {

// Sources of random words this command accepts. "given": the word is the second field of each
// line. (Generators and harvested sources can be added here when the random module provides them.)
constexpr const char* kRandomSources[] = {"given"};

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
  std::ostringstream all;
  all << std::cin.rdbuf();
  const QuantizeInput input = parse_quantize_lines(all.str(), given);
  std::vector<float> out(input.values.size());
  quantize(input.values, out, format, rounding, input.words);
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
