// The suite's results as JSON: what `rngfree nist --json` writes and `rngfree.nist.run` (Python)
// reads back — one writer, so both carry the same fields.
#pragma once
#include <nlohmann/json.hpp>

#include <vector>

#include "rngfree/nist/suite.hpp"

namespace rngfree::nist {

// {"sequences": [{"sequence", "tests": [{"test", "applicable", "reason" (only when not applicable),
//  "p_values": [{"sub_test", "p_value" (null when absent)}], "statistics", "warnings"}]}],
//  "summary": {"rows", "tests", "proportion_passes", "rows_failed", "rows_judged",
//  "rows_not_applicable", "expected_false_alarms", "chance_p_value", "decisive_failure", "ok", "note"}}
nlohmann::ordered_json suite_json(const std::vector<std::vector<TestResult>>& results, const SuiteReport& report);

}  // namespace rngfree::nist
