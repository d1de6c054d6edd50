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
    const SimdLevel best = simd_level_supported();
    fmt::print("cpu: avx2={} avx512={} avx512bf16={} f16c={}\n", best >= SimdLevel::kAvx2, best >= SimdLevel::kAvx512,
               cpu_has_avx512bf16(), cpu_has_f16c());
    fmt::print("SIMD kernels (quantize, random, harvest, NIST): {}\n", simd_level_name(simd_level()));
  });
});
}  // namespace
}  // namespace rngfree::app
