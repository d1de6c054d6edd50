// `rngfree bench quantize` (include/rngfree/bench/quantize.hpp): each run is repeated and the best
// time is kept. To add a random source (e.g. a generator or a harvested tap), add an entry to
// quantize_bench_sources().
#include "rngfree/bench/quantize.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "rngfree/bench/timing.hpp"
#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::bench {
namespace {

// The first six cases time every source; the others (issue 14: every format the training presets
// and the docs name) time the given words, Philox, the fastest generator bank and the fused
// harvests (self, and the two-tap sum of the training default's shape), so the whole run stays a
// few minutes on a shared machine.
constexpr QuantizeBenchCase kCases[] = {
    {"bf16", "nearest-even"},         {"bf16", "stochastic:16"},         {"e4m3", "nearest-even"},
    {"e4m3", "stochastic:16"},        {"fixed:8:dyn", "nearest-even"},   {"fixed:8:dyn", "stochastic:16"},
    {"fp16", "nearest-even"},         {"fp16", "stochastic:16", false},  {"tf32", "nearest-even"},
    {"tf32", "stochastic:16", false}, {"e5m2", "nearest-even"},          {"e5m2", "stochastic:16", false},
    {"fixed:8:4", "nearest-even"},    {"fixed:8:4", "stochastic:16", false},
    // The int8 training presets' own sites: W, A, G in fixed:8:dyn, E in bfp:7:32, with stochastic:8.
    {"fixed:8:dyn", "stochastic:8", false}, {"bfp:7:32", "nearest-even"}, {"bfp:7:32", "stochastic:8", false}};

// Sources timed for a case whose every_source is false.
bool in_short_list(const std::string& source) {
  return source == "given" || source == "philox" || source == "lfsr:32" || source == "harvest-fused:self" ||
         source == "harvest-fused-sum" || source.starts_with("take:");
}

void parallel_copy(const float* in, float* out, int64_t n) {
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * kChunk;
    std::memcpy(out + begin, in + begin, sizeof(float) * static_cast<size_t>(std::min(kChunk, n - begin)));
  }
}

// parallel_copy with non-temporal stores (see QuantizeBenchResult); n a multiple of 4, in and out
// 16-byte aligned (std::vector<float> of 2^k >= 2^10 elements).
void parallel_copy_non_temporal(const float* in, float* out, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
  constexpr int64_t kChunk = 1 << 16;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; i += 4) _mm_stream_ps(out + i, _mm_load_ps(in + i));
  }
  _mm_sfence();
#else
  parallel_copy(in, out, n);
#endif
}

}  // namespace

// THE EXTENSION POINT: one entry per source timed with stochastic rounding. `in` is the tensor
// being quantized (for taps that read it).
//
// Generators and the harvester produce their words on the fly, chunk by chunk inside
// quantize_with_source (each call: up to 2048 words, generated into an L1-resident buffer and then
// consumed). philox is counter based, so its words depend only on the element index (philox_fill).
// The rows named after a sequential generator run one stream per thread (site = thread number), each
// filling the chunks its thread is handed in order, as a per-thread generator in hardware would; their
// word values depend on the partition, which a throughput measurement does not care about. The
// `take:G` rows are what training's sites pay: one stream of G whose words any thread gets by index
// (RandomSource::take: xoshiro128pp's one lane in blocks, the lfsr bank jumping by matrix powers).
// The harvester reads a second tensor of the same size (an aligned tap, bits 0-15 of each FP32
// pattern: `harvest`), or — `harvest:self` — the
// chunk being rounded itself, paired with the element half a chunk away (self pairing per chunk).
// `harvest-fused` is the library's fused path: harvest::harvest_fill over the same aligned tap (words
// [first, first + count) of the whole site, resolved once); `harvest-fused:self` is harvest_fill on
// the tensor being rounded with the whole-tensor self pairing (element i reads i + n/2 mod n, a
// second stream through memory, independent of the partition). `harvest-materialized` writes the
// aligned tap's words for the whole tensor with harvest_words (all threads) and then quantizes with
// them: the unfused baseline the fused path replaces. `harvest-fused-sum` is the training default's
// shape: harvest::harvest_fill_sum over two aligned taps of the tensor's size (the tap above and a
// second one), bits 0-15 of each XORed, then the field mix on 16 bits once per word.
std::vector<QuantizeBenchSource> quantize_bench_sources(std::span<const float> in) {
  std::vector<QuantizeBenchSource> sources;
  sources.push_back({"given", true, [](int64_t first, std::span<uint32_t> words) {
                       std::mt19937 rng(static_cast<uint32_t>(first) ^ 0x5EEDu);
                       for (auto& w : words) w = rng();
                     }});
  constexpr uint64_t kSeed = 2024;
  sources.push_back({"philox", false, [](int64_t first, std::span<uint32_t> words) {
                       random::philox_fill(kSeed, 0, static_cast<uint64_t>(first), words);
                     }});
  for (const char* spec : {"xoshiro128pp", "xoshiro128pp:16", "xorshift32", "xorshift32:16", "mt19937", "lfsr:32",
                           "lfsr:32:1"}) {
    auto gens = std::make_shared<std::vector<std::unique_ptr<random::RandomSource>>>();
    for (int t = 0; t < omp_get_max_threads(); ++t) gens->push_back(random::make_generator(spec, kSeed, static_cast<uint64_t>(t)));
    sources.push_back({spec, false, [gens](int64_t, std::span<uint32_t> words) {
                         (*gens)[static_cast<size_t>(omp_get_thread_num())]->fill(words);
                       }});
  }
  auto tap = std::make_shared<std::vector<float>>(in.size());
  auto tap2 = std::make_shared<std::vector<float>>(in.size());
  {
    std::mt19937_64 rng(7);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& x : *tap) x = normal(rng);
    for (auto& x : *tap2) x = normal(rng);
  }
  const harvest::Extractor low16;  // bits 0-15, no whitening, zeros kept
  harvest::Pairing aligned;
  aligned.kind = harvest::PairingKind::kAligned;
  const harvest::HarvestOptions one_thread{1};
  sources.push_back({"harvest", false, [=](int64_t first, std::span<uint32_t> words) {
                       const auto t = std::span<const float>(*tap).subspan(static_cast<size_t>(first), words.size());
                       harvest::harvest_words(t, low16, aligned, words, one_thread);
                     }});
  sources.push_back({"harvest:self", false, [=](int64_t first, std::span<uint32_t> words) {
                       const auto t = in.subspan(static_cast<size_t>(first), words.size());
                       harvest::harvest_words(t, low16, harvest::self_pairing(static_cast<int64_t>(words.size())),
                                              words, one_thread);
                     }});
  const auto m = static_cast<int64_t>(in.size());
  sources.push_back({"harvest-fused", false, harvest::harvest_fill(*tap, low16, aligned, m)});
  sources.push_back({"harvest-fused:self", false, harvest::harvest_fill(in, low16, harvest::self_pairing(m), m)});
  harvest::Extractor low16_field;
  low16_field.mix = harvest::Mix::kField;
  const std::vector<harvest::TapPairing> two_taps = {{*tap, aligned}, {*tap2, aligned}};
  auto fused_sum = harvest::harvest_fill_sum(two_taps, low16_field, m);
  // the fill keeps pointers to the taps' data: keep both vectors alive with it
  sources.push_back({"harvest-fused-sum", false, [fused_sum, tap, tap2](int64_t first, std::span<uint32_t> words) {
                       fused_sum(first, words);
                     }});
  // take:G — one generator's words by index, as training's sites take them (the rows above give each
  // thread its own stream, or philox_fill without a generator object).
  // With /8, each 32-bit word serves four roundings with stochastic:8 (timed for those cases only).
  for (const char* spec : {"philox", "xoshiro128pp", "lfsr:32", "philox/8", "xoshiro128pp/8", "lfsr:32/8"}) {
    std::shared_ptr<random::RandomSource> gen = random::make_generator(spec, kSeed, 0);
    QuantizeBenchSource taken{std::string("take:") + spec, false, {}, {}};
    taken.take = [gen, m] { return RandomFill(gen->take(m)); };
    taken.random_bits = random::generator_random_bits(spec);
    sources.push_back(taken);
  }
  QuantizeBenchSource materialized{"harvest-materialized", false, {}, {}};
  materialized.materialize = [=](std::span<uint32_t> words) { harvest::harvest_words(*tap, low16, aligned, words); };
  sources.push_back(materialized);
  return sources;
}

std::span<const QuantizeBenchCase> quantize_bench_cases() { return kCases; }

std::vector<float> quantize_bench_input(int log2_elements) {
  std::vector<float> in(size_t{1} << log2_elements);
  std::mt19937_64 rng(2024);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& x : in) x = normal(rng);
  return in;
}

namespace {

// Throws naming `what` and the allowed names unless every name in `wanted` is one of `allowed`.
void check_names(const std::vector<std::string>& wanted, const std::vector<std::string>& allowed, const char* what) {
  for (const std::string& name : wanted) {
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    throw Error(std::string(what) + " '" + name + "': unknown; allowed: " + list);
  }
}

bool wanted(const std::vector<std::string>& filter, const std::string& name) {
  return filter.empty() || std::find(filter.begin(), filter.end(), name) != filter.end();
}

}  // namespace

QuantizeBenchResult bench_quantize(int repeats, int log2_elements, const QuantizeBenchFilter& filter) {
  if (repeats < 1 || repeats > 1000) throw Error("--repeats " + std::to_string(repeats) + " is out of range; allowed 1..1000");
  if (log2_elements < 10 || log2_elements > 28) {
    throw Error("--log2-elements " + std::to_string(log2_elements) + " is out of range; allowed 10..28");
  }
  {
    std::vector<std::string> formats;
    for (const QuantizeBenchCase& c : kCases) {
      if (std::find(formats.begin(), formats.end(), c.format) == formats.end()) formats.emplace_back(c.format);
    }
    check_names(filter.formats, formats, "--format");
  }
  QuantizeBenchResult result;
  const int64_t n = int64_t{1} << log2_elements;
  result.elements = n;
  const std::vector<float> in = quantize_bench_input(log2_elements);
  std::vector<float> out(static_cast<size_t>(n));
  std::vector<uint32_t> words(static_cast<size_t>(n));

  const std::vector<QuantizeBenchSource> sources = quantize_bench_sources(in);
  {
    std::vector<std::string> names;
    for (const QuantizeBenchSource& src : sources) names.push_back(src.name);
    check_names(filter.sources, names, "--source");
  }

  result.copy_elems_per_s = static_cast<double>(n) / best_seconds(repeats, [&] { parallel_copy(in.data(), out.data(), n); });
  result.copy_non_temporal_elems_per_s =
      static_cast<double>(n) / best_seconds(repeats, [&] { parallel_copy_non_temporal(in.data(), out.data(), n); });

  std::vector<QuantizeBenchRun>& runs = result.runs;
  for (const QuantizeBenchCase& c : kCases) {
    if (!wanted(filter.formats, c.format)) continue;
    const Format format = Format::parse(c.format);
    const Rounding rounding = Rounding::parse(c.rounding);
    double nearest_rate = 0;
    for (const QuantizeBenchRun& r : runs) {
      if (r.format == c.format && r.rounding == "nearest-even") nearest_rate = r.elems_per_s;
    }
    if (!rounding.is_stochastic()) {
      const double s = best_seconds(repeats, [&] { quantize(in, out, format, rounding); });
      runs.push_back({c.format, c.rounding, "none", static_cast<double>(n) / s, 0});
      continue;
    }
    for (const QuantizeBenchSource& src : sources) {
      if (!c.every_source && !in_short_list(src.name)) continue;
      if (!wanted(filter.sources, src.name) || rounding.random_bits > src.random_bits) continue;
      double s = 0;
      if (src.take) {
        s = best_seconds(repeats, [&] { quantize_with_source(in, out, format, rounding, src.take()); });
      } else if (src.materialize) {
        s = best_seconds(repeats, [&] {
          src.materialize(words);
          quantize(in, out, format, rounding, words);
        });
      } else if (src.prefilled) {
        src.fill(0, words);
        s = best_seconds(repeats, [&] { quantize(in, out, format, rounding, words); });
      } else {
        s = best_seconds(repeats, [&] { quantize_with_source(in, out, format, rounding, src.fill); });
      }
      const double rate = static_cast<double>(n) / s;
      runs.push_back({c.format, c.rounding, src.name, rate, nearest_rate > 0 ? rate / nearest_rate : 0});
    }
  }
  return result;
}

}  // namespace rngfree::bench
