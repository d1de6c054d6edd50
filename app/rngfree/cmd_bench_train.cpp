// `rngfree bench train`: training images/s of fp32 and each int8-sr preset, measured in one run
// (rngfree::train::bench_train); ratios are against the fp32 baseline of the same run.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "command.hpp"
#include "rngfree/train/bench.hpp"
#include "rngfree/train/config.hpp"

namespace rngfree::app {
namespace {

// Milliseconds per step, each the median over the rounds (BenchTrainRow::breakdown): the phases
// (forward includes the W and A sites, backward E and G, the optimizer U and M), every site's
// quantization (`ms`; `op_ms`: the autograd op around it, with its tap records, output allocation
// and copies, where the site has one), and their sums (`quantize_op_ms` counts `op_ms` where a site
// has one, else `ms`).
nlohmann::ordered_json breakdown_json(const std::vector<train::BenchTrainRow>& rows, const std::string& preset) {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& r : rows) {
    if (r.preset != preset || r.breakdown.steps == 0) continue;
    const train::StepBreakdown& b = r.breakdown;
    const double per_step_ms = 1e3 / static_cast<double>(b.steps);
    j["steps"] = b.steps;
    j["forward_ms"] = b.forward_s * per_step_ms;
    j["backward_ms"] = b.backward_s * per_step_ms;
    j["optimizer_ms"] = b.optimizer_s * per_step_ms;
    double quantize_s = 0, op_s = 0;
    j["sites"] = nlohmann::ordered_json::array();
    for (const auto& s : b.sites) {
      quantize_s += s.seconds;
      op_s += s.op_seconds > 0 ? s.op_seconds : s.seconds;
      nlohmann::ordered_json site = {
          {"layer", s.layer}, {"site", s.site}, {"ms", s.seconds * per_step_ms},
          {"elements_per_step", s.elements / b.steps},
          {"in_place_per_step", static_cast<double>(s.in_place_calls) / static_cast<double>(b.steps)}};
      if (s.op_seconds > 0) site["op_ms"] = s.op_seconds * per_step_ms;
      j["sites"].push_back(std::move(site));
    }
    j["quantize_ms"] = quantize_s * per_step_ms;
    j["quantize_op_ms"] = op_s * per_step_ms;
  }
  return j;
}

const RegisterCommand kBenchTrain("bench", "train", [](CLI::App& bench) {
  auto o = std::make_shared<train::BenchTrainOptions>();
  auto json = std::make_shared<bool>(false);
  auto presets = std::make_shared<std::vector<std::string>>();
  auto* cmd = bench.add_subcommand(
      "train",
      "Training throughput (images/s) of fp32 and of every int8-sr preset (every int8 site quantized), measured in "
      "one run, interleaved round by round; prints each preset's step-time ratio to fp32");
  cmd->add_option("--model", o->model, "lenet5 (default, Fashion-MNIST) or resnet20 (synthetic 3x32x32 images)")
      ->check(CLI::IsMember({"mlp", "lenet5", "vgg7", "resnet20"}));
  cmd->add_option("--data", o->data, "Dataset (default: fashion-mnist, or synthetic:3:32 for resnet20/vgg7)");
  add_integer_flag(cmd, "--batch", o->batch, "Batch size", train::limits::kBatch);
  add_integer_flag(cmd, "--steps", o->steps, "Steps per preset per round (default 40 for lenet5, 4 for resnet20)",
                   IntRange<int>{1, 1'000'000});
  add_integer_flag(cmd, "--rounds", o->rounds, "Rounds; the median counts", IntRange<int>{1, 1000});
  add_integer_flag(cmd, "--threads", o->threads, "Threads", train::limits::kThreads);
  cmd->add_option("--preset", *presets,
                  "A preset to run (repeatable; default: fp32 and the four int8-sr presets); fp32 always runs, as the "
                  "baseline of the ratios");
  cmd->add_option("--config", o->configs,
                  "A TOML config (docs/training.md's keys) to run as one more row, named by its file's stem "
                  "(repeatable); --model, --data, --batch and --threads replace its own")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--json", *json,
                "Print {\"model\", \"fp32\": {\"images_per_s\", \"breakdown\"}, \"presets\": {...}}; breakdown: ms per "
                "step forward/backward/optimizer and per site");
  cmd->callback([o, json, presets] {
    if (!presets->empty()) {
      o->presets = {"fp32"};
      for (const auto& p : *presets) {
        if (std::find(o->presets.begin(), o->presets.end(), p) == o->presets.end()) o->presets.push_back(p);
      }
    }
    auto rows = train::bench_train(*o);
    double fp32 = 0;
    for (const auto& r : rows) {
      if (r.preset == "fp32") fp32 = r.images_per_s;
    }
    if (*json) {
      nlohmann::ordered_json j;
      j["model"] = o->model;
      j["fp32"] = {{"images_per_s", fp32}, {"breakdown", breakdown_json(rows, "fp32")}};
      j["presets"] = nlohmann::ordered_json::object();
      for (const auto& r : rows) {
        if (r.preset != "fp32") {
          j["presets"][r.preset] = {{"images_per_s", r.images_per_s}, {"step_time_vs_fp32", fp32 / r.images_per_s},
                                    {"breakdown", breakdown_json(rows, r.preset)}};
        }
      }
      fmt::print("{}\n", j.dump(2));
      return;
    }
    fmt::print("model {} — median of {} rounds; ms per step, each the median over the rounds\n{:<18} {:>10} {:>18} {:>9} {:>9} {:>9} "
               "{:>9}\n", o->model, o->rounds, "preset", "images/s", "step time vs fp32", "forward", "backward",
               "optimizer", "quantize");
    for (const auto& r : rows) {
      const train::StepBreakdown& b = r.breakdown;
      const double ms = b.steps > 0 ? 1e3 / static_cast<double>(b.steps) : 0.0;
      double quantize_s = 0;
      for (const auto& site : b.sites) quantize_s += site.seconds;
      fmt::print("{:<18} {:>10.0f} {:>17.2f}x {:>9.2f} {:>9.2f} {:>9.2f} {:>9.2f}\n", r.preset, r.images_per_s,
                 fp32 / r.images_per_s, b.forward_s * ms, b.backward_s * ms, b.optimizer_s * ms, quantize_s * ms);
    }
  });
});

}  // namespace
}  // namespace rngfree::app
