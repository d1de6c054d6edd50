// The torch extension behind `import rngfree` (docs/python.md): the library's quantize kernels,
// generators, harvester, NIST suite and training site plan registered as TorchScript ops
// (TORCH_LIBRARY "rngfree") and one custom class (torch.classes.rngfree.SitePlan), for Debian's
// python3-torch, which loads the same libtorch 1.13 as the C++ engine. Nothing is reimplemented
// here: each op checks its tensors, makes spans and calls the library, so results are bit-identical
// to the C++ API and to `rngfree quantize` / `rngfree random` / `rngfree nist`.
#include "rngfree/train/torch.hpp"

#include <nlohmann/json.hpp>
#include <torch/custom_class.h>
#include <torch/library.h>

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/format.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/nist/bit_sequence.hpp"
#include "rngfree/nist/json.hpp"
#include "rngfree/nist/suite.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/random/random_source.hpp"
#include "rngfree/rounding.hpp"
#include "rngfree/audit/audit.hpp"
#include "rngfree/train/audit_run.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/site_plan.hpp"

namespace rngfree::python {
namespace {

// rngfree::Error (bad user input) becomes c10::ValueError, which Python sees as ValueError with the
// library's message unchanged (and TorchScript as torch.jit.Error carrying it).
template <typename F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error& e) {
    C10_THROW_ERROR(ValueError, e.what());
  }
}

[[noreturn]] void bad_input(const std::string& message) { throw Error(message); }

// A contiguous CPU float32 copy-free view of x (or a contiguous copy), checked here so that no
// library invariant (RNGFREE_CHECK, which aborts) can be reached from Python.
torch::Tensor float_input(const torch::Tensor& x, const char* what) {
  if (!x.defined()) bad_input(std::string(what) + ": undefined tensor");
  if (x.device().type() != c10::DeviceType::CPU) {
    bad_input(std::string(what) + ": a " + x.device().str() + " tensor; rngfree's kernels run on the CPU (move it with .cpu())");
  }
  if (x.scalar_type() != torch::kFloat32) {
    bad_input(std::string(what) + ": dtype " + std::string(c10::toString(x.scalar_type())) +
              "; allowed: torch.float32 (every emulated value is stored as FP32)");
  }
  return x.contiguous();
}

std::span<const float> span_of(const torch::Tensor& t) {
  return {t.data_ptr<float>(), static_cast<size_t>(t.numel())};
}
std::span<float> mut_span_of(torch::Tensor& t) { return {t.data_ptr<float>(), static_cast<size_t>(t.numel())}; }

// Random words as given by the caller: int32 (the 32 bits as they are) or int64 (values 0..2^32-1).
// torch 1.13 has no uint32 dtype. Returns a span into `keep` or into the tensor.
std::span<const uint32_t> words_of(const torch::Tensor& w, int64_t n, std::vector<uint32_t>& keep,
                                   torch::Tensor& hold) {
  if (w.device().type() != c10::DeviceType::CPU) bad_input("words: must be a CPU tensor");
  if (w.numel() != n) {
    bad_input("words: " + std::to_string(w.numel()) + " elements for " + std::to_string(n) +
              " values; allowed: one word per element of x");
  }
  if (w.scalar_type() == torch::kInt32) {
    hold = w.contiguous();
    // int32 and uint32 may alias (the signed/unsigned variants of one type).
    return {static_cast<const uint32_t*>(static_cast<const void*>(hold.data_ptr<int32_t>())), static_cast<size_t>(n)};
  }
  if (w.scalar_type() == torch::kInt64) {
    hold = w.contiguous();
    const int64_t* p = hold.data_ptr<int64_t>();
    keep.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      if (p[i] < 0 || p[i] > 0xffffffffLL) {
        bad_input("words[" + std::to_string(i) + "] = " + std::to_string(p[i]) +
                  ": allowed 0..4294967295 (an unsigned 32-bit word) in an int64 tensor, or any int32 (its bits)");
      }
      keep[static_cast<size_t>(i)] = static_cast<uint32_t>(p[i]);
    }
    return keep;
  }
  bad_input("words: dtype " + std::string(c10::toString(w.scalar_type())) +
            "; allowed: torch.int32 (the word's bits) or torch.int64 (0..2^32-1)");
}

bool overlap(const torch::Tensor& a, const torch::Tensor& b) {
  const auto* a0 = static_cast<const char*>(a.data_ptr());
  const auto* b0 = static_cast<const char*>(b.data_ptr());
  const auto* a1 = a0 + a.numel() * static_cast<int64_t>(a.element_size());
  const auto* b1 = b0 + b.numel() * static_cast<int64_t>(b.element_size());
  return a0 < b1 && b0 < a1;
}

// A new contiguous float32 result of x's shape. A large new tensor is fresh memory from the OS
// (glibc maps allocations above its mmap threshold, at most 32 MiB, anew each time, and torch 1.13
// asks for no huge pages), so its first write faults in and zeroes every 4 KiB page: for 2^24 values
// the allocating call measured a quarter of the rounding kernel's throughput (docs/python.md,
// "Speed"). Where the OS gives transparent huge pages on request (THP "madvise", Debian's default),
// MADV_HUGEPAGE on the 2 MiB-aligned interior of the new buffer, before anything touches it, makes
// that about 32 faults of 2 MiB. Only a hint: the values are the same with or without it (and where
// madvise refuses it).
torch::Tensor new_result(const torch::Tensor& x) {
  torch::Tensor out = torch::empty_like(x, torch::MemoryFormat::Contiguous);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHuge = uintptr_t{1} << 21;  // x86-64's huge page (PMD) size
  const auto begin = reinterpret_cast<uintptr_t>(out.data_ptr());
  const uintptr_t end = begin + static_cast<uintptr_t>(out.numel()) * sizeof(float);
  const uintptr_t first = (begin + kHuge - 1) & ~(kHuge - 1), last = end & ~(kHuge - 1);
  if (last >= first + 2 * kHuge) {
    madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // a refusal changes nothing
  }
#endif
  return out;
}

// The result tensor: a new one, or `out` (float32, contiguous, CPU, x's shape). The kernels round in
// place (out is x) or into a separate buffer, never into a partly overlapping one.
torch::Tensor output_for(const torch::Tensor& x, const c10::optional<torch::Tensor>& out) {
  if (!out.has_value() || !out->defined()) return new_result(x);
  const torch::Tensor& o = *out;
  if (o.scalar_type() != torch::kFloat32 || o.device().type() != c10::DeviceType::CPU || !o.is_contiguous() ||
      o.sizes() != x.sizes()) {
    bad_input("out: allowed a contiguous CPU float32 tensor of x's shape");
  }
  if (overlap(o, x) && o.data_ptr() != x.data_ptr()) bad_input("out: overlaps x partly; allowed: x itself or separate memory");
  return o;
}

torch::Tensor words_tensor(std::span<const uint32_t> w) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(w.size())}, torch::kInt64);
  int64_t* p = t.data_ptr<int64_t>();
  for (size_t i = 0; i < w.size(); ++i) p[i] = static_cast<int64_t>(w[i]);
  return t;
}

torch::Tensor quantize_words(const torch::Tensor& x_, const std::string& format_spec, const std::string& rounding_spec,
                             const c10::optional<torch::Tensor>& words, const c10::optional<torch::Tensor>& out_) {
  return guarded([&] {
    const Format format = Format::parse(format_spec);
    const Rounding rounding = Rounding::parse(rounding_spec);
    torch::Tensor x = float_input(x_, "x");
    torch::Tensor out = output_for(x, out_);
    std::vector<uint32_t> keep;
    torch::Tensor hold;
    std::span<const uint32_t> w;
    if (rounding.is_stochastic()) {
      if (!words.has_value() || !words->defined()) {
        bad_input("rounding '" + rounding.name() +
                  "' needs random bits: pass words= (one 32-bit word per element, its low R bits are the random "
                  "bits), source= (a generator) or source=rngfree.Harvest(...)");
      }
      w = words_of(*words, x.numel(), keep, hold);
    }
    quantize(span_of(x), mut_span_of(out), format, rounding, w);
    return out;
  });
}

// Word i of x is word i of the generator's stream for (seed, site): make_generator(...)->fill over
// all of x at once (philox: the same words, fused with philox_fill).
torch::Tensor quantize_generator(const torch::Tensor& x_, const std::string& format_spec,
                                 const std::string& rounding_spec, const std::string& source, int64_t seed,
                                 int64_t site, const c10::optional<torch::Tensor>& out_) {
  return guarded([&] {
    const Format format = Format::parse(format_spec);
    const Rounding rounding = Rounding::parse(rounding_spec);
    auto gen = random::make_generator(source, static_cast<uint64_t>(seed), static_cast<uint64_t>(site));
    torch::Tensor x = float_input(x_, "x");
    torch::Tensor out = output_for(x, out_);
    if (!rounding.is_stochastic()) {
      quantize(span_of(x), mut_span_of(out), format, rounding);
      return out;
    }
    if (source == "philox") {
      const uint64_t s = static_cast<uint64_t>(seed), st = static_cast<uint64_t>(site);
      const RandomFill fill = [s, st](int64_t first, std::span<uint32_t> w) {
        random::philox_fill(s, st, static_cast<uint64_t>(first), w);
      };
      quantize_with_source(span_of(x), mut_span_of(out), format, rounding, fill);
      return out;
    }
    std::vector<uint32_t> w(static_cast<size_t>(x.numel()));
    gen->fill(w);
    quantize(span_of(x), mut_span_of(out), format, rounding, w);
    return out;
  });
}

// The in-process C++ baseline of examples/python/bench_quantize.py: the seconds that the library's
// kernel call alone takes on the caller's tensors, timed with steady_clock in C++ around exactly the
// call that rngfree.quantize makes (and `rngfree bench quantize` times): quantize(x, out, format,
// rounding, words) for deterministic modes and int32 words, quantize_with_source with philox_fill for
// source "philox". Everything else the Python call does (the Python wrapper, the dispatcher, parsing
// the specs, checking the tensors) is outside the timed region here. Same OpenMP runtime and thread
// count as rngfree.quantize in this thread (omp_get_max_threads(), which torch.set_num_threads
// sets), returned with the time so that a benchmark can check it.
std::tuple<double, int64_t> kernel_seconds(const torch::Tensor& x_, const std::string& format_spec,
                                           const std::string& rounding_spec, const c10::optional<torch::Tensor>& words,
                                           const std::string& source, int64_t seed, int64_t site,
                                           const torch::Tensor& out_) {
  return guarded([&] {
    const Format format = Format::parse(format_spec);
    const Rounding rounding = Rounding::parse(rounding_spec);
    const torch::Tensor x = float_input(x_, "x");
    torch::Tensor out = output_for(x, out_);
    const int64_t threads = omp_get_max_threads();
    std::vector<uint32_t> keep;
    torch::Tensor hold;
    std::span<const uint32_t> w;
    RandomFill fill;
    if (rounding.is_stochastic()) {
      if (source == "philox") {
        const uint64_t s = static_cast<uint64_t>(seed), st = static_cast<uint64_t>(site);
        fill = [s, st](int64_t first, std::span<uint32_t> ws) { random::philox_fill(s, st, static_cast<uint64_t>(first), ws); };
      } else if (source.empty() && words.has_value() && words->defined()) {
        w = words_of(*words, x.numel(), keep, hold);
      } else {
        bad_input("kernel_seconds: stochastic rounding times words= or source 'philox'");
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (fill) {
      quantize_with_source(span_of(x), mut_span_of(out), format, rounding, fill);
    } else {
      quantize(span_of(x), mut_span_of(out), format, rounding, w);
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return std::make_tuple(s, threads);
  });
}

torch::Tensor generator_words(const std::string& source, int64_t seed, int64_t site, int64_t count) {
  return guarded([&] {
    if (count < 0) bad_input("count = " + std::to_string(count) + ": allowed 0 or more");
    auto gen = random::make_generator(source, static_cast<uint64_t>(seed), static_cast<uint64_t>(site));
    std::vector<uint32_t> w(static_cast<size_t>(count));
    gen->fill(w);
    return words_tensor(w);
  });
}

// The sequence `rngfree random --source S --seed SEED --count N` prints (uint64 values stored in an
// int64 tensor: lfsr:64 states above 2^63 come back negative, their bits unchanged).
torch::Tensor reference_sequence(const std::string& source, int64_t seed, int64_t count) {
  return guarded([&] {
    if (count < 0) bad_input("count = " + std::to_string(count) + ": allowed 0 or more");
    const auto seq = random::reference_sequence(source, static_cast<uint64_t>(seed), count);
    torch::Tensor t = torch::empty({count}, torch::kInt64);
    std::memcpy(t.data_ptr<int64_t>(), seq.data(), seq.size() * sizeof(uint64_t));
    return t;
  });
}

harvest::Extractor extractor_of(const std::string& bits, const std::string& mix, bool skip_zeros) {
  harvest::Extractor e = harvest::Extractor::parse_bits(bits);
  e.mix = harvest::parse_mix(mix);
  e.zeros = skip_zeros ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
  return e;
}

// The taps and pairings of a harvested source: pairing "self" is harvest::self_pairing(m) (the tap
// is then normally x itself). Zeros are dropped here with skip_zeros (as the engine does for sums).
struct TapSet {
  std::vector<torch::Tensor> tensors;
  std::vector<std::vector<float>> filtered;
  std::vector<harvest::TapPairing> list;
};

TapSet make_taps(const std::vector<torch::Tensor>& taps, const std::vector<std::string>& pairings, int64_t m,
                 bool skip_zeros) {
  if (taps.empty()) bad_input("taps: empty; a harvested source needs at least one tap tensor");
  if (pairings.size() != taps.size()) {
    bad_input("pairings: " + std::to_string(pairings.size()) + " for " + std::to_string(taps.size()) +
              " taps; allowed: one pairing per tap");
  }
  TapSet s;
  s.filtered.resize(taps.size());
  for (size_t i = 0; i < taps.size(); ++i) {
    s.tensors.push_back(float_input(taps[i], "tap"));
    std::span<const float> t = span_of(s.tensors.back());
    if (skip_zeros) {
      for (float v : t) {
        if (v != 0.0f) s.filtered[i].push_back(v);
      }
      t = s.filtered[i];
    }
    const harvest::Pairing p = pairings[i] == "self" ? harvest::self_pairing(m) : harvest::Pairing::parse(pairings[i]);
    s.list.push_back({t, p});
  }
  return s;
}

torch::Tensor harvest_words(const std::vector<torch::Tensor>& taps, const std::vector<std::string>& pairings,
                            int64_t m, const std::string& bits, const std::string& mix, bool skip_zeros) {
  return guarded([&] {
    if (m < 0) bad_input("m = " + std::to_string(m) + ": allowed 0 or more words");
    harvest::Extractor e = extractor_of(bits, mix, skip_zeros);
    const TapSet s = make_taps(taps, pairings, m, skip_zeros);
    e.zeros = harvest::ZeroPolicy::kKeep;  // filtered in make_taps
    std::vector<uint32_t> w(static_cast<size_t>(m));
    harvest::harvest_words_sum(s.list, e, w);
    return words_tensor(w);
  });
}

torch::Tensor quantize_harvest(const torch::Tensor& x_, const std::string& format_spec,
                               const std::string& rounding_spec, const std::vector<torch::Tensor>& taps,
                               const std::vector<std::string>& pairings, const std::string& bits,
                               const std::string& mix, bool skip_zeros, const c10::optional<torch::Tensor>& out_) {
  return guarded([&] {
    const Format format = Format::parse(format_spec);
    const Rounding rounding = Rounding::parse(rounding_spec);
    harvest::Extractor e = extractor_of(bits, mix, skip_zeros);
    torch::Tensor x = float_input(x_, "x");
    torch::Tensor out = output_for(x, out_);
    if (!rounding.is_stochastic()) {
      quantize(span_of(x), mut_span_of(out), format, rounding);
      return out;
    }
    const TapSet s = make_taps(taps, pairings, x.numel(), skip_zeros);
    // The fused fill reads the taps while the kernel writes out: they must not share memory.
    for (const torch::Tensor& t : s.tensors) {
      if (overlap(t, out)) bad_input("out: shares memory with a tap (x itself with source 'self'); allowed: separate memory");
    }
    e.zeros = harvest::ZeroPolicy::kKeep;
    // Fused: the words are made chunk by chunk inside the quantize loop (harvest_fill_sum).
    const RandomFill fill = harvest::harvest_fill_sum(s.list, e, x.numel());
    quantize_with_source(span_of(x), mut_span_of(out), format, rounding, fill);
    return out;
  });
}

std::string format_name(const std::string& spec) {
  return guarded([&] { return Format::parse(spec).name(); });
}
std::string rounding_name(const std::string& spec) {
  return guarded([&] { return Rounding::parse(spec).name(); });
}
std::vector<std::string> generator_specs() { return random::generator_specs(); }
std::vector<std::string> preset_names() { return train::preset_names(); }

// ---- NIST SP 800-22 ------------------------------------------------------------------------

// data: uint8, one bit per element (packed = false, each 0 or 1) or bytes MSB-first (packed = true,
// bit_count bits). Cut into `streams` sequences of n bits (n = 0: all bits / streams). Returns the
// JSON that `rngfree nist --json` writes (without "file").
std::string nist_run(const torch::Tensor& data_, bool packed, int64_t bit_count, int64_t n, int64_t streams,
                     const std::string& profile, const std::vector<std::string>& tests, int64_t threads) {
  return guarded([&] {
    using namespace rngfree::nist;
    if (data_.scalar_type() != torch::kUInt8 || data_.device().type() != c10::DeviceType::CPU) {
      bad_input("bits: a CPU torch.uint8 tensor (one bit per element, or packed bytes)");
    }
    if (streams < 1) bad_input("streams = " + std::to_string(streams) + ": allowed 1 or more");
    if (n < 0) bad_input("n = " + std::to_string(n) + ": allowed 0 (all bits / streams) or more");
    if (threads < 0) bad_input("threads = " + std::to_string(threads) + ": allowed 0 (all cores) or more");
    torch::Tensor data = data_.contiguous();
    const std::span<const uint8_t> bytes(data.data_ptr<uint8_t>(), static_cast<size_t>(data.numel()));
    BitSequence all;
    if (packed) {
      if (bit_count < 0 || static_cast<uint64_t>(bit_count) > 8 * bytes.size()) {
        bad_input("bit_count = " + std::to_string(bit_count) + ": allowed 0.." + std::to_string(8 * bytes.size()));
      }
      all = BitSequence::from_bytes(bytes, static_cast<uint64_t>(bit_count));
    } else {
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] > 1) bad_input("bits[" + std::to_string(i) + "] = " + std::to_string(bytes[i]) + ": allowed 0 or 1");
      }
      all = BitSequence::from_bits(bytes);
    }
    const uint64_t len = n > 0 ? static_cast<uint64_t>(n) : all.size() / static_cast<uint64_t>(streams);
    if (len == 0 || len * static_cast<uint64_t>(streams) > all.size()) {
      bad_input("bits: " + std::to_string(all.size()) + " bits, fewer than n = " + std::to_string(len) + " x streams = " +
                std::to_string(streams) + "; allowed: at least n x streams bits (n >= 1)");
    }
    std::vector<BitSequence> seqs;
    for (int64_t i = 0; i < streams; ++i) seqs.push_back(all.slice(static_cast<uint64_t>(i) * len, len));
    SuiteOptions opt;
    opt.params.set_profile(parse_profile(profile));
    for (const std::string& t : tests) opt.tests.push_back(parse_test_name(t));
    std::sort(opt.tests.begin(), opt.tests.end());
    opt.tests.erase(std::unique(opt.tests.begin(), opt.tests.end()), opt.tests.end());
    opt.threads = threads > 0 ? static_cast<int>(threads) : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const auto results = run_suite(seqs, opt);
    const SuiteReport rep = summarize(results);

    nlohmann::ordered_json j;
    j["n"] = len;
    j["streams"] = results.size();
    j["profile"] = profile;
    j["alpha"] = rep.alpha;
    j.update(suite_json(results, rep));  // the same writer as `rngfree nist --json`
    return j.dump();
  });
}

// ---- `rngfree audit` -----------------------------------------------------------------------------
// The request as JSON (keys of train::AuditRequest; absent: the command's default); returns the
// report as `rngfree audit --json` writes it, with the run's steps, test accuracy, seconds and window
// starts added under "run".
std::string audit_run(const std::string& request) {
  return guarded([&] {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(request);
    } catch (const std::exception& e) {
      bad_input(std::string("audit request: not JSON (") + e.what() + ")");
    }
    train::AuditRequest q;
    try {
      // Each key of AuditRequest that the request names (null: the command's default).
      auto read = [&](const char* key, auto& field) {
        if (!j.contains(key) || j[key].is_null()) return;
        using T = std::remove_reference_t<decltype(field)>;
        if constexpr (requires { typename T::value_type; } && !std::is_same_v<T, std::string> &&
                      !std::is_same_v<T, std::vector<std::string>>) {
          field = j[key].get<typename T::value_type>();
        } else {
          field = j[key].get<T>();
        }
      };
      for (auto [key, field] : {std::pair{"preset", &q.preset}, {"task", &q.task}, {"model", &q.model},
                                {"data", &q.data}, {"config", &q.config_text}, {"dump_dir", &q.dump_dir}}) {
        read(key, *field);
      }
      for (auto [key, field] : {std::pair{"steps", &q.steps}, {"window", &q.window}, {"bits", &q.bits},
                                {"train_limit", &q.train_limit}}) {
        read(key, *field);
      }
      for (auto [key, field] : {std::pair{"sequences", &q.sequences}, {"calibration", &q.calibration},
                                {"epochs", &q.epochs}, {"train_threads", &q.train_threads}}) {
        read(key, *field);
      }
      read("windows", q.windows);
      read("seed", q.seed);
      read("threads", q.threads);
      read("quick", q.quick);
    } catch (const nlohmann::json::exception& e) {
      bad_input(std::string("audit request: a value of the wrong type (") + e.what() + ")");
    }
    train::AuditRunOptions o = train::make_audit_options(q);
    o.command = "rngfree.audit.run (Python)";
    const train::AuditRunResult r = train::run_audit(o);
    nlohmann::ordered_json out = nlohmann::ordered_json::parse(audit::to_json(r.report));
    nlohmann::ordered_json run;
    run["steps"] = r.steps;
    run["test_accuracy"] = r.test_accuracy;
    run["seconds"] = r.seconds;
    run["windows"] = train::describe_windows(r);
    out["run"] = run;
    return out.dump();
  });
}

// ---- The training site plan on any module ------------------------------------------------------
// A config (preset, then TOML overrides) resolved by train::make_site_plan for the layers Python
// names, with the engine's word sources: a generator stream per site (seed, stream 1 + layer·6 +
// site, as the engine) or the harvested taps the plan names, paired per call by
// train::harvest_pairing at the current step. Python records the taps and asks for roundings.
class SitePlan : public torch::CustomClassHolder {
 public:
  SitePlan(const std::string& preset, const std::string& toml, std::vector<std::string> layer_names, int64_t seed)
      : seed_(static_cast<uint64_t>(seed)) {
    guarded([&] {
      train::TrainConfig cfg;
      train::apply_preset(cfg, preset);
      if (!toml.empty()) train::apply_toml_text(cfg, toml, "config", preset);
      cfg.validate();
      quant_ = cfg.quant;
      plan_ = train::make_site_plan(quant_, layer_names);
      taps_.assign(layer_names.size() * train::kNumTapKinds, torch::Tensor());
      gens_.resize(plan_.sites.size());
      for (size_t i = 0; i < plan_.sites.size(); ++i) {
        const train::PlannedSite& p = plan_.sites[i];
        if (p.active && p.source == train::SourceKind::kGenerator) {
          gens_[i] = random::make_generator(p.generator, seed_, p.stream);
        }
      }
      return 0;
    });
  }

  int64_t num_layers() const { return plan_.num_layers(); }
  bool active(int64_t layer, int64_t site) const { return at(layer, site).active; }
  bool reads(int64_t layer, int64_t tap) const {
    check_layer(layer);
    check_tap(tap);
    return plan_.reads(static_cast<int>(layer), static_cast<harvest::TapKind>(tap));
  }
  std::vector<std::string> describe() const {
    std::vector<std::string> lines;
    for (const auto& p : plan_.sites) {
      if (p.active) lines.push_back(plan_.layer_names[static_cast<size_t>(p.layer)] + " " + p.describe(plan_.layer_names));
    }
    return lines;
  }
  int64_t step() const { return step_; }
  void set_step(int64_t s) {
    guarded([&] {
      if (s < 0) bad_input("step = " + std::to_string(s) + ": allowed 0 or more");
      step_ = s;
      return 0;
    });
  }
  void record(int64_t layer, int64_t tap, const torch::Tensor& t) {
    guarded([&] {
      check_layer(layer);
      check_tap(tap);
      taps_[static_cast<size_t>(layer) * train::kNumTapKinds + static_cast<size_t>(tap)] =
          float_input(t, "tap").detach().contiguous();
      return 0;
    });
  }
  void clear_taps() {
    for (auto& t : taps_) t = torch::Tensor();
  }
  // The state a resumed run needs besides the model and the optimizer: every generator site's
  // position ("" where a site has none, in layer-major (layer, site) order) and the recorded taps
  // (harvested sites read the previous step's taps).
  std::vector<std::string> generator_states() const {
    std::vector<std::string> v;
    for (const auto& g : gens_) v.push_back(g ? g->save_state() : std::string());
    return v;
  }
  void load_generator_states(const std::vector<std::string>& states) {
    guarded([&] {
      if (states.size() != gens_.size()) {
        bad_input("generator states: " + std::to_string(states.size()) + " entries; this plan has " +
                  std::to_string(gens_.size()) + " (layers x 6 sites): the state is from another model or preset");
      }
      for (size_t i = 0; i < gens_.size(); ++i) {
        if (static_cast<bool>(gens_[i]) != !states[i].empty()) {
          bad_input("generator states: site " + std::to_string(i) + " of the state " +
                    (states[i].empty() ? "has no generator" : "has a generator") + " and this plan's " +
                    (gens_[i] ? "has one" : "has none") + ": the state is from another preset or config");
        }
        if (gens_[i]) gens_[i]->load_state(states[i]);
      }
      return 0;
    });
  }
  c10::optional<torch::Tensor> tap_tensor(int64_t layer, int64_t tap) const {
    check_layer(layer);
    check_tap(tap);
    const torch::Tensor& t = taps_[static_cast<size_t>(layer) * train::kNumTapKinds + static_cast<size_t>(tap)];
    if (!t.defined()) return c10::nullopt;
    return t;
  }

  // x rounded at (layer, site) as the engine's QuantSite::apply and its word source do.
  torch::Tensor quantize_site(int64_t layer, int64_t site, const torch::Tensor& x_) {
    return guarded([&] {
      const train::PlannedSite& p = at(layer, site);
      torch::Tensor x = float_input(x_, "x");
      if (!p.active) return x.clone();
      torch::Tensor out = new_result(x);
      const std::span<const float> in = span_of(x);
      if (!p.rounding.is_stochastic()) {
        quantize(in, mut_span_of(out), p.format, p.rounding);
        return out;
      }
      const int64_t m = x.numel();
      std::vector<uint32_t> words(static_cast<size_t>(m));
      if (p.source == train::SourceKind::kGenerator) {
        gens_[index(layer, site)]->fill(words);
        quantize(in, mut_span_of(out), p.format, p.rounding, words);
        return out;
      }
      harvest_fill(p, in, words);
      quantize(in, mut_span_of(out), p.format, p.rounding, words);
      return out;
    });
  }

 private:
  void check_layer(int64_t layer) const {
    if (layer < 0 || layer >= plan_.num_layers()) {
      bad_input("layer = " + std::to_string(layer) + ": allowed 0.." + std::to_string(plan_.num_layers() - 1));
    }
  }
  static void check_tap(int64_t tap) {
    // prob (5) is the gpt's own (a layer that multiplies attention probabilities); Python layers have none
    if (tap < 0 || tap > static_cast<int64_t>(harvest::TapKind::kGrad)) bad_input("tap = " + std::to_string(tap) + ": allowed 0..4 (input weights act err grad)");
  }
  size_t index(int64_t layer, int64_t site) const {
    return static_cast<size_t>(layer) * train::kNumSites + static_cast<size_t>(site);
  }
  const train::PlannedSite& at(int64_t layer, int64_t site) const {
    check_layer(layer);
    if (site < 0 || site >= train::kNumSites) bad_input("site = " + std::to_string(site) + ": allowed 0..6 (W A E G U M V)");
    return plan_.sites[index(layer, site)];
  }
  std::span<const float> tap(int layer, harvest::TapKind kind) const {
    const torch::Tensor& t = taps_[static_cast<size_t>(layer) * train::kNumTapKinds + static_cast<size_t>(kind)];
    return t.defined() ? span_of(t) : std::span<const float>{};
  }
  // As train's HarvestWords::fill: the primary tap (self before it was ever recorded), then every
  // extra tap already recorded, each paired by harvest_pairing at this step; zeros dropped per tap
  // with skip_zeros; the words XORed and mixed once.
  void harvest_fill(const train::PlannedSite& p, std::span<const float> self, std::span<uint32_t> out) {
    const int64_t m = static_cast<int64_t>(out.size());
    std::span<const float> primary = p.tap == harvest::TapKind::kSelf ? self : tap(p.tap_layer, p.tap);
    if (primary.data() == nullptr) primary = self;
    auto pairing = [&](std::span<const float> t) {
      if (t.data() == self.data()) return harvest::self_pairing(m);
      return train::harvest_pairing(p, static_cast<int64_t>(t.size()), m, step_);
    };
    if (p.extra.empty()) {
      harvest::harvest_words(primary, p.extractor, pairing(primary), out);
      return;
    }
    std::vector<harvest::TapPairing> list{{primary, pairing(primary)}};
    for (const auto& e : p.extra) {
      const std::span<const float> t = tap(e.tap_layer, e.tap);
      if (!t.empty()) list.push_back({t, train::harvest_pairing(p, static_cast<int64_t>(t.size()), m, step_)});
    }
    harvest::Extractor e = p.extractor;
    std::vector<std::vector<float>> kept(list.size());
    if (e.zeros == harvest::ZeroPolicy::kSkip) {
      for (size_t t = 0; t < list.size(); ++t) {
        for (float v : list[t].tap) {
          if (v != 0.0f) kept[t].push_back(v);
        }
        list[t].tap = kept[t];
      }
      e.zeros = harvest::ZeroPolicy::kKeep;
    }
    harvest::harvest_words_sum(list, e, out);
  }

  uint64_t seed_ = 0;
  train::QuantConfig quant_;
  train::SitePlan plan_;
  std::vector<torch::Tensor> taps_;  // [layer * kNumTapKinds + tap]
  std::vector<std::unique_ptr<random::RandomSource>> gens_;
  int64_t step_ = 0;
};

}  // namespace
}  // namespace rngfree::python

TORCH_LIBRARY(rngfree, m) {
  using namespace rngfree::python;
  // out: write the result into this tensor (x itself: in place) instead of a new one. For eager use:
  // the schemas do not declare the aliasing to TorchScript's alias analysis.
  m.def("quantize(Tensor x, str format, str rounding, Tensor? words=None, Tensor? out=None) -> Tensor",
        &quantize_words);
  m.def("quantize_generator(Tensor x, str format, str rounding, str source, int seed, int site=0, Tensor? out=None) "
        "-> Tensor",
        &quantize_generator);
  m.def("quantize_harvest(Tensor x, str format, str rounding, Tensor[] taps, str[] pairings, str bits, str mix, "
        "bool skip_zeros, Tensor? out=None) -> Tensor",
        &quantize_harvest);
  // examples/python/bench_quantize.py's in-process C++ baseline (not part of the Python API).
  m.def("_kernel_seconds(Tensor x, str format, str rounding, Tensor? words, str source, int seed, int site, Tensor out) "
        "-> (float, int)",
        &kernel_seconds);
  m.def("generator_words(str source, int seed, int site, int count) -> Tensor", &generator_words);
  m.def("reference_sequence(str source, int seed, int count) -> Tensor", &reference_sequence);
  m.def("harvest_words(Tensor[] taps, str[] pairings, int m, str bits, str mix, bool skip_zeros) -> Tensor",
        &harvest_words);
  m.def("format_name(str spec) -> str", &format_name);
  m.def("rounding_name(str spec) -> str", &rounding_name);
  m.def("generator_specs() -> str[]", &generator_specs);
  m.def("preset_names() -> str[]", &preset_names);
  m.def("nist_run(Tensor data, bool packed, int bit_count, int n, int streams, str profile, str[] tests, int threads) "
        "-> str",
        &nist_run);
  m.def("audit_run(str request) -> str", &audit_run);
  m.class_<SitePlan>("SitePlan")
      .def(torch::init<std::string, std::string, std::vector<std::string>, int64_t>())
      .def("num_layers", &SitePlan::num_layers)
      .def("active", &SitePlan::active)
      .def("reads", &SitePlan::reads)
      .def("describe", &SitePlan::describe)
      .def("step", &SitePlan::step)
      .def("set_step", &SitePlan::set_step)
      .def("record", &SitePlan::record)
      .def("clear_taps", &SitePlan::clear_taps)
      .def("generator_states", &SitePlan::generator_states)
      .def("load_generator_states", &SitePlan::load_generator_states)
      .def("tap", &SitePlan::tap_tensor)
      .def("quantize", &SitePlan::quantize_site);
}
