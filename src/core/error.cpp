// Always-on invariant checks: report expression, file, line and abort (never silently continue).
#include "rngfree/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace rngfree {

void check_failed(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "rngfree: internal check failed at %s:%d: %s (%s)\n", file, line, msg.c_str(), expr);
  std::abort();
}

}  // namespace rngfree
