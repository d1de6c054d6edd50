// Console output of Google Benchmark plus, at the end, each benchmark's throughput as a ratio
// against its baseline measured in the same run (STYLE.md: benchmarks report ratios). Each
// benchmark file names the baseline of every benchmark with `baseline_of`.
#pragma once
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace rngfree::bench {

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  // Maps a benchmark's name to its baseline's name ("" for a baseline itself).
  explicit RatioReporter(std::function<std::string(const std::string&)> baseline_of)
      : ConsoleReporter(isatty(fileno(stdout)) ? OO_ColorTabular : OO_Tabular), baseline_of_(std::move(baseline_of)) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& r : runs) {
      const auto it = r.counters.find("items_per_second");
      if (r.run_type != Run::RT_Iteration || r.error_occurred || it == r.counters.end()) continue;
      const std::string name = r.benchmark_name();
      if (!rates_.count(name)) order_.push_back(name);
      rates_[name] = it->second.value;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-56s %14s  %s\n", "benchmark", "vs baseline", "baseline");
    for (const std::string& name : order_) {
      const std::string base = baseline_of_(name);
      const auto it = rates_.find(base);
      if (base.empty() || it == rates_.end() || it->second <= 0) continue;
      std::printf("%-56s %13.2fx  %s\n", name.c_str(), rates_[name] / it->second, base.c_str());
    }
  }

 private:
  std::function<std::string(const std::string&)> baseline_of_;
  std::map<std::string, double> rates_;
  std::vector<std::string> order_;
};

// main() of a benchmark program: registers nothing itself (the file does before calling it).
inline int run_benchmarks(int argc, char** argv, std::function<std::string(const std::string&)> baseline_of) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter(std::move(baseline_of));
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

}  // namespace rngfree::bench
