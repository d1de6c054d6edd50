// best_seconds (include/rngfree/bench/timing.hpp).
#include "rngfree/bench/timing.hpp"

#include <algorithm>
#include <chrono>

namespace rngfree::bench {

double best_seconds(int repeats, const std::function<void()>& body) {
  body();
  double best = 1e300;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    body();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace rngfree::bench
