// The suite's results as JSON (json.hpp).
#include "rngfree/nist/json.hpp"

#include <optional>

namespace rngfree::nist {
namespace {
nlohmann::ordered_json p_json(const std::optional<double>& p) { return p ? nlohmann::ordered_json(*p) : nlohmann::ordered_json(); }
}  // namespace

nlohmann::ordered_json suite_json(const std::vector<std::vector<TestResult>>& results, const SuiteReport& rep) {
  nlohmann::ordered_json j;
  auto& seqs = j["sequences"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    nlohmann::ordered_json s;
    s["sequence"] = i;
    auto& tests = s["tests"] = nlohmann::ordered_json::array();
    for (const TestResult& t : results[i]) {
      nlohmann::ordered_json tj;
      tj["test"] = test_name(t.test);
      tj["applicable"] = t.applicable;
      if (!t.applicable) tj["reason"] = t.not_applicable_reason;
      auto& pv = tj["p_values"] = nlohmann::ordered_json::array();
      for (const PValue& p : t.p_values) pv.push_back({{"sub_test", p.sub_test}, {"p_value", p_json(p.p_value)}});
      auto& st = tj["statistics"] = nlohmann::ordered_json::object();
      for (const auto& [k, v] : t.statistics) st[k] = v;
      tj["warnings"] = t.warnings;
      tests.push_back(tj);
    }
    seqs.push_back(s);
  }
  nlohmann::ordered_json sum;
  auto& rows = sum["rows"] = nlohmann::ordered_json::array();
  for (const ProportionRow& r : rep.rows) {
    rows.push_back({{"test", test_name(r.test)},
                    {"sub_test", r.sub_test},
                    {"sequences", r.sequences},
                    {"not_applicable", r.not_applicable},
                    {"passed", r.passed},
                    {"proportion", r.proportion},
                    {"proportion_interval", {r.lower, r.upper}},
                    {"proportion_ok", r.proportion_ok},
                    {"bins", r.bins},
                    {"uniformity_p", p_json(r.uniformity_p)},
                    {"uniformity_assessed", r.uniformity_assessed},
                    {"uniformity_ok", r.uniformity_ok},
                    {"applicable", r.applicable()},
                    {"not_applicable_reason", r.not_applicable_reason},
                    {"ok", r.ok()}});
  }
  auto& tv = sum["tests"] = nlohmann::ordered_json::array();
  for (const TestVerdict& v : rep.tests) {
    tv.push_back({{"test", test_name(v.test)}, {"rows", v.rows}, {"rows_failed", v.rows_failed},
                  {"rows_not_applicable", v.rows_not_applicable}, {"ok", v.ok()}});
  }
  const ProportionPasses pp = proportion_passes(rep);
  sum["proportion_passes"] = {{"rows", pp.rows}, {"passed", pp.passed}, {"not_applicable", pp.not_applicable}};
  sum["rows_failed"] = rep.rows_failed;
  sum["rows_judged"] = rep.rows_judged;
  sum["rows_not_applicable"] = rep.rows_not_applicable;
  sum["expected_false_alarms"] = rep.expected_false_alarms;
  sum["chance_p_value"] = rep.chance_p_value;
  sum["decisive_failure"] = rep.decisive_failure;
  sum["ok"] = rep.ok();
  sum["note"] = rep.note();
  j["summary"] = sum;
  return j;
}

}  // namespace rngfree::nist
