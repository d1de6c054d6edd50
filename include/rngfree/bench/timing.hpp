// Timing for the in-run benchmarks (`rngfree bench ...`): the best of several runs after a warm-up,
// since the machine may be shared and the best run is the least disturbed one.
#pragma once
#include <functional>

namespace rngfree::bench {

// Runs `body` once untimed (page faults, caches, thread pool), then `repeats` times; the fastest in seconds.
double best_seconds(int repeats, const std::function<void()>& body);

}  // namespace rngfree::bench
