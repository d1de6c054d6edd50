// `rngfree audit`: the per-site proof of the bits SR consumed (docs/audit.md) — trains a
// configuration, records the words of every stochastic site in early/middle/late windows, and judges
// each against a Philox generator fed the same values. Parses, calls rngfree::train::run_audit,
// writes the report, prints the verdict; progress on stderr.
#include <fmt/core.h>

#include <optional>
#include <sstream>

#include "command.hpp"
#include "rngfree/atomic_file.hpp"
#include "rngfree/error.hpp"
#include "rngfree/train/audit_run.hpp"

namespace rngfree::app {
namespace {

struct AuditFlags {
  train::AuditRequest q;  // what the audit runs (shared with rngfree.audit in Python)
  std::string out = "audit", json, windows = "early,middle,late";
  bool strict = false;
};

const RegisterCommand kAudit("", "audit", [](CLI::App& root) {
  auto f = std::make_shared<AuditFlags>();
  auto* cmd = root.add_subcommand(
      "audit",
      "Prove the random bits per site: train a configuration, record exactly the words every stochastic rounding "
      "site consumes in an early, a middle and a late window, and judge each (NIST SP 800-22, r = 0 share, distinct "
      "words, SR bias, correlation with the rounded fraction) beside a Philox generator fed the same values "
      "(docs/audit.md)");
  cmd->add_option("--preset", f->q.preset, "Training preset (default int8-sr-harvest)");
  cmd->add_option("--config", f->q.config_file, "TOML config file (docs/training.md); --preset beats its preset key");
  cmd->add_option("--task", f->q.task, "classify (default), superres (espcn on photos; docs/superres.md) or lm (gpt on fortunes; docs/lm.md)");
  cmd->add_option("--model", f->q.model, "mlp, lenet5, vgg7, resnet20 (default lenet5); superres: espcn; lm: gpt");
  cmd->add_option("--data", f->q.data, "Data spec (default fashion-mnist)");
  add_integer_flag(cmd, "--epochs", f->q.epochs, "Epochs of the schedule (default: the config's; --steps can cut it short)",
                   train::limits::kEpochs);
  add_integer_flag(cmd, "--steps", f->q.steps, "Training steps in all (default: the config's epochs; quick: 24)",
                   IntRange<int64_t>{1, std::numeric_limits<int64_t>::max()});
  add_integer_flag(cmd, "--window", f->q.window, "Steps per window (default 64; quick 4)",
                   IntRange<int64_t>{1, std::numeric_limits<int64_t>::max()});
  cmd->add_option("--windows", f->windows, "Windows, comma separated: early, middle, late")->default_val("early,middle,late");
  add_integer_flag(cmd, "--sequences", f->q.sequences,
                   "NIST sequences per site and window (default 10; >= 55 also judges uniformity)",
                   audit::kAuditSequences);
  add_integer_flag(cmd, "-n,--bits", f->q.bits,
                   "NIST bits per site and window, all sequences together (default 10000000; quick 200000)",
                   audit::kAuditNistBits);
  add_integer_flag(cmd, "--calibration", f->q.calibration, "Philox streams run through NIST per site (default 4; quick 2)",
                   audit::kAuditCalibration);
  add_integer_flag(cmd, "--seed", f->q.seed, "Seed of the training run and of the calibration (default 1)",
                   train::limits::kSeed);
  add_integer_flag(cmd, "--train-limit", f->q.train_limit, "Use only the first N training images (quick: 2560)",
                   train::limits::kImageLimit);
  add_integer_flag(cmd, "--threads", f->q.threads, "NIST threads", audit::kAuditThreads);
  add_integer_flag(cmd, "--train-threads", f->q.train_threads, "Training threads (default: all cores)",
                   train::limits::kThreads);
  cmd->add_option("--out", f->out, "Report folder: audit.md, audit.csv, audit.svg, audit.json")->default_val("audit");
  cmd->add_option("--json", f->json, "Also write the JSON report to this file");
  cmd->add_option("--dump-dir", f->q.dump_dir,
                  "Write each site's consumed bits as <layer>.<site>.<window>.bin (rngfree nist --input binary)");
  cmd->add_flag("--quick", f->q.quick, "A small end-to-end run (tests, CI): 2,560 images, 24 steps, 4-step windows");
  cmd->add_flag("--strict", f->strict, "Exit with status 3 when the verdict is fail");
  cmd->callback([f, cmd] {
    f->q.windows = split_commas(f->windows);
    train::AuditRunOptions o = train::make_audit_options(f->q);
    const train::TrainConfig& cfg = o.train;
    o.command = "rngfree audit";
    for (const auto* opt : cmd->get_options()) {
      if (opt->count() == 0 || opt->get_name() == "--help") continue;
      o.command += " " + opt->get_name(false, true);
      if (opt->get_type_size() != 0) o.command += " " + opt->as<std::string>();
    }
    o.log = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };
    const train::AuditRunResult r = train::run_audit(o);
    audit::write_report(r.report, f->out);
    if (!f->json.empty()) {
      write_file_atomic(f->json, audit::to_json(r.report));
    }
    int passed = 0;
    for (const auto& s : r.report.sites) passed += s.ok();
    fmt::print("audit: {} on {}: {} of {} (site, window) cells pass; verdict {}; {}, {:.0f} s\n", cfg.preset, cfg.model,
               passed, r.report.sites.size(), r.report.ok() ? "PASS" : "FAIL",
               train::final_metric_text(cfg.task, r.test_accuracy), r.seconds);
    fmt::print("wrote {}/audit.md, audit.csv, audit.svg, audit.json{}\n", f->out,
               f->json.empty() ? "" : ", " + f->json);
    if (f->strict && !r.report.ok()) throw CLI::RuntimeError(3);
  });
});

}  // namespace
}  // namespace rngfree::app
