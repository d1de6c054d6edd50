// Fuzz target: a TOML training config (`rngfree train --config FILE.toml`). Bad documents must be
// refused with rngfree::Error; an accepted one must validate or be refused by validate(), and its
// JSON form (what summary.json and checkpoints store) must read back to the same JSON.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rngfree/error.hpp"
#include "rngfree/train/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  rngfree::train::TrainConfig cfg;
  try {
    rngfree::train::apply_toml_text(cfg, text, "fuzz.toml");
    cfg.validate();
  } catch (const rngfree::Error&) {
    return 0;
  }
  const std::string json = rngfree::train::to_json(cfg);
  if (rngfree::train::to_json(rngfree::train::config_from_json(json)) != json) std::abort();
  return 0;
}
