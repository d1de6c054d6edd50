// Fuzz target: the checkpoint loader's reading of a file (`rngfree train --resume`): the libtorch
// archive (a zip), its "meta" record (JSON) and the run configuration inside. Anything but a
// readable rngfree checkpoint must be refused with rngfree::Error naming the file.
#include <cstdint>
#include <string_view>

#include "rngfree/error.hpp"
#include "rngfree/train/trainer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    rngfree::train::checkpoint_config_from_bytes(std::string_view(reinterpret_cast<const char*>(data), size),
                                                 "fuzz/checkpoint.pt");
  } catch (const rngfree::Error&) {
  }
  return 0;
}
