// rngfree: the one command-line program. Parses, calls the library, prints; no logic here.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <vector>

#include "command.hpp"
#include "rngfree/error.hpp"

namespace rngfree::app {
namespace {
struct Entry {
  std::string parent, name;
  CommandSetup setup;
};
std::vector<Entry>& registry() {
  static std::vector<Entry> r;
  return r;
}
}  // namespace

RegisterCommand::RegisterCommand(std::string parent, std::string name, CommandSetup setup) {
  registry().push_back({std::move(parent), std::move(name), std::move(setup)});
}

void setup_commands(CLI::App& root) {
  auto& r = registry();
  std::sort(r.begin(), r.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  std::map<std::string, CLI::App*> groups;
  bool has_bench = false;
  for (auto& e : r) has_bench |= e.parent == "bench";
  if (has_bench) {
    auto* bench = root.add_subcommand("bench", "Benchmarks: throughput ratios against a baseline measured in the same run");
    bench->require_subcommand(1);
    groups["bench"] = bench;
  }
  for (auto& e : r) {
    if (e.parent.empty()) e.setup(root);
  }
  for (auto& e : r) {
    if (!e.parent.empty()) {
      auto it = groups.find(e.parent);
      RNGFREE_CHECK(it != groups.end(), "unknown parent command " + e.parent);
      e.setup(*it->second);
    }
  }
}

}  // namespace rngfree::app

int main(int argc, char** argv) {
  CLI::App app{"rngfree: low-precision DNN training with generator-free stochastic rounding"};
  app.set_version_flag("--version", std::string("rngfree ") + RNGFREE_VERSION);
  app.require_subcommand(1);
  rngfree::app::setup_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rngfree::Error& e) {
    std::fprintf(stderr, "rngfree: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rngfree: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
