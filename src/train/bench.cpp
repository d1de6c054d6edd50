// Training throughput per preset (bench.hpp). Each preset gets its own Trainer; after one warm-up
// round, every round runs `steps` optimizer steps of each preset in turn and records images/s
// (training step time only, as Trainer::train_steps measures it).
#include "rngfree/train/bench.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <memory>

#include "rngfree/error.hpp"
#include "rngfree/train/trainer.hpp"

namespace rngfree::train {

std::vector<BenchTrainRow> bench_train(const BenchTrainOptions& o) {
  if (o.rounds < 1 || o.rounds > 1000) throw Error(fmt::format("--rounds {}: allowed 1..1000", o.rounds));
  if (o.steps < 0) throw Error(fmt::format("--steps {}: allowed 0 (default) or more", o.steps));
  const bool small = o.model == "lenet5" || o.model == "mlp";
  const int steps = o.steps > 0 ? o.steps : (small ? 40 : 4);
  std::string data = o.data.empty() ? (small ? "fashion-mnist" : "synthetic:3:32") : o.data;
  std::vector<std::unique_ptr<Trainer>> trainers;
  std::vector<BenchTrainRow> rows;
  for (const auto& p : o.presets) {
    TrainConfig c;
    apply_preset(c, p);
    c.model = o.model;
    c.data = data;
    c.batch = o.batch;
    c.threads = o.threads;
    c.epochs = 1000;  // the schedule barely moves over a benchmark
    trainers.push_back(std::make_unique<Trainer>(c));
    rows.push_back({p, 0, {}, {}});
  }
  for (auto& t : trainers) {
    t->train_steps(std::max(2, steps / 4));  // warm-up: allocations, first-touch
    t->reset_breakdown();
  }
  for (int r = 0; r < o.rounds; ++r) {
    for (size_t i = 0; i < trainers.size(); ++i) rows[i].rounds.push_back(trainers[i]->train_steps(steps).images_per_s);
  }
  for (size_t i = 0; i < trainers.size(); ++i) rows[i].breakdown = trainers[i]->breakdown();
  for (auto& row : rows) {
    std::vector<double> v = row.rounds;
    std::sort(v.begin(), v.end());
    row.images_per_s = v.size() % 2 == 1 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
  }
  return rows;
}

}  // namespace rngfree::train
