// `rngfree reproduce`: the preset matrix over seeds, its report folder, and the SP 800-22 verdict
// on bits harvested by a training run (reproduce.hpp). Every number in the report is measured in
// this call; nothing is copied from elsewhere.
#include "rngfree/atomic_file.hpp"
#include "rngfree/train/reproduce.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>

#include "rngfree/error.hpp"
#include "rngfree/train/audit_run.hpp"
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
  (void)checked_integer("--seeds", o.seeds, kReproduceSeeds);
  if (o.out_dir.empty()) throw Error("--out: empty folder name");
  const auto t0 = std::chrono::steady_clock::now();
  std::error_code ec;
  fs::create_directories(fs::path(o.out_dir) / "runs", ec);
  if (ec) throw Error(fmt::format("--out '{}': cannot create the folder ({})", o.out_dir, ec.message()));
  std::optional<TrainConfig> audited;  // the first int8-sr-harvest run (seed 1)
  double audited_accuracy = 0;

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
      if (o.nist && !audited && job.preset == "int8-sr-harvest") {
        audited = c;
        audited_accuracy = sum.test_accuracy;
      }
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

  // ---- the audit of the harvest run: every SR site, early/middle/late ----
  if (audited) {
    AuditRunOptions ao;
    ao.train = *audited;
    ao.audit.nist_bits = o.nist_sequence_bits > 0 && o.nist_sequences > 0 ? o.nist_sequence_bits * o.nist_sequences
                                                                          : 10'000'000;
    if (o.nist_sequences > 0) ao.audit.sequences = o.nist_sequences;
    ao.audit.threads = o.threads > 0 ? o.threads : 2;
    ao.audit.seed = audited->seed;
    ao.command = "rngfree reproduce (the audit of its first int8-sr-harvest run)";
    if (o.progress) ao.log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
    const AuditRunResult ar = run_audit(ao);
    const std::string dir = (fs::path(o.out_dir) / "audit").string();
    audit::write_report(ar.report, dir);
    result.audit_ok = ar.report.ok();
    int passed = 0, judged = 0;
    for (const auto& site : ar.report.sites) {
      passed += site.ok();
      judged += site.nist_judged;
    }
    std::string md = "## The audit of the harvest run\n\n";
    md += fmt::format("`rngfree audit` on {} {} seed {} ({} steps, windows {}): every stochastic site's consumed "
                      "words, NIST SP 800-22 (up to {} bits per site and window; {} of {} cells had enough bits, the "
                      "rest are judged on bias and correlation only), SR bias and r/fraction correlation, each against "
                      "Philox fed the same values. The audit trains the run again; its final test accuracy, {}, "
                      "{} the run's {}.\n\n",
                      audited->model, audited->preset, audited->seed, ar.steps, describe_windows(ar),
                      ao.audit.nist_bits, judged, ar.report.sites.size(), percent(ar.test_accuracy),
                      ar.test_accuracy == audited_accuracy ? "equals" : "differs from", percent(audited_accuracy));
    md += fmt::format("**Verdict: {}** — {} of {} (site, window) cells pass. Details: [audit/audit.md](audit/audit.md).\n\n"
                      "![audit](audit/audit.svg)\n\n| site | ",
                      ar.report.ok() ? "PASS" : "FAIL", passed, ar.report.sites.size());
    std::vector<std::string> windows, rows;
    for (const auto& site : ar.report.sites) {
      if (std::find(windows.begin(), windows.end(), site.key.window) == windows.end()) windows.push_back(site.key.window);
      const std::string row = site.key.layer_label() + "." + site.key.site;
      if (std::find(rows.begin(), rows.end(), row) == rows.end()) rows.push_back(row);
    }
    for (const auto& w : windows) md += w + " | ";
    md += "\n|---|";
    for (size_t i = 0; i < windows.size(); ++i) md += "---|";
    md += "\n";
    for (const auto& row : rows) {
      md += "| " + row + " | ";
      for (const auto& w : windows) {
        for (const auto& site : ar.report.sites) {
          if (site.key.layer_label() + "." + site.key.site != row || site.key.window != w) continue;
          md += site.nist_judged ? fmt::format("{} NIST {}/{}, bias {:+.4f}", site.ok() ? "pass" : "**fail**",
                                               site.harvest.nist_rows_passed, site.harvest.nist_rows_judged,
                                               site.harvest.bias_steps)
                                 : fmt::format("{} (bias {:+.4f}; {} bits, too few for NIST)",
                                               site.ok() ? "pass" : "**fail**", site.harvest.bias_steps,
                                               site.harvest.nist_bits_available);
          md += " | ";
        }
      }
      md += "\n";
    }
    result.audit_summary = md;
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
  if (!result.audit_summary.empty()) md += "\n" + result.audit_summary;
  else if (!o.nist) md += "\nAudit: not run (--no-audit).\n";

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
    write_file_atomic((fs::path(o.out_dir) / (loss ? "loss.svg" : "accuracy.svg")).string(),
                              report::render_svg(chart));
  }
  write_file_atomic((fs::path(o.out_dir) / "results.md").string(), md);
  write_file_atomic((fs::path(o.out_dir) / "results.csv").string(), csv);
  write_file_atomic((fs::path(o.out_dir) / "results.json").string(), js.dump(2) + "\n");
  return result;
}

}  // namespace rngfree::train
