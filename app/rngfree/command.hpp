// Subcommand registry: each app/rngfree/cmd_*.cpp registers itself with one static
// RegisterCommand, so subcommands are added without touching main.cpp. `parent` is "" for a
// top-level subcommand or the name of a top-level one ("bench") for nested ones.
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace rngfree::app {

using CommandSetup = std::function<void(CLI::App& parent)>;

struct RegisterCommand {
  RegisterCommand(std::string parent, std::string name, CommandSetup setup);
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

// Sets up the whole command tree under `root` (used by main).
void setup_commands(CLI::App& root);

}  // namespace rngfree::app
