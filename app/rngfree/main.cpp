// rngfree: the one command-line program. Parses, calls the library, prints; no logic here.
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "rngfree/error.hpp"

#ifdef RNGFREE_WITH_TORCH
#include <c10/util/Exception.h>
#endif

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

namespace {
// The error line, and with --verbose the full text a library underneath gave (libtorch's backtrace).
int report_error(const std::string& message, const std::string& detail, bool verbose, int status) {
  std::fprintf(stderr, "rngfree: error: %s\n", message.c_str());
  if (!detail.empty() && detail != message) {
    if (verbose) {
      std::fprintf(stderr, "rngfree: detail from the library:\n%s\n", detail.c_str());
    } else {
      std::fprintf(stderr, "rngfree: (run with --verbose for the library's full message and backtrace)\n");
    }
  }
  return status;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rngfree: low-precision DNN training with generator-free stochastic rounding"};
  app.set_version_flag("--version", std::string("rngfree ") + RNGFREE_VERSION);
  bool verbose = false;
  app.add_flag("--verbose", verbose, "On errors, also print the full message and backtrace of the library underneath "
               "(libtorch); may follow the subcommand");
  app.fallthrough();  // subcommands pass --verbose up to here (inherited by every subcommand added below)
  app.require_subcommand(1);
  rngfree::app::setup_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rngfree::Error& e) {
    return report_error(e.what(), e.detail(), verbose, 2);
#ifdef RNGFREE_WITH_TORCH
  } catch (const c10::Error& e) {
    return report_error(e.what_without_backtrace(), e.what(), verbose, 1);
#endif
  } catch (const std::exception& e) {
    return report_error(e.what(), {}, verbose, 1);
  }
  return 0;
}
