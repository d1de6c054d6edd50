// `rngfree reproduce`: the main job — the preset matrix over seeds and its report folder
// (rngfree::train::reproduce). Parses, calls the library, prints where the report is.
#include <fmt/core.h>

#include "command.hpp"
#include "rngfree/train/reproduce.hpp"

namespace rngfree::app {
namespace {

const RegisterCommand kReproduce("", "reproduce", [](CLI::App& root) {
  auto o = std::make_shared<train::ReproduceOptions>();
  auto quick = std::make_shared<bool>(false);
  auto no_nist = std::make_shared<bool>(false);
  auto no_superres = std::make_shared<bool>(false);
  auto plan = std::make_shared<bool>(false);
  auto* cmd = root.add_subcommand(
      "reproduce",
      "The main job: train lenet5 on Fashion-MNIST with every preset (fp32, int8-rne, int8-sr-lfsr, int8-sr-xoshiro, "
      "int8-sr-philox, int8-sr-harvest) over several seeds, and write a report folder: results.md (mean ± std test "
      "accuracy per preset), accuracy.svg and loss.svg (curves), audit/ (the audit of one harvest run: every "
      "stochastic site's words judged by NIST SP 800-22, SR bias and correlation in three windows), results.csv/json and every run's metrics. Without a flag the mode is "
      "--quick (lenet5: 2 epochs per run, 18 runs, then the audit of one harvest run; super-resolution: 12 espcn "
      "runs of 3 epochs, 4 presets x 3 seeds; language model: 9 gpt runs of 100 steps; 9 minutes in all, measured "
      "on a quiet 2-core machine); --full trains 15 epochs "
      "(about an hour; and resnet20 on "
      "CIFAR-10 with --cifar10 DIR: hours on a CPU).");
  auto* q = cmd->add_flag("--quick", *quick, "Quick mode (the default): 2 epochs per run");
  cmd->add_flag("--full", o->full, "Full mode: 15 epochs per run, plus resnet20 on CIFAR-10 if --cifar10 is given")
      ->excludes(q);
  cmd->add_option("--out", o->out_dir, "Report folder (default: reproduce)");
  add_integer_flag(cmd, "--seeds", o->seeds, "Seeds per preset", train::kReproduceSeeds);
  add_integer_flag(cmd, "--threads", o->threads, "Threads", train::limits::kThreads);
  cmd->add_option("--data", o->data, "Dataset for lenet5 (default fashion-mnist; see rngfree train --help)");
  cmd->add_option("--cifar10", o->cifar10, "Folder with the CIFAR-10 binary batches (full mode: adds resnet20)");
  add_integer_flag(cmd, "--epochs", o->epochs, "Override the mode's epochs per run", train::limits::kEpochs);
  add_integer_flag(cmd, "--train-limit", o->train_limit, "Use only the first N training images (smoke runs)",
                   train::limits::kImageLimit);
  cmd->add_option("--presets", o->presets, "Only these presets (default: all six)")->delimiter(',');
  cmd->add_flag("--no-audit,--no-nist", *no_nist,
                "Skip the audit of the harvest run (per-site NIST, bias, correlation; --no-nist is its old name)");
  cmd->add_flag("--no-superres", *no_superres, "Leave out the super-resolution runs (espcn x2 on photos, 4 presets)");
  add_integer_flag(cmd, "--sr-epochs", o->sr_epochs, "Override the mode's epochs of the super-resolution runs",
                   train::limits::kEpochs);
  auto no_lm = std::make_shared<bool>(false);
  cmd->add_flag("--no-lm", *no_lm, "Leave out the language-model runs (gpt on fortunes, docs/lm.md)");
  add_integer_flag(cmd, "--lm-steps", o->lm_steps, "Override the mode's optimizer steps of the language-model runs",
                   IntRange<int64_t>{0, std::numeric_limits<int64_t>::max(), "0: the mode's"});
  cmd->add_flag("--plan", *plan, "Print the runs this mode would do, then exit");
  cmd->callback([o, no_nist, no_superres, no_lm, plan] {
    o->nist = !*no_nist;
    o->superres = !*no_superres;
    o->lm = !*no_lm;
    if (*plan) {
      fmt::print("{}", train::reproduce_plan(*o));
      return;
    }
    train::ReproduceResult r = train::reproduce(*o);
    fmt::print("{:<10} {:<18} {:>22} {:>10}\n", "model", "preset", "test accuracy (%)", "images/s");
    for (const auto& p : r.presets) {
      if (p.lm) {
        fmt::print("{:<10} {:<18} {:>11.4f} ± {:<6.4f} nats/byte ({:.4f} bits/byte) {:>6.0f}\n", p.model, p.preset,
                   p.mean_val_loss, p.std_val_loss, p.mean_val_bpc, p.mean_images_per_s);
        continue;
      }
      if (p.superres) {
        fmt::print("{:<10} {:<18} {:>11.3f} ± {:<5.3f} dB (bicubic {:.3f}) {:>6.0f}\n", p.model, p.preset, p.mean_psnr_db,
                   p.std_psnr_db, p.bicubic_psnr_db, p.mean_images_per_s);
        continue;
      }
      fmt::print("{:<10} {:<18} {:>14.2f} ± {:<5.2f} {:>10.0f}\n", p.model, p.preset, 100 * p.mean_accuracy,
                 100 * p.std_accuracy, p.mean_images_per_s);
    }
    fmt::print("report: {}/results.md ({:.0f} s)\n", o->out_dir, r.wall_seconds);
  });
});

}  // namespace
}  // namespace rngfree::app
