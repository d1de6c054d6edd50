// `rngfree audit` (DESIGN.md "audit"): trains a configuration and records exactly the words every
// stochastic rounding site consumes (every layer × E, G, U, and any other SR site) in an early, a
// middle and a late window of steps, then judges each (site, window) with the audit module: NIST on
// those words, r = 0 share, distinct words, SR bias and r/fraction correlation, each beside a Philox
// generator fed the same values. No libtorch in this header.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "rngfree/audit/audit.hpp"
#include "rngfree/train/config.hpp"

namespace rngfree::train {

struct AuditRunOptions {
  TrainConfig train;                 // the configuration audited (model, data, preset, ...)
  int64_t steps = 0;                 // training steps in all (0: train.epochs whole epochs)
  int64_t window = 64;               // steps per window (at most: a site stops recording once it has
                                     // audit.nist_bits bits and at least 2 calls)
  std::vector<std::string> windows = {"early", "middle", "late"};
  audit::AuditOptions audit;         // NIST size, calibration, dump folder
  std::string command;               // the command line, for the report
  std::function<void(const std::string&)> log;  // progress lines (stderr in the app)
};

// The trained run's final metric as a phrase: "test accuracy 88.13 %", "test PSNR 27.341 dB" (superres),
// "validation next-byte accuracy 31.20 %" (lm).
std::string final_metric_text(const std::string& task, double value);

struct AuditRunResult {
  audit::AuditReport report;
  int64_t steps = 0;                 // steps trained
  double test_accuracy = 0;          // after the last step (superres: test PSNR in dB; lm: next-byte accuracy)
  double seconds = 0;                // wall time, training and judging
  std::vector<std::pair<std::string, int64_t>> window_starts;  // window name, first step
};

// What `rngfree audit` (and rngfree.audit.run in Python) asks for; unset fields keep the defaults.
// make_audit_options applies them in this order: task, preset, config (file, then text), model, data,
// epochs, seed, training threads; `quick` (2,560 training images, 1,000 test images, 24 steps of
// 4-step windows, 200,000 bits per sequence, 2 calibration streams); then the explicit sizes.
struct AuditRequest {
  std::string preset = "int8-sr-harvest", task, model, data, config_file, config_text;
  std::vector<std::string> windows = {"early", "middle", "late"};
  std::optional<int64_t> steps, window, bits, train_limit;
  std::optional<int> sequences, calibration, epochs, train_threads;
  std::optional<uint64_t> seed;
  int threads = 2;  // NIST threads
  bool quick = false;
  std::string dump_dir;
};
// Throws rngfree::Error for a bad preset, config or size (as the command line does).
AuditRunOptions make_audit_options(const AuditRequest& request);

// "early from step 0, middle from step 436, late from step 872"
std::string describe_windows(const AuditRunResult& result);

// Throws rngfree::Error for a bad option (unknown window name, window < 1, steps < window, a
// configuration without any stochastic site).
AuditRunResult run_audit(const AuditRunOptions& options);

}  // namespace rngfree::train
