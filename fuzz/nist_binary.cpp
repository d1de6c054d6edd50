// Fuzz target: `rngfree nist --input binary` (raw bytes, most significant bit first) through the suite.
#include "nist_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return rngfree::fuzz::run_nist_input(data, size, rngfree::nist::BitInput::kBinary);
}
