// The audit's writers (audit.hpp): audit.md (a table per site and window, harvest beside its Philox
// calibration, verdicts, plain-language failures), audit.csv, audit.svg (sites x windows, coloured by
// verdict, NIST rows passed written in) and audit.json. Deterministic text for the same report.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rngfree/atomic_file.hpp"
#include "rngfree/audit/audit.hpp"
#include "rngfree/error.hpp"
#include "rngfree/report/svg.hpp"

namespace rngfree::audit {

bool AuditReport::ok() const {
  return std::all_of(sites.begin(), sites.end(), [](const SiteResult& s) { return s.ok(); });
}

namespace {

std::string num(double v, const char* spec = "{:.4g}") {
  return std::isfinite(v) ? fmt::vformat(spec, fmt::make_format_args(v)) : std::string("-");
}

std::string row_label(const SiteResult& s) { return s.key.layer_label() + "." + s.key.site; }

std::string nist_cell(const SourceStats& st) {
  if (!st.nist_judged) return fmt::format("not judged ({} bits)", st.nist_bits_available);
  return fmt::format("{}/{}", st.nist_rows_passed, st.nist_rows_judged);
}

std::string calibration_cell(const SiteResult& s) {
  if (!s.nist_judged || s.calibration_rows_passed.empty()) return "-";
  const auto [lo, hi] = std::minmax_element(s.calibration_rows_passed.begin(), s.calibration_rows_passed.end());
  const int judged = *std::max_element(s.calibration_rows_judged.begin(), s.calibration_rows_judged.end());
  return *lo == *hi ? fmt::format("{}/{}", *lo, judged) : fmt::format("{}–{}/{}", *lo, *hi, judged);
}

std::string distinct_cell(const SourceStats& st) {
  return st.distinct_capped ? fmt::format(">= {}", st.distinct) : std::to_string(st.distinct);
}

std::string verdict_word(const SiteResult& s) {
  if (!s.ok()) return "**fail**";
  return s.nist_judged ? "pass" : "pass (bias, corr. only)";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? sep : std::string()) + v[i];
  return out;
}

nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

nlohmann::ordered_json source_json(const SourceStats& st) {
  nlohmann::ordered_json j;
  j["words"] = st.words;
  j["zero_words"] = st.zero_words;
  j["zero_share"] = json_number(st.zero_share);
  j["distinct"] = st.distinct;
  j["distinct_capped"] = st.distinct_capped;
  j["nist_judged"] = st.nist_judged;
  j["nist_bits_available"] = st.nist_bits_available;
  j["sequences"] = st.sequences;
  j["sequence_bits"] = st.sequence_bits;
  j["nist_rows_passed"] = st.nist_rows_passed;
  j["nist_rows_judged"] = st.nist_rows_judged;
  j["expected_false_alarms"] = json_number(st.expected_false_alarms);
  j["decisive_failure"] = st.decisive_failure;
  j["failing_tests"] = st.failing_tests;
  j["ones_fraction"] = json_number(st.ones_fraction);
  j["bias_samples"] = st.bias_samples;
  j["bias_steps"] = json_number(st.bias_steps);
  j["bias_se"] = json_number(st.bias_se);
  j["correlation"] = json_number(st.correlation);
  return j;
}

const char* kRules =
    "Verdict rules. NIST SP 800-22 (profile sts-2.1.2, alpha 0.01) on the low R bits of the consumed words, "
    "in consumption order: a row passes its proportion check (and, with 55 sequences or more, its uniformity "
    "check). The harvest passes unless a row fails far beyond chance on its own (tail probability below 0.001 / "
    "judged rows, and no calibration stream fails that row), or more rows fail than an "
    "ideal source explains: P(Poisson(lambda) >= failure units) < 0.001, lambda = the larger of the suite's exact "
    "expectation for the judged rows and the mean number of failure units of the Philox calibration streams of "
    "the same size; failure units count failing rows, with Frequency + CumulativeSums and RandomExcursions + "
    "RandomExcursionsVariant (statistics of the same walk that fail together) one unit each. Bias in steps, (Q_sr(x) - x)/(up - down) over sampled inexact, unsaturated values: "
    "|harvest - Philox| <= 4 sqrt(se_h^2 + se_p^2), Philox rounding the same values. Correlation of r/2^R with "
    "the fraction SR rounds: |corr| <= 4/sqrt(N). Sites with too few bits for NIST are judged on bias and "
    "correlation only.";

}  // namespace

std::string to_markdown(const AuditReport& r) {
  std::string s = "# rngfree audit\n\n";
  s += fmt::format("**Verdict: {}** — {} of {} (site, window) cells pass.\n\n", r.ok() ? "pass" : "FAIL",
                   std::count_if(r.sites.begin(), r.sites.end(), [](const SiteResult& x) { return x.ok(); }),
                   r.sites.size());
  if (!r.command.empty()) s += fmt::format("- command: `{}`\n", r.command);
  if (!r.model.empty()) s += fmt::format("- model: {}\n", r.model);
  if (!r.preset.empty()) s += fmt::format("- preset: {}\n", r.preset);
  s += fmt::format("- NIST: up to {} bits per cell in {} sequences; calibration: {} Philox streams (seed {}); "
                   "bias: at most {} samples per rounding call\n\n",
                   r.options.nist_bits, r.options.sequences, r.options.calibration_streams, r.options.seed,
                   r.options.sample_per_call);
  s += std::string(kRules) + "\n\n";
  s += "| site | window | source | format | rounding | words | NIST harvest | NIST Philox | r = 0 share (h / P) | "
       "distinct r (h / P) | bias steps harvest | bias steps Philox | R-bit truncation bias | corr harvest | corr "
       "Philox | verdict |\n";
  s += "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const SiteResult& x : r.sites) {
    s += fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} ± {} | {} ± {} | {} | {} | {} | {} |\n",
                     row_label(x), x.key.window, x.key.source.empty() ? "-" : x.key.source, x.format, x.rounding,
                     x.harvest.words, nist_cell(x.harvest), calibration_cell(x), num(x.harvest.zero_share),
                     num(x.philox.zero_share), distinct_cell(x.harvest), distinct_cell(x.philox),
                     num(x.harvest.bias_steps), num(x.harvest.bias_se, "{:.2g}"), num(x.philox.bias_steps),
                     num(x.philox.bias_se, "{:.2g}"), num(x.truncation_bias_steps), num(x.harvest.correlation, "{:.3f}"),
                     num(x.philox.correlation, "{:.3f}"), verdict_word(x));
  }
  s += "\n## Summary\n\n";
  int failing = 0;
  for (const SiteResult& x : r.sites) {
    if (x.ok()) continue;
    ++failing;
    s += fmt::format("- **{} ({})** fails: {}.\n", row_label(x), x.key.window, join(x.failures, "; "));
  }
  if (failing == 0) s += "Every site's consumed bits are indistinguishable from Philox's by these tests.\n";
  std::vector<std::string> warnings;
  for (const SiteResult& x : r.sites) {
    if (!x.nist_judged) {
      warnings.push_back(fmt::format("{} ({}): {} bits collected, too few for NIST; judged on bias and correlation only",
                                     row_label(x), x.key.window, x.harvest.nist_bits_available));
    }
    if (!x.calibration_ok) {
      warnings.push_back(fmt::format("{} ({}): a Philox calibration stream fails the NIST rule itself ({}): chance at "
                                     "this size, or the rule is too strict here",
                                     row_label(x), x.key.window, calibration_cell(x)));
    }
  }
  if (!warnings.empty()) {
    s += "\nNotes:\n\n";
    for (const auto& w : warnings) s += "- " + w + ".\n";
  }
  return s;
}

std::string to_csv(const AuditReport& r) {
  std::string s =
      "layer,layer_name,site,window,source,format,rounding,random_bits,calls,values,words,nist_judged,sequences,"
      "sequence_bits,nist_rows_passed,nist_rows_judged,nist_failing_tests,calibration_rows_passed_min,"
      "calibration_rows_passed_max,calibration_mean_rows_failed,philox_nist_rows_passed,philox_nist_rows_judged,"
      "zero_share,philox_zero_share,distinct,distinct_capped,philox_distinct,bias_samples,bias_steps,bias_se,"
      "philox_bias_steps,philox_bias_se,truncation_bias_steps,correlation,philox_correlation,nist_ok,bias_ok,"
      "correlation_ok,calibration_ok,verdict\n";
  for (const SiteResult& x : r.sites) {
    const bool cal = !x.calibration_rows_passed.empty();
    const int cmin = cal ? *std::min_element(x.calibration_rows_passed.begin(), x.calibration_rows_passed.end()) : 0;
    const int cmax = cal ? *std::max_element(x.calibration_rows_passed.begin(), x.calibration_rows_passed.end()) : 0;
    s += fmt::format(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},"
        "{},{}\n",
        x.key.layer, csv_field(x.key.layer_name), csv_field(x.key.site), csv_field(x.key.window),
        csv_field(x.key.source), csv_field(x.format), csv_field(x.rounding), x.random_bits, x.calls, x.values,
        x.harvest.words, x.nist_judged ? 1 : 0, x.harvest.sequences, x.harvest.sequence_bits,
        x.harvest.nist_rows_passed, x.harvest.nist_rows_judged, csv_field(join(x.harvest.failing_tests, " ")),
        cal ? std::to_string(cmin) : "", cal ? std::to_string(cmax) : "", num(x.calibration_mean_rows_failed, "{:.6g}"),
        x.philox.nist_rows_passed, x.philox.nist_rows_judged, num(x.harvest.zero_share, "{:.9g}"),
        num(x.philox.zero_share, "{:.9g}"), x.harvest.distinct, x.harvest.distinct_capped ? 1 : 0, x.philox.distinct,
        x.harvest.bias_samples, num(x.harvest.bias_steps, "{:.9g}"), num(x.harvest.bias_se, "{:.6g}"),
        num(x.philox.bias_steps, "{:.9g}"), num(x.philox.bias_se, "{:.6g}"), num(x.truncation_bias_steps, "{:.9g}"),
        num(x.harvest.correlation, "{:.6g}"), num(x.philox.correlation, "{:.6g}"), x.nist_ok ? 1 : 0,
        x.bias_ok ? 1 : 0, x.correlation_ok ? 1 : 0, x.calibration_ok ? 1 : 0, x.ok() ? "pass" : "fail");
  }
  return s;
}

std::string to_svg(const AuditReport& r) {
  report::Heatmap m;
  m.title = fmt::format("rngfree audit: {} (green pass, red fail; NIST rows passed/judged, n/j: too few bits)",
                        r.ok() ? "pass" : "FAIL");
  m.x_label = "window";
  m.y_label = "layer.site";
  m.value_format = "{:.0f}";
  for (const SiteResult& x : r.sites) {
    if (std::find(m.row_labels.begin(), m.row_labels.end(), row_label(x)) == m.row_labels.end()) {
      m.row_labels.push_back(row_label(x));
    }
    if (std::find(m.column_labels.begin(), m.column_labels.end(), x.key.window) == m.column_labels.end()) {
      m.column_labels.push_back(x.key.window);
    }
  }
  m.values.assign(m.row_labels.size(), std::vector<double>(m.column_labels.size(), NAN));
  m.cell_text.assign(m.row_labels.size(), std::vector<std::string>(m.column_labels.size()));
  for (const SiteResult& x : r.sites) {
    const size_t row = std::find(m.row_labels.begin(), m.row_labels.end(), row_label(x)) - m.row_labels.begin();
    const size_t col = std::find(m.column_labels.begin(), m.column_labels.end(), x.key.window) - m.column_labels.begin();
    m.values[row][col] = x.ok() ? 1.0 : 0.0;
    m.cell_text[row][col] =
        x.nist_judged ? fmt::format("{}/{}", x.harvest.nist_rows_passed, x.harvest.nist_rows_judged) : "n/j";
  }
  return report::render_svg(m);
}

std::string to_json(const AuditReport& r) {
  nlohmann::ordered_json j;
  j["verdict"] = r.ok() ? "pass" : "fail";
  j["command"] = r.command;
  j["model"] = r.model;
  j["preset"] = r.preset;
  j["options"] = {{"nist_bits", r.options.nist_bits},
                  {"sequences", r.options.sequences},
                  {"min_sequence_bits", r.options.min_sequence_bits},
                  {"sample_per_call", r.options.sample_per_call},
                  {"calibration_streams", r.options.calibration_streams},
                  {"seed", r.options.seed}};
  j["calibration"] = {{"generator", "philox"},
                      {"streams", r.options.calibration_streams},
                      {"seed", r.options.seed},
                      {"nist_profile", "sts-2.1.2"},
                      {"rules", kRules}};
  nlohmann::ordered_json sites = nlohmann::ordered_json::array();
  for (const SiteResult& x : r.sites) {
    nlohmann::ordered_json e;
    e["layer"] = x.key.layer;
    e["layer_name"] = x.key.layer_name;
    e["site"] = x.key.site;
    e["window"] = x.key.window;
    e["source"] = x.key.source;
    e["format"] = x.format;
    e["rounding"] = x.rounding;
    e["random_bits"] = x.random_bits;
    e["calls"] = x.calls;
    e["values"] = x.values;
    e["nist_judged"] = x.nist_judged;
    e["nist_rows_passed"] = x.harvest.nist_rows_passed;
    e["nist_rows_judged"] = x.harvest.nist_rows_judged;
    e["bias_steps"] = json_number(x.harvest.bias_steps);
    e["bias_se"] = json_number(x.harvest.bias_se);
    e["truncation_bias_steps"] = json_number(x.truncation_bias_steps);
    e["correlation"] = json_number(x.harvest.correlation);
    e["zero_share"] = json_number(x.harvest.zero_share);
    e["distinct"] = x.harvest.distinct;
    e["harvest"] = source_json(x.harvest);
    e["philox"] = source_json(x.philox);
    e["calibration"] = {{"rows_passed", x.calibration_rows_passed},
                        {"rows_judged", x.calibration_rows_judged},
                        {"mean_rows_failed", json_number(x.calibration_mean_rows_failed)},
                        {"ok", x.calibration_ok}};
    e["nist_ok"] = x.nist_ok;
    e["bias_ok"] = x.bias_ok;
    e["correlation_ok"] = x.correlation_ok;
    e["failures"] = x.failures;
    e["dump"] = x.dump_path;
    e["seconds"] = x.seconds;
    e["verdict"] = x.ok() ? "pass" : "fail";
    sites.push_back(std::move(e));
  }
  j["sites"] = std::move(sites);
  return j.dump(2) + "\n";
}

void write_report(const AuditReport& r, const std::string& dir) {
  const std::filesystem::path d(dir);
  write_file_atomic((d / "audit.md").string(), to_markdown(r));
  write_file_atomic((d / "audit.csv").string(), to_csv(r));
  write_file_atomic((d / "audit.svg").string(), to_svg(r));
  write_file_atomic((d / "audit.json").string(), to_json(r));
}

}  // namespace rngfree::audit
