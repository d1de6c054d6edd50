// `rngfree info`: version, build options and the CPU features the kernels dispatch on.
#include <fmt/core.h>

#include "command.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::app {
namespace {
const RegisterCommand kInfo("", "info", [](CLI::App& root) {
  auto* cmd = root.add_subcommand("info", "Print the version, build options and the CPU features used at run time");
  cmd->callback([] {
    fmt::print("rngfree {}\n", RNGFREE_VERSION);
#if defined(RNGFREE_WITH_TORCH)
    fmt::print("training engine: libtorch\n");
#endif
    __builtin_cpu_init();
    fmt::print("cpu: avx2={} avx512f={} avx512bf16={} f16c={}\n", __builtin_cpu_supports("avx2") != 0,
               __builtin_cpu_supports("avx512f") != 0, __builtin_cpu_supports("avx512bf16") != 0,
               __builtin_cpu_supports("f16c") != 0);
    fmt::print("SIMD kernels (quantize, random, harvest, NIST): {}\n", simd_level_name(simd_level()));
  });
});
}  // namespace
}  // namespace rngfree::app
