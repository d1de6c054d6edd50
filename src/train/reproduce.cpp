// `rngfree reproduce`: the preset matrix over seeds, its report folder, and the SP 800-22 verdict
// on bits harvested by a training run (reproduce.hpp). Every number in the report is measured in
// this call; nothing is copied from elsewhere.
#include "rngfree/train/reproduce.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rngfree/error.hpp"
#include "rngfree/nist/bit_sequence.hpp"
#include "rngfree/nist/suite.hpp"
#include "rngfree/report/svg.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

namespace {
constexpr int kQuickEpochs = 2;
constexpr int kFullEpochs = 15;
constexpr int kFullCifarEpochs = 30;
const std::vector<std::string> kCifarPresets = {"fp32", "int8-rne", "int8-sr-philox", "int8-sr-harvest"};

struct Job {
  std::string model, data, preset;
  int epochs;
};

std::vector<Job> plan_jobs(const ReproduceOptions& o) {
  std::vector<Job> jobs;
  const int epochs = o.epochs > 0 ? o.epochs : (o.full ? kFullEpochs : kQuickEpochs);
  const std::vector<std::string> presets = o.presets.empty() ? preset_names() : o.presets;
  for (const auto& p : presets) jobs.push_back({"lenet5", o.data, p, epochs});
  if (o.full && !o.cifar10.empty()) {
    for (const auto& p : kCifarPresets) jobs.push_back({"resnet20", "cifar10:" + o.cifar10, p, kFullCifarEpochs});
  }
  return jobs;
}

std::string percent(double x) { return fmt::format("{:.2f}", 100 * x); }

}  // namespace

std::pair<double, double> mean_std(const std::vector<double>& v) {
  if (v.empty()) return {0, 0};
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  if (v.size() < 2) return {m, 0};
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, std::sqrt(s / static_cast<double>(v.size() - 1))};
}

std::string reproduce_plan(const ReproduceOptions& o) {
  std::string s;
  for (const auto& j : plan_jobs(o)) {
    s += fmt::format("{} on {}, {}, {} epochs, {} seeds\n", j.model, j.data, j.preset, j.epochs, o.seeds);
  }
  return s;
}

ReproduceResult reproduce(const ReproduceOptions& o) {
  if (o.seeds < 1 || o.seeds > 100) throw Error(fmt::format("--seeds {}: allowed 1..100", o.seeds));
  if (o.out_dir.empty()) throw Error("--out: empty folder name");
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::create_directories(fs::path(o.out_dir) / "runs", ec);
  if (ec) throw Error(fmt::format("--out '{}': cannot create the folder ({})", o.out_dir, ec.message()));
  const std::string bits_path = (fs::path(o.out_dir) / "harvested-bits.bin").string();
  const int64_t seq_bits = o.nist_sequence_bits > 0 ? o.nist_sequence_bits : 1'000'000;
  const int sequences = o.nist_sequences > 0 ? o.nist_sequences : 10;
  bool dumped = false;
  std::string dump_desc;

  ReproduceResult result;
  const auto jobs = plan_jobs(o);
  int done = 0;
  const int total = static_cast<int>(jobs.size()) * o.seeds;
  for (const auto& job : jobs) {
    PresetResult pr;
    pr.model = job.model;
    pr.preset = job.preset;
    std::vector<double> acc, best, ips;
    for (int s = 1; s <= o.seeds; ++s) {
      TrainConfig c;
      apply_preset(c, job.preset);
      c.model = job.model;
      c.data = job.data;
      c.epochs = job.epochs;
      c.seed = static_cast<uint64_t>(s);
      c.threads = o.threads;
      c.train_limit = o.train_limit;
      c.test_limit = o.test_limit;
      if (job.model == "resnet20") c.lr = 0.1;
      if (o.nist && !dumped && job.preset == "int8-sr-harvest") {
        // The bits the E site of conv2 (layer 1) draws: its own `act` tap, the run's extractor.
        c.dump.path = bits_path;
        c.dump.layer = 1;
        c.dump.tap = "act";
        c.dump.max_bits = seq_bits * sequences;
        dump_desc = fmt::format("{} {} seed {}: tap `act` of layer 1 (conv2), extractor bits {}{}, the first "
                                "steps of training; these are the words of that layer's E site",
                                job.model, job.preset, s, c.quant.harvest.bits,
                                c.quant.harvest.mix == "none" ? "" : ", mix " + c.quant.harvest.mix);
        dumped = true;
      }
      ++done;
      if (o.progress) {
        std::fprintf(stderr, "[%d/%d] %s %s seed %d (%d epochs)\n", done, total, job.model.c_str(), job.preset.c_str(),
                     s, job.epochs);
      }
      const std::string dir = (fs::path(o.out_dir) / "runs" / fmt::format("{}-{}-seed{}", job.model, job.preset, s)).string();
      RunOptions ro;
      ro.out_dir = dir;
      ro.progress = o.progress;
      RunSummary sum = run_training(c, ro);
      acc.push_back(sum.test_accuracy);
      best.push_back(sum.best_test_accuracy);
      ips.push_back(sum.images_per_s);
      pr.runs.push_back(std::move(sum));
    }
    std::tie(pr.mean_accuracy, pr.std_accuracy) = mean_std(acc);
    pr.mean_best_accuracy = mean_std(best).first;
    pr.mean_images_per_s = mean_std(ips).first;
    result.presets.push_back(std::move(pr));
  }

  // ---- NIST on the harvested bits ----
  if (o.nist && dumped) {
    std::ifstream in(bits_path, std::ios::binary);
    std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const int64_t have = static_cast<int64_t>(bytes.size()) * 8;
    const int n = static_cast<int>(std::min<int64_t>(sequences, have / seq_bits));
    std::string md = "# NIST SP 800-22 on harvested bits\n\n";
    md += fmt::format("Source: {}.\n\n", dump_desc);
    if (n < 1) {
      md += fmt::format("Not run: the run yielded {} bits, fewer than one sequence of {} bits.\n", have, seq_bits);
    } else {
      std::vector<nist::BitSequence> seqs;
      for (int i = 0; i < n; ++i) {
        seqs.push_back(nist::BitSequence::from_bytes(
            std::span<const uint8_t>(bytes.data() + static_cast<size_t>(i) * static_cast<size_t>(seq_bits / 8),
                                     static_cast<size_t>(seq_bits / 8))));
      }
      if (o.progress) std::fprintf(stderr, "NIST SP 800-22: %d sequences of %lld bits\n", n, static_cast<long long>(seq_bits));
      nist::SuiteOptions so;
      so.threads = o.threads > 0 ? o.threads : 2;
      nist::SuiteReport rep = nist::summarize(nist::run_suite(seqs, so));
      auto passes = nist::proportion_passes(rep);
      md += fmt::format("{} sequences of {} bits (profile: library default, alpha {}).\n\n", n, seq_bits, rep.alpha);
      md += fmt::format("**Verdict: {}** — {} of {} P-value rows pass the proportion check ({} not applicable); "
                        "{} rows fail.\n\n", rep.ok() ? "PASS" : "FAIL", passes.passed, passes.rows,
                        passes.not_applicable, rep.rows_failed);
      md += rep.note() + "\n\n| test | rows | failed | not applicable |\n|---|---|---|---|\n";
      for (const auto& t : rep.tests) {
        md += fmt::format("| {} | {} | {} | {} |\n", nist::test_name(t.test), t.rows, t.rows_failed, t.rows_not_applicable);
      }
    }
    result.nist_summary = md;
    report::write_file_atomic((fs::path(o.out_dir) / "nist.md").string(), md);
  }

  // ---- the report ----
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string md = "# rngfree reproduce\n\n";
  md += fmt::format("Mode: {}; {} seeds per preset; wall time {:.0f} s. Test accuracy after the last epoch, "
                    "mean ± sample standard deviation over seeds (percent).\n\n",
                    o.full ? "full" : "quick", o.seeds, result.wall_seconds);
  md += "| model | preset | epochs | test accuracy (%) | best epoch (%) | Δ vs fp32 | images/s |\n";
  md += "|---|---|---|---|---|---|---|\n";
  std::string csv = "model,preset,seed,epochs,test_accuracy,best_test_accuracy,images_per_s,wall_seconds\n";
  nlohmann::ordered_json js = nlohmann::json::array();
  for (const auto& pr : result.presets) {
    double fp32 = NAN;
    for (const auto& q : result.presets) {
      if (q.model == pr.model && q.preset == "fp32") fp32 = q.mean_accuracy;
    }
    md += fmt::format("| {} | {} | {} | {} ± {} | {} | {} | {:.0f} |\n", pr.model, pr.preset,
                      pr.runs.front().config.epochs, percent(pr.mean_accuracy), percent(pr.std_accuracy),
                      percent(pr.mean_best_accuracy),
                      std::isnan(fp32) ? std::string("–") : fmt::format("{:+.2f}", 100 * (pr.mean_accuracy - fp32)),
                      pr.mean_images_per_s);
    nlohmann::ordered_json jp;
    jp["model"] = pr.model;
    jp["preset"] = pr.preset;
    jp["mean_test_accuracy"] = pr.mean_accuracy;
    jp["std_test_accuracy"] = pr.std_accuracy;
    jp["mean_best_test_accuracy"] = pr.mean_best_accuracy;
    jp["mean_images_per_s"] = pr.mean_images_per_s;
    jp["test_accuracy"] = nlohmann::json::array();
    for (const auto& r : pr.runs) {
      csv += fmt::format("{},{},{},{},{:.6f},{:.6f},{:.1f},{:.2f}\n", pr.model, pr.preset, r.config.seed,
                         r.config.epochs, r.test_accuracy, r.best_test_accuracy, r.images_per_s, r.wall_seconds);
      jp["test_accuracy"].push_back(r.test_accuracy);
    }
    js.push_back(jp);
  }
  md += "\nPresets (docs/training.md): W, A, E, G in fixed:8:dyn; master weights U in fixed:16:8 "
        "(Gupta et al. 2015); int8-rne rounds every site to nearest-even, the int8-sr presets round E, G "
        "(stochastic:8) and U (stochastic:16) stochastically with bits from the named generator or "
        "harvested from the network's own tensors.\n\n![test accuracy](accuracy.svg)\n\n![train loss](loss.svg)\n";
  if (!result.nist_summary.empty()) md += "\n" + result.nist_summary;
  else if (!o.nist) md += "\nNIST: not run (--no-nist).\n";

  // Curves: mean over seeds per epoch.
  for (const bool loss : {false, true}) {
    report::LineChart chart;
    chart.title = loss ? "Training loss (mean over seeds)" : "Test accuracy (mean over seeds)";
    chart.x_label = "epoch";
    chart.y_label = loss ? "train loss" : "test accuracy (%)";
    for (const auto& pr : result.presets) {
      report::Series s;
      s.label = result.presets.size() > 6 ? pr.model + " " + pr.preset : pr.preset;
      const size_t ne = pr.runs.front().epochs.size();
      for (size_t e = 0; e < ne; ++e) {
        std::vector<double> v;
        for (const auto& r : pr.runs) {
          if (e < r.epochs.size()) v.push_back(loss ? r.epochs[e].train_loss : 100 * r.epochs[e].test_accuracy);
        }
        s.x.push_back(static_cast<double>(e + 1));
        s.y.push_back(mean_std(v).first);
      }
      chart.series.push_back(std::move(s));
    }
    report::write_file_atomic((fs::path(o.out_dir) / (loss ? "loss.svg" : "accuracy.svg")).string(),
                              report::render_svg(chart));
  }
  report::write_file_atomic((fs::path(o.out_dir) / "results.md").string(), md);
  report::write_file_atomic((fs::path(o.out_dir) / "results.csv").string(), csv);
  report::write_file_atomic((fs::path(o.out_dir) / "results.json").string(), js.dump(2) + "\n");
  return result;
}

}  // namespace rngfree::train
