// Strict parsing and range checks of user-typed numbers (number_input.hpp).
#include "rngfree/number_input.hpp"

#include <charconv>

namespace rngfree {
namespace {
// Shortest text that reads back as the same double ("0.05", "1e-07").
std::string shortest(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string RealRange::text() const {
  return std::string(lo_open ? "(" : "[") + shortest(lo) + ", " + shortest(hi) + (hi_open ? ")" : "]");
}

double checked_real(std::string_view name, double value, const RealRange& range) {
  if (!range.contains(value)) throw Error(std::string(name) + " " + shortest(value) + ": allowed " + range.text());
  return value;
}

double parse_real(std::string_view name, std::string_view text, const RealRange& range) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value, std::chars_format::general);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    throw Error(std::string(name) + " '" + std::string(text) + "': not a number; allowed " + range.text());
  }
  if (ec == std::errc::result_out_of_range || !range.contains(value)) {
    throw Error(std::string(name) + " " + std::string(text) + ": allowed " + range.text());
  }
  return value;
}

}  // namespace rngfree
