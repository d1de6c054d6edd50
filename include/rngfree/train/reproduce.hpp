// The main job (issue 5, `rngfree reproduce`): the preset matrix (fp32, int8-rne, int8-sr with each
// generator, int8-sr-harvest) over several seeds, a report folder with a results table (mean ± std of
// test accuracy), accuracy and loss curves (SVG), and the audit (audit_run.hpp) of the first harvest
// run: every stochastic site's words judged in three windows. No libtorch in this header.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rngfree/train/trainer.hpp"

namespace rngfree::train {

inline constexpr IntRange<int> kReproduceSeeds{1, 100};  // --seeds

struct ReproduceOptions {
  bool full = false;        // quick (default) or full
  std::string out_dir = "reproduce";
  int seeds = 3;
  int threads = 0;
  std::string data = "fashion-mnist";
  std::string cifar10;      // full mode: also resnet20 on cifar10:DIR when given
  bool nist = true;         // audit the first int8-sr-harvest run (NIST, bias, correlation per site)
  bool superres = true;     // also espcn ×2 on photos with fp32, int8-rne, int8-sr-philox, int8-sr-harvest
  int sr_epochs = 0;        // override of the superres runs' epochs (0: the mode's)
  bool lm = true;           // also the byte-level gpt on fortunes (docs/lm.md)
  int64_t lm_steps = 0;     // override of the lm runs' optimizer steps (0: the mode's)
  bool progress = true;
  // Overrides for tests (0 / empty: the mode's values).
  int epochs = 0;
  int64_t train_limit = 0, test_limit = 0;
  std::vector<std::string> presets;
  int64_t nist_sequence_bits = 0;  // the audit's NIST size: sequences of this many bits (default 10^6)
  int nist_sequences = 0;          // ... this many per site and window (default 10)
};

struct PresetResult {
  std::string model, preset;
  std::vector<RunSummary> runs;  // one per seed
  double mean_accuracy = 0, std_accuracy = 0;  // final test accuracy over seeds (std: n-1 denominator)
  double mean_best_accuracy = 0, mean_images_per_s = 0;
  bool superres = false;  // then accuracies are 0 and these hold test PSNR (dB) over seeds, and bicubic's
  double mean_psnr_db = 0, std_psnr_db = 0, bicubic_psnr_db = 0, mean_ssim = 0, bicubic_ssim = 0;
  bool lm = false;  // then these hold the validation loss (nats per byte) and bits per byte over seeds
  double mean_val_loss = 0, std_val_loss = 0, mean_val_bpc = 0;
};

struct ReproduceResult {
  std::vector<PresetResult> presets;
  std::string audit_summary;  // markdown, empty when not run
  bool audit_ok = false;      // the audit's verdict
  double wall_seconds = 0;
};

// The mode's settings, for --help and docs: quick = lenet5, 2 epochs; full = lenet5, 15 epochs
// (+ resnet20 on CIFAR-10, 30 epochs, when options.cifar10 is set).
std::string reproduce_plan(const ReproduceOptions& options);

// Runs everything and writes out_dir/{results.md, results.csv, results.json, accuracy.svg, loss.svg,
// audit/{audit.md, audit.csv, audit.svg, audit.json}, runs/...}; with superres also psnr.svg and
// sr_comparison.png (one test crop: bicubic | fp32 | int8-rne | int8-sr-harvest | ground truth, seed 1). Throws rngfree::Error on bad options or data.
ReproduceResult reproduce(const ReproduceOptions& options);

// mean and sample standard deviation (n-1; 0 for n < 2).
std::pair<double, double> mean_std(const std::vector<double>& v);

}  // namespace rngfree::train
