// `rngfree nist FILE`: the NIST SP 800-22 suite on K sequences of n bits read from a file or stdin
// (ASCII '0'/'1' or raw bytes, most significant bit first); prints STS 2.1.2's finalAnalysisReport
// with exact bounds, and optionally every P-value as TSV or JSON. Parses, calls nist/, prints.
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "command.hpp"
#include "rngfree/atomic_file.hpp"
#include "rngfree/error.hpp"
#include "rngfree/nist/json.hpp"
#include "rngfree/nist/suite.hpp"

namespace rngfree::app {
namespace {
using namespace rngfree::nist;

struct NistArgs {
  std::string file;
  std::string input = "ascii";
  uint64_t n = 0;
  uint64_t streams = 1;
  std::string profile = "sts-2.1.2";
  std::string tests;
  int threads = 0;
  std::string tsv, json;
  bool all_rows = false;
  // STS 2.1.2's adjustable parameters.
  uint64_t block_frequency_m = 128;
  int non_overlapping_m = 9, overlapping_m = 9, approximate_entropy_m = 10, serial_m = 16;
  uint64_t linear_complexity_m = 500;
};

std::string read_all(const std::string& file) {
  if (file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("FILE = '" + file + "': cannot be opened for reading");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<TestId> parse_tests(const std::string& list) {
  std::vector<TestId> out;
  if (list.empty()) return out;
  std::set<TestId> seen;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, end - start);
    if (!name.empty()) {
      const TestId id = parse_test_name(name);
      if (seen.insert(id).second) out.push_back(id);
    }
    start = end + 1;
  }
  std::sort(out.begin(), out.end());
  return out;
}

void write_tsv(const std::string& path, const std::vector<std::vector<TestResult>>& results) {
  std::ostringstream out;
  write_p_values_tsv(out, results);
  write_file_atomic(path, out.str());
}

void write_json(const std::string& path, const NistArgs& a, uint64_t n, const std::vector<std::vector<TestResult>>& results,
                const SuiteReport& rep) {
  nlohmann::ordered_json j;
  j["file"] = a.file;
  j["n"] = n;
  j["streams"] = results.size();
  j["profile"] = a.profile;
  j["alpha"] = rep.alpha;
  j.update(suite_json(results, rep));
  write_file_atomic(path, j.dump(1) + "\n");
}

void print_row(const ProportionRow& r, const std::optional<double>& single_p) {
  std::string bins;
  for (uint64_t b : r.bins) bins += fmt::format("{:>4}", b);
  const std::string name = std::string(test_name(r.test)) + (r.sub_test.empty() ? "" : " " + r.sub_test);
  if (r.sequences == 0) {
    fmt::print("{}  {:>9}  {:>9}  {:<4}  {}  (not applicable)\n", bins, "-", "-", "NA", name);
    return;
  }
  // One sequence: its P-value; otherwise the uniformity P-value (when judged).
  std::string unif = r.uniformity_assessed ? fmt::format("{:.6f}", *r.uniformity_p) : "-";
  if (single_p) unif = fmt::format("{:.6f}", *single_p);
  const std::string prop = fmt::format("{}/{}", r.passed, r.sequences);
  fmt::print("{}  {:>9}  {:>9}  {:<4}  {}\n", bins, unif, prop, r.ok() ? "ok" : "FAIL", name);
}

std::optional<double> single_p_value(const std::vector<TestResult>& seq, const ProportionRow& r) {
  for (const TestResult& t : seq)
    if (t.test == r.test)
      for (const PValue& p : t.p_values)
        if (p.sub_test == r.sub_test) return p.p_value;
  return std::nullopt;
}

void run(const NistArgs& a) {
  if (a.input != "ascii" && a.input != "binary") {
    throw Error("--input = '" + a.input + "' (allowed: ascii, binary)");
  }
  if (a.n > 0 && a.streams > UINT64_MAX / a.n) {
    throw Error(fmt::format("--bits {} x --streams {}: more than 2^64 bits in all; allowed: a product below 2^64", a.n,
                            a.streams));
  }
  SuiteOptions opt;
  opt.params.set_profile(parse_profile(a.profile));
  opt.tests = parse_tests(a.tests);
  opt.threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  opt.params.block_frequency.block_length = a.block_frequency_m;
  opt.params.non_overlapping_template.template_length = a.non_overlapping_m;
  opt.params.overlapping_template.template_length = a.overlapping_m;
  opt.params.approximate_entropy.block_length = a.approximate_entropy_m;
  opt.params.serial.block_length = a.serial_m;
  opt.params.linear_complexity.block_length = a.linear_complexity_m;

  const std::string data = read_all(a.file);
  const std::string src = a.file == "-" ? "stdin" : a.file;
  const std::vector<BitSequence> seqs =
      read_sequences(data, a.input == "ascii" ? BitInput::kAscii : BitInput::kBinary, a.n, a.streams, src);
  const uint64_t n = seqs.front().size();

  const bool show_progress = a.streams > 1 && n * a.streams >= 10'000'000;
  const bool tty = isatty(STDERR_FILENO) != 0;
  uint64_t last_pct = ~uint64_t{0};
  if (show_progress) {
    opt.progress = [&](uint64_t done, uint64_t total) {
      const uint64_t pct = 100 * done / total;
      if (pct == last_pct || (!tty && pct % 10 != 0 && done != total)) return;
      last_pct = pct;
      std::fprintf(stderr, tty ? "\rnist: %llu/%llu sequences (%llu%%)" : "nist: %llu/%llu sequences (%llu%%)\n",
                   static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                   static_cast<unsigned long long>(pct));
      if (tty && done == total) std::fputc('\n', stderr);
    };
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto results = run_suite(seqs, opt);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const SuiteReport rep = summarize(results);
  if (!a.tsv.empty()) write_tsv(a.tsv, results);
  if (!a.json.empty()) write_json(a.json, a, n, results, rep);

  fmt::print("NIST SP 800-22 Rev 1a suite: {} ({}), {} sequence(s) x {} bits, profile {}, {:.2f} s on {} thread(s)\n",
             src, a.input, a.streams, n, a.profile, secs, opt.threads);
  fmt::print("Proportion passing at alpha = 0.01; interval p^ -+ 3 sqrt(p^(1-p^)/k), p^ = 0.99");
  if (!rep.rows.empty() && rep.rows[0].sequences > 0) {
    fmt::print(" (k = {}: [{:.6f}, {:.6f}])", rep.rows[0].sequences, rep.rows[0].lower, rep.rows[0].upper);
  }
  fmt::print(".\nUniformity: igamc(9/2, chi2/2) over 10 bins, expected k/10 each; judged for k >= 55, fails below 0.0001.\n\n");
  fmt::print("{}  {:>9}  {:>9}  {:<4}  {}\n", "  C1  C2  C3  C4  C5  C6  C7  C8  C9 C10", a.streams == 1 ? "P-value" : "P-unif",
             "passed", "", "test");
  for (TestId id : (opt.tests.empty() ? std::vector<TestId>(all_tests().begin(), all_tests().end()) : opt.tests)) {
    std::vector<const ProportionRow*> rows;
    for (const ProportionRow& r : rep.rows)
      if (r.test == id) rows.push_back(&r);
    const bool many = rows.size() > 20 && !a.all_rows;
    uint64_t failed = 0;
    double min_prop = 1, min_unif = 1;
    for (const ProportionRow* r : rows) {
      failed += !r->ok();
      if (r->sequences > 0) min_prop = std::min(min_prop, r->proportion);
      if (r->uniformity_assessed) min_unif = std::min(min_unif, *r->uniformity_p);
      if (!many || !r->ok()) print_row(*r, a.streams == 1 ? single_p_value(results[0], *r) : std::nullopt);
    }
    const bool none_applicable =
        std::none_of(rows.begin(), rows.end(), [](const ProportionRow* r) { return r->applicable(); });
    if (many && none_applicable) {
      fmt::print("{:>40}  {:>9}  {:>9}  {:<4}  {} ({} sub-tests, not applicable)\n", "", "-", "-", "NA", test_name(id),
                 rows.size());
    } else if (many) {
      const bool judged = min_unif < 1 || (!rows.empty() && rows[0]->uniformity_assessed);
      fmt::print("{:>40}  {:>9}  {:>9.4f}  {:<4}  {} ({} sub-tests, {} failed; minimum {}proportion shown; "
                 "--all-rows lists them)\n",
                 "", judged ? fmt::format("{:.6f}", min_unif) : "-", min_prop, failed ? "FAIL" : "ok", test_name(id),
                 rows.size(), failed, judged ? "uniformity P and " : "");
    }
  }
  // Not-applicable reasons and warnings: per test, how many sequences, with the first message.
  struct Note {
    uint64_t count = 0;
    std::string first;
  };
  std::map<std::pair<TestId, std::string>, Note> notes;  // (test, kind) -> count, first message
  for (const auto& seq : results)
    for (const TestResult& t : seq) {
      if (!t.applicable) {
        Note& n = notes[{t.test, "not applicable"}];
        if (n.count++ == 0) n.first = t.not_applicable_reason;
      }
      for (const std::string& w : t.warnings) {
        Note& n = notes[{t.test, w.substr(0, w.find(" = "))}];
        if (n.count++ == 0) n.first = w;
      }
    }
  if (!notes.empty()) {
    fmt::print("\nNotes:\n");
    for (const auto& [key, note] : notes) {
      const bool na = key.second == "not applicable";
      fmt::print("  {}: {}{}{}\n", test_name(key.first), na ? "not applicable: " : "", note.first,
                 a.streams > 1 ? fmt::format(" ({} of {} sequences{})", note.count, a.streams, note.count > 1 ? ", first shown" : "")
                               : "");
    }
  }
  fmt::print("\nVerdict per test:\n");
  for (const TestVerdict& v : rep.tests) {
    fmt::print("  {:<26} {}", test_name(v.test), v.rows == v.rows_not_applicable ? "not applicable" : (v.ok() ? "pass" : "FAIL"));
    if (v.rows_failed) fmt::print(" ({} of {} P-value rows failed)", v.rows_failed, v.rows);
    fmt::print("\n");
  }
  fmt::print("\nOverall: {}: {} of {} judged P-value rows failed{}; {:.2f} expected by chance for an ideal generator "
             "(probability of at least this many: {:.3g}){}\n",
             rep.ok() ? "PASS" : "FAIL", rep.rows_failed, rep.rows_judged,
             rep.rows_not_applicable ? fmt::format(" ({} rows not applicable)", rep.rows_not_applicable) : "",
             rep.expected_false_alarms, rep.chance_p_value,
             rep.decisive_failure ? "; at least one row fails decisively (beyond chance on its own)" : "");
  if (a.streams < 55) {
    fmt::print("With {} sequence(s) the uniformity of P-values is not judged{}; SP 800-22 suggests at least 55 sequences "
               "(--streams).\n", a.streams, a.streams == 1 ? " and one P-value below 0.01 fails its row" : "");
  }
  fmt::print("Note: {}\n", rep.note());
}

const RegisterCommand kNist("", "nist", [](CLI::App& root) {
  auto* cmd = root.add_subcommand("nist", "Run the NIST SP 800-22 Rev 1a statistical test suite on a bit file");
  static NistArgs a;
  cmd->add_option("FILE", a.file, "Input file, or - for stdin")->required();
  cmd->add_option("--input", a.input, "ascii: '0'/'1' characters, whitespace ignored; binary: bytes, most significant bit first")
      ->capture_default_str();
  add_integer_flag(cmd, "-n,--bits", a.n, "Bits per sequence",
                   IntRange<uint64_t>{0, UINT64_MAX, "0: all input bits / streams"});
  add_integer_flag(cmd, "--streams", a.streams, "Number of sequences K (consecutive, n bits each)",
                   IntRange<uint64_t>{1, UINT64_MAX});
  cmd->add_option("--profile", a.profile, "sts-2.1.2 (reproduce STS 2.1.2) or corrected (fixed constants)")->capture_default_str();
  cmd->add_option("--tests", a.tests, "Comma-separated test names or numbers 1-15 (default: all)");
  add_integer_flag(cmd, "--threads", a.threads, "Worker threads", IntRange<int>{0, 1024, "0: all cores"});
  cmd->add_option("--tsv", a.tsv, "Write every P-value: sequence, test, sub_test, p_value (NA if not applicable)");
  cmd->add_option("--json", a.json, "Write all results and the summary as JSON");
  cmd->add_flag("--all-rows", a.all_rows, "List all 148 NonOverlappingTemplate rows in the report");
  // The ranges SP 800-22's tests accept (src/nist/sp800_22.cpp checks the same).
  add_integer_flag(cmd, "--block-frequency-m", a.block_frequency_m, "BlockFrequency block length M",
                   IntRange<uint64_t>{1, UINT64_MAX});
  add_integer_flag(cmd, "--non-overlapping-m", a.non_overlapping_m, "NonOverlappingTemplate template length m",
                   IntRange<int>{2, 21});
  add_integer_flag(cmd, "--overlapping-m", a.overlapping_m, "OverlappingTemplate template length m", IntRange<int>{1, 32});
  add_integer_flag(cmd, "--approximate-entropy-m", a.approximate_entropy_m, "ApproximateEntropy block length m",
                   IntRange<int>{1, 23});
  add_integer_flag(cmd, "--serial-m", a.serial_m, "Serial block length m", IntRange<int>{2, 24});
  add_integer_flag(cmd, "--linear-complexity-m", a.linear_complexity_m, "LinearComplexity block length M",
                   IntRange<uint64_t>{2, 100000});
  cmd->callback([] { run(a); });
});

}  // namespace
}  // namespace rngfree::app
