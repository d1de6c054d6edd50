// `rngfree audit` (DESIGN.md "audit"): trains a configuration and records exactly the words every
// stochastic rounding site consumes (every layer × E, G, U, and any other SR site) in an early, a
// middle and a late window of steps, then judges each (site, window) with the audit module: NIST on
// those words, r = 0 share, distinct words, SR bias and r/fraction correlation, each beside a Philox
// generator fed the same values. No libtorch in this header.
#pragma once
#include <cstdint>
#include <functional>
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

struct AuditRunResult {
  audit::AuditReport report;
  int64_t steps = 0;                 // steps trained
  double test_accuracy = 0;          // after the last step
  double seconds = 0;                // wall time, training and judging
  std::vector<std::pair<std::string, int64_t>> window_starts;  // window name, first step
};

// "early from step 0, middle from step 436, late from step 872"
std::string describe_windows(const AuditRunResult& result);

// Throws rngfree::Error for a bad option (unknown window name, window < 1, steps < window, a
// configuration without any stochastic site).
AuditRunResult run_audit(const AuditRunOptions& options);

}  // namespace rngfree::train
