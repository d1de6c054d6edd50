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
#include "rngfree/train/image.hpp"
#include "rngfree/report/svg.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

namespace {
constexpr int kQuickEpochs = 2;
constexpr int kFullEpochs = 15;
constexpr int kFullCifarEpochs = 30;
const std::vector<std::string> kCifarPresets = {"fp32", "int8-rne", "int8-sr-philox", "int8-sr-harvest"};
// superres: espcn ×2 on the photos (docs/superres.md); quick mode's share of the time is about 4 minutes
constexpr int kQuickSrEpochs = 3;
constexpr int kFullSrEpochs = 40;
const std::vector<std::string> kSrPresets = {"fp32", "int8-rne", "int8-sr-philox", "int8-sr-harvest"};

// lm: gpt on fortunes (docs/lm.md) for a fixed number of AdamW steps, at the size docs/results.md
// measured (width 64, 2 blocks, context 64, batch 16: 0.1-0.2 s a step on one loaded core); quick
// mode's share of the time is measured in docs/lm.md
constexpr int64_t kQuickLmSteps = 100;
constexpr int64_t kFullLmSteps = 2000;
void small_gpt(TrainConfig& c) {
  c.width = 64;
  c.blocks = 2;
  c.heads = 4;
  c.context = 64;
  c.batch = 16;
  c.test_limit = 256;
}
const std::vector<std::string> kQuickLmPresets = {"fp32", "int8-dyn-sr-philox", "int8-dyn-sr-harvest"};
const std::vector<std::string> kFullLmPresets = {"fp32",           "bf16-rne",        "int8-rne",
                                                 "bf16-sr-philox", "bf16-sr-harvest", "int8-dyn-sr-philox",
                                                 "int8-dyn-sr-harvest"};

struct Job {
  std::string model, data, preset;
  int epochs;
  bool superres = false;
  bool lm = false;
  int64_t steps = 0;
};

std::vector<Job> plan_jobs(const ReproduceOptions& o) {
  std::vector<Job> jobs;
  const int epochs = o.epochs > 0 ? o.epochs : (o.full ? kFullEpochs : kQuickEpochs);
  // lenet5: the six int8/fp32 presets of the main job (the bf16 and int8-dyn presets of issue 12
  // run for lenet5 only when named with --presets)
  static const std::vector<std::string> kMainPresets = {"fp32",           "int8-sr-lfsr",    "int8-sr-xoshiro",
                                                        "int8-sr-philox", "int8-sr-harvest", "int8-rne"};
  const std::vector<std::string> presets = o.presets.empty() ? kMainPresets : o.presets;
  for (const auto& p : presets) jobs.push_back({"lenet5", o.data, p, epochs});
  if (o.full && !o.cifar10.empty()) {
    for (const auto& p : kCifarPresets) jobs.push_back({"resnet20", "cifar10:" + o.cifar10, p, kFullCifarEpochs});
  }
  if (o.superres) {
    const int sr_epochs = o.sr_epochs > 0 ? o.sr_epochs : (o.full ? kFullSrEpochs : kQuickSrEpochs);
    for (const auto& p : kSrPresets) {
      if (o.presets.empty() || std::find(o.presets.begin(), o.presets.end(), p) != o.presets.end()) {
        jobs.push_back({"espcn", "photos", p, sr_epochs, true});
      }
    }
  }
  if (o.lm) {
    const int64_t steps = o.lm_steps > 0 ? o.lm_steps : (o.full ? kFullLmSteps : kQuickLmSteps);
    for (const auto& p : o.full ? kFullLmPresets : kQuickLmPresets) {
      if (o.presets.empty() || std::find(o.presets.begin(), o.presets.end(), p) != o.presets.end()) {
        jobs.push_back({"gpt", "fortunes", p, 1, false, true, steps});
      }
    }
  }
  return jobs;
}

std::string percent(double x) { return fmt::format("{:.2f}", 100 * x); }

// The fp32 preset's mean of `field` for pr's model (NAN when fp32 was not run).
double fp32_mean(const std::vector<PresetResult>& all, const PresetResult& pr, double PresetResult::*field) {
  for (const auto& q : all) {
    if (q.model == pr.model && q.preset == "fp32") return q.*field;
  }
  return NAN;
}

// The epochs a run trained: its optimizer steps over the steps of a whole epoch, a fraction for
// runs of --steps (the lm task's) that end inside an epoch.
std::string epochs_trained(int64_t steps, int64_t steps_per_epoch) {
  RNGFREE_CHECK(steps_per_epoch > 0, "a run summary without its steps per epoch");
  if (steps % steps_per_epoch == 0) return fmt::format("{}", steps / steps_per_epoch);
  return fmt::format("{:.6g}", static_cast<double>(steps) / static_cast<double>(steps_per_epoch));
}

// One results.csv row per run of a preset (its final and best value of `key`, named in the metric
// column) and the final values as the JSON array `key` of the preset's entry.
void add_run_rows(const PresetResult& pr, std::string& csv, nlohmann::ordered_json& jp, const char* key,
                  double (*final_value)(const RunSummary&), double (*best_value)(const RunSummary&)) {
  jp[key] = nlohmann::json::array();
  for (const auto& r : pr.runs) {
    const int64_t steps = r.epochs.empty() ? 0 : r.epochs.back().step;
    csv += fmt::format("{},{},{},{},{},{},{:.6f},{:.6f},{:.1f},{:.2f}\n", pr.model, pr.preset, r.config.seed,
                       epochs_trained(steps, r.steps_per_epoch), steps, key, final_value(r), best_value(r),
                       r.images_per_s, r.wall_seconds);
    jp[key].push_back(final_value(r));
  }
}

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
    if (j.lm) {
      s += fmt::format("{} on {}, {}, {} steps, {} seeds\n", j.model, j.data, j.preset, j.steps, o.seeds);
      continue;
    }
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
    pr.superres = job.superres;
    pr.lm = job.lm;
    std::vector<double> acc, best, ips, psnr_db, ssim_v, val_loss, val_bpc;
    for (int s = 1; s <= o.seeds; ++s) {
      TrainConfig c;
      if (job.superres) apply_task(c, "superres");
      if (job.lm) {
        apply_task(c, "lm");
        small_gpt(c);
      }
      apply_preset(c, job.preset);
      c.model = job.model;
      c.data = job.data;
      c.epochs = job.epochs;
      c.seed = static_cast<uint64_t>(s);
      c.threads = o.threads;
      c.steps = job.steps;
      if (!job.lm) {
        c.train_limit = job.superres ? 0 : o.train_limit;
        c.test_limit = job.superres ? 0 : o.test_limit;
      }
      if (job.model == "resnet20") c.lr = 0.1;
      ++done;
      if (o.progress) {
        if (job.lm) {
          std::fprintf(stderr, "[%d/%d] %s %s seed %d (%lld steps)\n", done, total, job.model.c_str(),
                       job.preset.c_str(), s, static_cast<long long>(job.steps));
        } else {
          std::fprintf(stderr, "[%d/%d] %s %s seed %d (%d epochs)\n", done, total, job.model.c_str(),
                       job.preset.c_str(), s, job.epochs);
        }
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
      psnr_db.push_back(sum.test_psnr_db);
      ssim_v.push_back(sum.test_ssim);
      val_loss.push_back(sum.val_loss);
      val_bpc.push_back(sum.val_bpc);
      pr.bicubic_psnr_db = sum.bicubic_psnr_db;
      pr.bicubic_ssim = sum.bicubic_ssim;
      ips.push_back(sum.images_per_s);
      pr.runs.push_back(std::move(sum));
    }
    std::tie(pr.mean_accuracy, pr.std_accuracy) = mean_std(acc);
    pr.mean_best_accuracy = mean_std(best).first;
    pr.mean_images_per_s = mean_std(ips).first;
    std::tie(pr.mean_psnr_db, pr.std_psnr_db) = mean_std(psnr_db);
    pr.mean_ssim = mean_std(ssim_v).first;
    std::tie(pr.mean_val_loss, pr.std_val_loss) = mean_std(val_loss);
    pr.mean_val_bpc = mean_std(val_bpc).first;
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
  // metric: test_accuracy (a fraction), test_psnr_db or val_loss (nats per byte); final: after the
  // last step, best: the best evaluation; items: images, patches or bytes predicted
  std::string csv = "model,preset,seed,epochs,steps,metric,final,best,items_per_s,wall_seconds\n";
  nlohmann::ordered_json js = nlohmann::json::array();
  for (const auto& pr : result.presets) {
    if (pr.superres || pr.lm) continue;
    const double fp32 = fp32_mean(result.presets, pr, &PresetResult::mean_accuracy);
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
    add_run_rows(pr, csv, jp, "test_accuracy", [](const RunSummary& r) { return r.test_accuracy; },
                 [](const RunSummary& r) { return r.best_test_accuracy; });
    js.push_back(jp);
  }
  std::string sr_md;
  for (const auto& pr : result.presets) {
    if (!pr.superres) continue;
    if (sr_md.empty()) {
      sr_md = fmt::format("\n## Super-resolution ×2 (docs/superres.md)\n\nespcn on the `photos` training images, "
                          "tested on butterfly, baboon and messi5 (held out): Y-channel PSNR with a 2-pixel border "
                          "cropped, mean over the test images, then mean ± sample standard deviation over seeds. "
                          "Bicubic (MATLAB imresize) on the same images: **{:.3f} dB**, SSIM {:.4f}.\n\n"
                          "| model | preset | epochs | test PSNR (dB) | Δ vs bicubic | Δ vs fp32 | SSIM | patches/s |\n"
                          "|---|---|---|---|---|---|---|---|\n",
                          pr.bicubic_psnr_db, pr.bicubic_ssim);
    }
    const double fp32 = fp32_mean(result.presets, pr, &PresetResult::mean_psnr_db);
    sr_md += fmt::format("| {} | {} | {} | {:.3f} ± {:.3f} | {:+.3f} | {} | {:.4f} | {:.0f} |\n", pr.model, pr.preset,
                         pr.runs.front().config.epochs, pr.mean_psnr_db, pr.std_psnr_db,
                         pr.mean_psnr_db - pr.bicubic_psnr_db,
                         std::isnan(fp32) ? std::string("–") : fmt::format("{:+.3f}", pr.mean_psnr_db - fp32),
                         pr.mean_ssim, pr.mean_images_per_s);
    nlohmann::ordered_json jp;
    jp["model"] = pr.model;
    jp["preset"] = pr.preset;
    jp["task"] = "superres";
    jp["mean_test_psnr_db"] = pr.mean_psnr_db;
    jp["std_test_psnr_db"] = pr.std_psnr_db;
    jp["bicubic_psnr_db"] = pr.bicubic_psnr_db;
    jp["mean_test_ssim"] = pr.mean_ssim;
    add_run_rows(pr, csv, jp, "test_psnr_db", [](const RunSummary& r) { return r.test_psnr_db; },
                 [](const RunSummary& r) { return r.best_test_psnr_db; });
    js.push_back(jp);
  }
  std::string lm_md;
  for (const auto& pr : result.presets) {
    if (!pr.lm) continue;
    if (lm_md.empty()) {
      lm_md = "\n## Byte-level GPT on fortunes (docs/lm.md)\n\ngpt (2 blocks, width 64, 4 heads, context 64, batch "
              "16), AdamW, on Debian's fortunes (every tenth quotation held out): validation loss on 256 windows "
              "after the last step, nats per byte, mean ± sample standard deviation over seeds.\n\n"
              "| model | preset | steps | validation loss (nats/byte) | bits/byte | Δ vs fp32 | bytes/s |\n"
              "|---|---|---|---|---|---|---|\n";
    }
    const double fp32 = fp32_mean(result.presets, pr, &PresetResult::mean_val_loss);
    lm_md += fmt::format("| {} | {} | {} | {:.4f} ± {:.4f} | {:.4f} | {} | {:.0f} |\n", pr.model, pr.preset,
                         pr.runs.front().config.steps, pr.mean_val_loss, pr.std_val_loss, pr.mean_val_bpc,
                         std::isnan(fp32) ? std::string("–") : fmt::format("{:+.4f}", pr.mean_val_loss - fp32),
                         pr.mean_images_per_s);
    nlohmann::ordered_json jp;
    jp["model"] = pr.model;
    jp["preset"] = pr.preset;
    jp["task"] = "lm";
    jp["mean_val_loss"] = pr.mean_val_loss;
    jp["std_val_loss"] = pr.std_val_loss;
    jp["mean_val_bpc"] = pr.mean_val_bpc;
    add_run_rows(pr, csv, jp, "val_loss", [](const RunSummary& r) { return r.val_loss; },
                 [](const RunSummary& r) { return r.best_val_loss; });
    js.push_back(jp);
  }
  if (!sr_md.empty()) {
    // One test crop side by side, cut from the seed-1 runs' sr_crop.png (bicubic | model | truth).
    std::vector<Image> panels;
    std::string labels;
    auto panel = [&](const std::string& preset, int which) {
      const fs::path pic = fs::path(o.out_dir) / "runs" / fmt::format("espcn-{}-seed1", preset) / "sr_crop.png";
      if (!fs::exists(pic)) return;
      const Image im = read_image(pic.string());
      const int w = (im.width - 8) / 3;
      panels.push_back(crop(im, 0, which * (w + 4), im.height, w));
      labels += (labels.empty() ? "" : " | ") + (which == 0 ? std::string("bicubic") : which == 2 ? std::string("ground truth") : preset);
    };
    panel("fp32", 0);
    for (const char* p : {"fp32", "int8-rne", "int8-sr-harvest"}) panel(p, 1);
    panel("fp32", 2);
    if (panels.size() >= 2) {
      write_png((fs::path(o.out_dir) / "sr_comparison.png").string(), side_by_side(panels, 4));
      sr_md += fmt::format("\nThe centre of butterfly.jpg, seed 1: {}.\n\n![super-resolution](sr_comparison.png)\n\n"
                           "![test PSNR](psnr.svg)\n", labels);
    }
    report::LineChart chart;
    chart.title = "Super-resolution: test PSNR (mean over seeds)";
    chart.x_label = "epoch";
    chart.y_label = "test PSNR (dB)";
    for (const auto& pr : result.presets) {
      if (!pr.superres) continue;
      report::Series series;
      series.label = pr.preset;
      for (size_t e = 0; e < pr.runs.front().epochs.size(); ++e) {
        std::vector<double> v;
        for (const auto& r : pr.runs) {
          if (e < r.epochs.size()) v.push_back(r.epochs[e].test_psnr_db);
        }
        series.x.push_back(static_cast<double>(e + 1));
        series.y.push_back(mean_std(v).first);
      }
      chart.series.push_back(std::move(series));
    }
    write_file_atomic((fs::path(o.out_dir) / "psnr.svg").string(), report::render_svg(chart));
  }
  md += "\nPresets (docs/training.md): W, A, G in fixed:8:dyn, E in bfp:7:32 (8 bits, a scale per 32 values); master weights U in fixed:16:8 "
        "(Gupta et al. 2015); int8-rne rounds every site to nearest-even, the int8-sr presets round E, G "
        "(stochastic:8) and U (stochastic:16) stochastically with bits from the named generator or "
        "harvested from the network's own tensors.\n\n![test accuracy](accuracy.svg)\n\n![train loss](loss.svg)\n";
  md += sr_md;
  md += lm_md;
  if (!result.audit_summary.empty()) md += "\n" + result.audit_summary;
  else if (!o.nist) md += "\nAudit: not run (--no-audit).\n";

  // Curves: mean over seeds per epoch.
  for (const bool loss : {false, true}) {
    report::LineChart chart;
    chart.title = loss ? "Training loss (mean over seeds)" : "Test accuracy (mean over seeds)";
    chart.x_label = "epoch";
    chart.y_label = loss ? "train loss" : "test accuracy (%)";
    for (const auto& pr : result.presets) {
      if (pr.superres || pr.lm) continue;
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
