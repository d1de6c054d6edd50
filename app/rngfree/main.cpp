// rngfree: the command-line program. Parses, calls the library, prints; no logic here.
//
// Two executables share this file and the commands that do not need libtorch: `rngfree` holds
// only those, and hands every other command line (train, reproduce, audit, ..., --help, a missing
// or unknown command) to `rngfree-torch` next to it, which holds all commands. Loading libtorch
// costs ~0.7 s of CPU at every start (its operator registry), which `rngfree nist`, `quantize`,
// `harvest`, `random` and their benchmarks no longer pay (docs/testing.md "CI's time").
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
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

DescribeError& error_describer() {
  static DescribeError d;
  return d;
}
}  // namespace

RegisterCommand::RegisterCommand(std::string parent, std::string name, CommandSetup setup) {
  registry().push_back({std::move(parent), std::move(name), std::move(setup)});
}

RegisterErrorDescriber::RegisterErrorDescriber(DescribeError describe) { error_describer() = std::move(describe); }

namespace {
// The command a command line asks for: its first word that is not an option, and for `bench` the
// next one ({"bench", "quantize"}); empty when there is none.
std::vector<std::string> requested_command(int argc, char** argv) {
  std::vector<std::string> words;
  for (int i = 1; i < argc && words.size() < 2; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] == '-') continue;
    words.push_back(a);
    if (a != "bench") break;
  }
  return words;
}

bool registered_here(const std::vector<std::string>& words) {
  if (words.empty()) return false;
  return std::any_of(registry().begin(), registry().end(), [&](const Entry& e) {
    return words.size() == 2 ? e.parent == words[0] && e.name == words[1] : e.parent.empty() && e.name == words[0];
  });
}

// Replaces this process by rngfree-torch (same directory as this program) with the same arguments;
// returns only when that program cannot be started, with the error line.
int run_torch_program(char** argv) {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const auto program = (ec ? std::filesystem::path(argv[0]) : self).parent_path() / "rngfree-torch";
  ::execv(program.c_str(), argv);
  std::fprintf(stderr,
               "rngfree: error: this command line needs the commands built with libtorch, in %s, which cannot be "
               "started: %s (build the project again: scripts/build.sh)\n",
               program.c_str(), std::strerror(errno));
  return 2;
}
}  // namespace

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
#ifdef RNGFREE_WITH_TORCH
  // The program without libtorch (no error describer registered) hands what it lacks to rngfree-torch.
  const bool version_only = argc == 2 && std::string(argv[1]) == "--version";
  if (!rngfree::app::error_describer() && !version_only &&
      !rngfree::app::registered_here(rngfree::app::requested_command(argc, argv))) {
    return rngfree::app::run_torch_program(argv);
  }
#endif
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
  } catch (const std::exception& e) {
    if (const auto& describe = rngfree::app::error_describer()) {
      if (const auto text = describe(e)) return report_error(text->message, text->detail, verbose, 1);
    }
    return report_error(e.what(), {}, verbose, 1);
  }
  return 0;
}
