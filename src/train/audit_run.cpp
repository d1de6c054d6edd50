// The audit's training side (audit_run.hpp): drives a Trainer step by step, turns its site callback
// on inside the windows only (outside them harvested words stay fused in the quantize kernel), and
// hands every stochastic rounding's values and words to one audit::SiteRecorder per (site, window).
#include "rngfree/train/audit_run.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "rngfree/error.hpp"
#include "rngfree/train/trainer.hpp"

namespace rngfree::train {

namespace {

struct Recording {
  audit::SiteRecorder recorder;
  int random_bits = 0;
  int64_t bits = 0, calls = 0;
  bool full(int64_t cap) const { return bits >= cap && calls >= 2; }
};

}  // namespace

std::string describe_windows(const AuditRunResult& r) {
  std::string s;
  for (const auto& [name, start] : r.window_starts) s += fmt::format("{}{} from step {}", s.empty() ? "" : ", ", name, start);
  return s;
}

AuditRunOptions make_audit_options(const AuditRequest& r) {
  AuditRunOptions o;
  TrainConfig& cfg = o.train;
  if (!r.task.empty()) apply_task(cfg, r.task);
  apply_preset(cfg, r.preset);
  if (!r.config_file.empty()) apply_toml_file(cfg, r.config_file, r.preset);
  if (!r.config_text.empty()) apply_toml_text(cfg, r.config_text, "config", r.preset);
  if (!r.model.empty()) cfg.model = r.model;
  if (!r.data.empty()) cfg.data = r.data;
  if (r.epochs) cfg.epochs = *r.epochs;
  if (r.seed) cfg.seed = *r.seed;
  if (r.train_threads) cfg.threads = *r.train_threads;
  if (r.quick) {
    if (cfg.task != "lm") {  // lm: its own 64 validation windows; the steps draw windows from all the text
      cfg.train_limit = 2560;
      cfg.test_limit = 1000;
    }
    o.steps = 24;
    o.window = 4;
    o.audit.nist_bits = 200'000;
    o.audit.calibration_streams = 2;
  }
  if (r.train_limit) cfg.train_limit = *r.train_limit;
  cfg.validate();
  if (r.steps) o.steps = *r.steps;
  if (r.window) o.window = *r.window;
  o.windows = r.windows;
  if (r.bits) o.audit.nist_bits = *r.bits;
  if (r.sequences) o.audit.sequences = *r.sequences;
  if (r.calibration) o.audit.calibration_streams = *r.calibration;
  o.audit.threads = r.threads;
  o.audit.seed = cfg.seed;
  o.audit.dump_dir = r.dump_dir;
  return o;
}

std::string final_metric_text(const std::string& task, double value) {
  if (task == "superres") return fmt::format("test PSNR {:.3f} dB", value);
  if (task == "lm") return fmt::format("validation next-byte accuracy {:.2f} %", 100 * value);
  return fmt::format("test accuracy {:.2f} %", 100 * value);
}

AuditRunResult run_audit(const AuditRunOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  auto log = [&](const std::string& s) {
    if (o.log) o.log(s);
  };
  o.audit.validate();
  if (o.window < 1) throw Error(fmt::format("--window {}: allowed >= 1 step", o.window));
  if (o.windows.empty()) throw Error("windows: empty; allowed early, middle, late");
  for (const auto& w : o.windows) {
    if (w != "early" && w != "middle" && w != "late") {
      throw Error(fmt::format("window '{}': unknown; allowed early, middle, late", w));
    }
  }
  Trainer trainer(o.train);
  const int64_t total = o.steps > 0 ? o.steps : trainer.total_steps();
  // Short runs (smoke tests): the windows shrink to share the steps rather than overlap.
  const int64_t window = std::min(o.window, std::max<int64_t>(1, total / static_cast<int64_t>(o.windows.size())));
  const SitePlan& plan = trainer.site_plan();
  const auto sites = plan.stochastic_sites();
  if (sites.empty()) {
    throw Error(fmt::format("preset '{}': no site rounds stochastically, so there are no random words to audit; "
                            "use an SR preset (int8-sr-harvest, int8-sr-philox, ...)", o.train.preset));
  }

  AuditRunResult result;
  for (const auto& w : o.windows) {
    const int64_t start = w == "early" ? 0 : w == "middle" ? (total - window) / 2 : total - window;
    result.window_starts.emplace_back(w, start);
  }
  // recordings[w][site index in `sites`]
  std::vector<std::vector<Recording>> rec(o.windows.size());
  std::map<std::pair<int, int>, size_t> index;
  for (size_t i = 0; i < sites.size(); ++i) index[{sites[i]->layer, static_cast<int>(sites[i]->site)}] = i;
  for (size_t w = 0; w < o.windows.size(); ++w) {
    for (const PlannedSite* p : sites) {
      audit::SiteKey key{p->layer, plan.layer_names[static_cast<size_t>(p->layer)],
                         std::string(kSiteNames[static_cast<size_t>(p->site)]), o.windows[w],
                         p->source_text(plan.layer_names)};
      rec[w].push_back(Recording{audit::SiteRecorder(key, p->format, p->rounding, o.audit), p->rounding.random_bits});
    }
  }
  std::vector<size_t> active;  // windows containing the current step
  trainer.set_site_callback(nullptr);
  auto on_site = [&](const SiteEvent& ev) {
    const auto it = index.find({ev.layer, static_cast<int>(ev.site)});
    if (it == index.end()) return;
    for (size_t w : active) {
      Recording& r = rec[w][it->second];
      if (r.full(o.audit.nist_bits)) continue;
      r.recorder.add(ev.values, ev.words);
      r.bits += static_cast<int64_t>(ev.words.size()) * r.random_bits;
      ++r.calls;
    }
  };
  log(fmt::format("audit: model {}, preset {}, {} steps, {} stochastic sites, windows of {} steps: {}", o.train.model,
                  o.train.preset, total, sites.size(), window, describe_windows(result)));
  int64_t step = 0;
  while (step < total) {
    active.clear();
    int64_t next = total;  // the next step where the set of active windows changes
    for (size_t w = 0; w < result.window_starts.size(); ++w) {
      const int64_t a = result.window_starts[w].second, b = a + window;
      if (step >= a && step < b) active.push_back(w);
      if (a > step) next = std::min(next, a);
      if (b > step) next = std::min(next, b);
    }
    if (active.empty()) {
      trainer.set_site_callback(nullptr);
    } else {
      trainer.set_site_callback(on_site);
    }
    const StepStats st = trainer.train_steps(next - step);
    step = next;
    log(fmt::format("  step {}/{}{}: loss {:.4f}, accuracy {:.3f}, {:.0f} images/s", step, total,
                    active.empty() ? "" : " (recording)", st.mean_loss, st.accuracy, st.images_per_s));
  }
  trainer.set_site_callback(nullptr);
  result.steps = total;
  result.test_accuracy = trainer.evaluate();
  log(fmt::format("audit: trained {} steps, {}; judging {} (site, window) cells", total,
                  final_metric_text(o.train.task, result.test_accuracy), sites.size() * o.windows.size()));

  result.report.model = o.train.model;
  result.report.preset = o.train.preset;
  result.report.options = o.audit;
  result.report.command = o.command;
  size_t done = 0;
  for (auto& per_window : rec) {
    for (auto& r : per_window) {
      result.report.sites.push_back(r.recorder.finish());
      const audit::SiteResult& s = result.report.sites.back();
      ++done;
      log(fmt::format("  [{}/{}] {}.{} {}: {} (NIST {}/{}, bias {:+.4f} steps)", done, sites.size() * o.windows.size(),
                      s.key.layer_label(), s.key.site, s.key.window, s.ok() ? "pass" : "FAIL",
                      s.harvest.nist_rows_passed, s.harvest.nist_rows_judged, s.harvest.bias_steps));
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace rngfree::train
