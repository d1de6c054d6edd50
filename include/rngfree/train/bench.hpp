// `rngfree bench train`: training throughput (images/s) of fp32 and the int8-sr presets, measured
// in one process, interleaved round by round (each round starting one preset later) so that a busy
// machine slows every preset alike; the median round counts. No libtorch in this header.
#pragma once
#include <string>
#include <vector>

#include "rngfree/train/trainer.hpp"

namespace rngfree::train {

struct BenchTrainOptions {
  std::string model = "lenet5";  // lenet5 or resnet20 (any model works)
  std::string data;              // "" = fashion-mnist for 1-channel models, synthetic:3:32 for resnet20/vgg7
  std::vector<std::string> presets = {"fp32", "int8-sr-lfsr", "int8-sr-xoshiro", "int8-sr-philox", "int8-sr-harvest"};
  // TOML configs (docs/training.md's keys) run as further rows, each named by its file's stem; the
  // bench's model, data, batch and threads replace theirs.
  std::vector<std::string> configs;
  int batch = 128;
  int steps = 0;   // steps per round (0: 40 for lenet5/mlp, 4 otherwise)
  int rounds = 5;
  int threads = 0;
};

struct BenchTrainRow {
  std::string preset;
  double images_per_s = 0;             // median over rounds
  std::vector<double> rounds;          // each round's images/s
  StepBreakdown breakdown;             // one round's, each number the median over the timed rounds
};

std::vector<BenchTrainRow> bench_train(const BenchTrainOptions& options);

}  // namespace rngfree::train
