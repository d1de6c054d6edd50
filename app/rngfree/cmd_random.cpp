// `rngfree random --source NAME --seed S --count N`: the first N 32-bit words of a generator's
// single-site stream, one per line in decimal (lfsr:W: the successive W-bit states of lane 0), so
// anyone can check the generators against their published definitions (issue 3, docs/random.md).
#include <fmt/core.h>

#include <string>

#include "command.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::app {
namespace {
const RegisterCommand kRandom("", "random", [](CLI::App& root) {
  auto* cmd = root.add_subcommand("random", "Print the first words of a generator's stream (site 0, lane 0)");
  struct Args {
    std::string source;
    uint64_t seed = 0;
    int64_t count = 10;
  };
  auto args = std::make_shared<Args>();
  std::string allowed;
  for (const auto& s : random::generator_specs()) allowed += (allowed.empty() ? "" : ", ") + s;
  cmd->add_option("--source", args->source, "Generator: " + allowed)->required();
  add_integer_flag(cmd, "--seed", args->seed, "Seed (unsigned 64-bit)", IntRange<uint64_t>{});
  add_integer_flag(cmd, "--count", args->count, "Number of words to print",
                   IntRange<int64_t>{0, std::numeric_limits<int64_t>::max()});
  cmd->callback([args] {
    const auto words = random::reference_sequence(args->source, args->seed, args->count);
    std::string out;
    out.reserve(words.size() * 11);
    for (uint64_t w : words) {
      out += fmt::format("{}\n", w);
      if (out.size() > (1u << 20)) {
        fmt::print("{}", out);
        out.clear();
      }
    }
    fmt::print("{}", out);
  });
});
}  // namespace
}  // namespace rngfree::app
