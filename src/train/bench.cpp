// Training throughput per preset (bench.hpp). Each preset gets its own Trainer; after one warm-up
// round, every round runs `steps` optimizer steps of each preset in turn and records images/s
// (training step time only, as Trainer::train_steps measures it) and the round's breakdown. Round r
// starts at preset r mod P, so no preset always follows the same one (a preset that leaves the caches
// or the heap in a given state would otherwise slow the same successor in every round).
#include "rngfree/train/bench.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <utility>

#include "rngfree/error.hpp"
#include "rngfree/train/trainer.hpp"

namespace rngfree::train {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// One round's breakdown whose every number (each phase, each site's time, elements, in-place calls
// and op time) is the median of that number over the rounds; all rounds ran the same steps and
// sites, in the same order.
StepBreakdown median_breakdown(const std::vector<StepBreakdown>& rounds) {
  StepBreakdown b = rounds.front();
  const auto med = [&rounds](auto field) {
    std::vector<double> v;
    for (const StepBreakdown& r : rounds) v.push_back(field(r));
    return median(std::move(v));
  };
  b.forward_s = med([](const StepBreakdown& r) { return r.forward_s; });
  b.backward_s = med([](const StepBreakdown& r) { return r.backward_s; });
  b.optimizer_s = med([](const StepBreakdown& r) { return r.optimizer_s; });
  for (size_t k = 0; k < b.sites.size(); ++k) {
    for (const StepBreakdown& r : rounds) {
      RNGFREE_CHECK(r.steps == b.steps && r.sites.size() == b.sites.size() && r.sites[k].layer == b.sites[k].layer &&
                        r.sites[k].site == b.sites[k].site,
                    "bench train: rounds with different steps or sites");
    }
    auto& s = b.sites[k];
    s.seconds = med([k](const StepBreakdown& r) { return r.sites[k].seconds; });
    s.op_seconds = med([k](const StepBreakdown& r) { return r.sites[k].op_seconds; });
    s.elements = static_cast<int64_t>(med([k](const StepBreakdown& r) { return static_cast<double>(r.sites[k].elements); }));
    s.in_place_calls =
        static_cast<int64_t>(med([k](const StepBreakdown& r) { return static_cast<double>(r.sites[k].in_place_calls); }));
  }
  return b;
}

}  // namespace

std::vector<BenchTrainRow> bench_train(const BenchTrainOptions& o) {
  if (o.rounds < 1 || o.rounds > 1000) throw Error(fmt::format("--rounds {}: allowed 1..1000", o.rounds));
  if (o.steps < 0) throw Error(fmt::format("--steps {}: allowed 0 (default) or more", o.steps));
  const bool small = o.model == "lenet5" || o.model == "mlp";
  const int steps = o.steps > 0 ? o.steps : (small ? 40 : 4);
  std::string data = o.data.empty() ? (small ? "fashion-mnist" : "synthetic:3:32") : o.data;
  std::vector<std::unique_ptr<Trainer>> trainers;
  std::vector<BenchTrainRow> rows;
  std::vector<std::pair<std::string, TrainConfig>> runs;  // row name, its configuration
  for (const auto& p : o.presets) {
    TrainConfig c;
    apply_preset(c, p);
    runs.emplace_back(p, std::move(c));
  }
  for (const auto& path : o.configs) {
    TrainConfig c;
    apply_toml_file(c, path);
    std::string name = std::filesystem::path(path).stem().string();
    for (const auto& [other, unused] : runs) {
      if (other == name) {
        throw Error(fmt::format("--config '{}': its row name '{}' is already taken (by a preset or another config); "
                                "rename the file",
                                path, name));
      }
    }
    runs.emplace_back(std::move(name), std::move(c));
  }
  for (auto& [p, c] : runs) {
    c.model = o.model;
    c.data = data;
    c.batch = o.batch;
    c.threads = o.threads;
    c.epochs = 1000;  // the schedule barely moves over a benchmark
    trainers.push_back(std::make_unique<Trainer>(c));
    rows.push_back({p, 0, {}, {}});
  }
  for (auto& t : trainers) t->train_steps(std::max(2, steps / 4));  // warm-up: allocations, first-touch
  std::vector<std::vector<StepBreakdown>> per_round(trainers.size());
  for (int r = 0; r < o.rounds; ++r) {
    for (size_t k = 0; k < trainers.size(); ++k) {
      const size_t i = (static_cast<size_t>(r) + k) % trainers.size();
      trainers[i]->reset_breakdown();
      rows[i].rounds.push_back(trainers[i]->train_steps(steps).images_per_s);
      per_round[i].push_back(trainers[i]->breakdown());
    }
  }
  for (size_t i = 0; i < trainers.size(); ++i) rows[i].breakdown = median_breakdown(per_round[i]);
  for (auto& row : rows) row.images_per_s = median(row.rounds);
  return rows;
}

}  // namespace rngfree::train
