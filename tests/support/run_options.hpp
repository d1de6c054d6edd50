// RunOptions for tests: a run folder, resume or not, no progress bar (the other fields default).
#pragma once
#include <filesystem>

#include "rngfree/train/trainer.hpp"

namespace rngfree::testing {

inline train::RunOptions quiet_run(const std::filesystem::path& out_dir, bool resume = false) {
  train::RunOptions o;
  o.out_dir = out_dir.string();
  o.resume = resume;
  o.progress = false;
  return o;
}

}  // namespace rngfree::testing
