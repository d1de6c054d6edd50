// Subcommand registry: each app/rngfree/cmd_*.cpp registers itself with one static
// RegisterCommand, so subcommands are added without touching main.cpp. `parent` is "" for a
// top-level subcommand or the name of a top-level one ("bench") for nested ones.
#pragma once
#include <CLI/CLI.hpp>

#include <concepts>
#include <exception>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/number_input.hpp"

namespace rngfree::app {

using CommandSetup = std::function<void(CLI::App& parent)>;

struct RegisterCommand {
  RegisterCommand(std::string parent, std::string name, CommandSetup setup);
};

// The error line for an exception of a library underneath (libtorch's c10::Error): its message
// without the backtrace, and the full text for --verbose. The program with the libtorch commands
// (rngfree-torch, torch_errors.cpp) registers one; it is also how main.cpp knows which program it is in.
struct ErrorText {
  std::string message, detail;
};
using DescribeError = std::function<std::optional<ErrorText>(const std::exception&)>;
struct RegisterErrorDescriber {
  explicit RegisterErrorDescriber(DescribeError describe);
};

// "a,b,,c" -> {"a", "b", "c"}: a comma-separated flag value, empty items dropped.
inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The flag's name for messages: its first long name ("-n,--bits" -> "--bits").
inline std::string flag_name(const std::string& names) {
  const size_t at = names.find("--");
  const std::string from = at == std::string::npos ? names : names.substr(at);
  return from.substr(0, from.find(','));
}

namespace detail {
// The default shown in --help: a plain target's value when the range allows it ("" for optional
// targets and for placeholders such as 0 = "the mode's default" outside the range).
template <typename Target, typename Range>
std::string default_text(const Target& target, const Range& range) {
  if constexpr (requires { target.has_value(); }) {
    return {};
  } else if constexpr (std::is_floating_point_v<Target>) {
    return range.contains(target) ? std::to_string(target) : std::string();
  } else {
    return target >= range.lo && target <= range.hi ? std::to_string(target) : std::string();
  }
}
}  // namespace detail

// A numeric flag (number_input.hpp): decimal text parsed strictly into target (T or
// std::optional<T>); outside range it is refused with rngfree::Error naming the flag, the value and
// the range ("--seed -5: allowed 0..18446744073709551615"). Never narrowed, wrapped or read as octal.
template <std::integral T, typename Target>
CLI::Option* add_integer_flag(CLI::App* cmd, const std::string& names, Target& target, const std::string& help,
                              IntRange<T> range) {
  auto* opt = cmd->add_option_function<std::string>(
      names, [&target, flag = flag_name(names), range](const std::string& text) {
        target = parse_integer<T>(flag, text, range);
      }, help + "; allowed " + range.text());
  opt->type_name(std::is_signed_v<T> ? "INT" : "UINT");
  if (const std::string d = detail::default_text(target, range); !d.empty()) opt->default_str(d);
  return opt;
}

template <typename Target>
CLI::Option* add_real_flag(CLI::App* cmd, const std::string& names, Target& target, const std::string& help,
                           const RealRange& range) {
  auto* opt = cmd->add_option_function<std::string>(
      names, [&target, flag = flag_name(names), range](const std::string& text) {
        target = parse_real(flag, text, range);
      }, help + "; allowed " + range.text());
  opt->type_name("FLOAT");
  if (const std::string d = detail::default_text(target, range); !d.empty()) opt->default_str(d);
  return opt;
}

// Sets up the whole command tree under `root` (used by main).
void setup_commands(CLI::App& root);

}  // namespace rngfree::app
