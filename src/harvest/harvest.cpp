// The generator-free source (include/rngfree/harvest/harvest.hpp): taps, extractors, pairings and
// the harvest kernels. The fast kernels are plain loops compiled for AVX-512, AVX2 and a portable
// baseline (run-time dispatch); every word is a pure function of the tap, so threads split the
// site into fixed chunks and the result never depends on the thread count.
#include "rngfree/harvest/harvest.hpp"

#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>

#include "rngfree/error.hpp"
#include "rngfree/random/simd.hpp"

namespace rngfree::harvest {

// ---- Specs ---------------------------------------------------------------------------------------
namespace {
const char* kTapAllowed =
    "allowed: input, self, or weights, act, err, grad optionally followed by @-1, @0 or @+1 "
    "(e.g. act, err@-1, weights@+1)";

bool parse_i64(std::string_view text, int64_t& v) {
  if (text.size() > 1 && text[0] == '+' && text[1] >= '0' && text[1] <= '9') text.remove_prefix(1);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}
}  // namespace

Tap Tap::parse(std::string_view spec) {
  const size_t at = spec.find('@');
  const std::string_view kind = spec.substr(0, at);
  Tap t;
  if (kind == "input") t.kind = TapKind::kInput;
  else if (kind == "self") t.kind = TapKind::kSelf;
  else if (kind == "weights") t.kind = TapKind::kWeights;
  else if (kind == "act") t.kind = TapKind::kAct;
  else if (kind == "err") t.kind = TapKind::kErr;
  else if (kind == "grad") t.kind = TapKind::kGrad;
  else throw Error(fmt::format("tap '{}': unknown tensor '{}'; {}", spec, kind, kTapAllowed));
  if (at != std::string_view::npos) {
    if (t.kind == TapKind::kInput || t.kind == TapKind::kSelf) {
      throw Error(fmt::format("tap '{}': {} takes no layer offset; {}", spec, kind, kTapAllowed));
    }
    int64_t off = 0;
    if (!parse_i64(spec.substr(at + 1), off) || off < -1 || off > 1) {
      throw Error(fmt::format("tap '{}': layer offset '{}' is not -1, 0 or +1; {}", spec, spec.substr(at + 1),
                              kTapAllowed));
    }
    t.layer_offset = static_cast<int>(off);
  }
  return t;
}

std::string Tap::name() const {
  const char* k = "act";
  switch (kind) {
    case TapKind::kInput: return "input";
    case TapKind::kSelf: return "self";
    case TapKind::kWeights: k = "weights"; break;
    case TapKind::kAct: k = "act"; break;
    case TapKind::kErr: k = "err"; break;
    case TapKind::kGrad: k = "grad"; break;
  }
  if (layer_offset == 0) return k;
  return fmt::format("{}@{:+d}", k, layer_offset);
}

void Extractor::validate() const {
  if (lo < 0 || hi > 31 || lo > hi) {
    throw Error(fmt::format("bit field {}-{}: need 0 <= LO <= HI <= 31 (bit 0 = least significant bit of the "
                            "FP32 pattern; the mantissa is bits 0-22)",
                            lo, hi));
  }
}

Extractor Extractor::parse_bits(std::string_view bits) {
  const size_t dash = bits.find('-');
  int64_t lo = -1, hi = -1;
  if (dash == std::string_view::npos || !parse_i64(bits.substr(0, dash), lo) || !parse_i64(bits.substr(dash + 1), hi)) {
    throw Error(fmt::format("--bits '{}': expected LO-HI with 0 <= LO <= HI <= 31, e.g. 0-15", bits));
  }
  if (lo < 0 || hi > 31 || lo > hi) {
    throw Error(fmt::format("--bits '{}': need 0 <= LO <= HI <= 31 (bit 0 = least significant bit of the FP32 "
                            "pattern; the mantissa is bits 0-22)",
                            bits));
  }
  Extractor e;
  e.lo = static_cast<int>(lo);
  e.hi = static_cast<int>(hi);
  return e;
}

std::string Extractor::name() const {
  std::string s = fmt::format("bits {}-{}", lo, hi);
  if (whiten) s += ", whiten";
  s += zeros == ZeroPolicy::kSkip ? ", skip-zeros" : ", keep-zeros";
  return s;
}

Pairing Pairing::parse(std::string_view spec) {
  const char* allowed = "allowed: auto, aligned, folded[:K] (K >= 1), strided[:STRIDE[:OFFSET]] (STRIDE >= 1, OFFSET >= 0)";
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t p = spec.find(':', start);
    parts.push_back(spec.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  Pairing p;
  auto number = [&](std::string_view text, const char* field, int64_t min) {
    int64_t v = 0;
    if (!parse_i64(text, v) || v < min) {
      throw Error(fmt::format("pairing '{}': {} = '{}' is not an integer >= {}; {}", spec, field, text, min, allowed));
    }
    return v;
  };
  const auto head = parts[0];
  if ((head == "auto" || head == "aligned") && parts.size() == 1) {
    p.kind = head == "auto" ? PairingKind::kAuto : PairingKind::kAligned;
  } else if (head == "folded" && parts.size() <= 2) {
    p.kind = PairingKind::kFolded;
    if (parts.size() == 2) p.fold = number(parts[1], "K", 1);
  } else if (head == "strided" && parts.size() <= 3) {
    p.kind = PairingKind::kStrided;
    if (parts.size() >= 2) p.stride = number(parts[1], "STRIDE", 1);
    if (parts.size() == 3) p.offset = number(parts[2], "OFFSET", 0);
  } else {
    throw Error(fmt::format("pairing '{}': unknown; {}", spec, allowed));
  }
  return p;
}

std::string Pairing::name() const {
  switch (kind) {
    case PairingKind::kAuto: return "auto";
    case PairingKind::kAligned: return "aligned";
    case PairingKind::kFolded: return fold == 0 ? "folded" : fmt::format("folded:{}", fold);
    case PairingKind::kStrided: return fmt::format("strided:{}:{}", stride, offset);
  }
  return "auto";
}

Pairing self_pairing(int64_t m) {
  Pairing p;
  p.kind = PairingKind::kStrided;
  p.stride = 1;
  p.offset = m / 2;
  return p;
}

// ---- Resolution of a pairing for given n, m ------------------------------------------------------
namespace {

struct Resolved {
  PairingKind kind;  // kAligned, kFolded or kStrided (kAligned also for n == 0: all words 0)
  int64_t fold = 1, stride = 1, offset = 0;
};

Resolved resolve(const Pairing& p, int64_t n, int64_t m) {
  Resolved r{PairingKind::kAligned};
  PairingKind kind = p.kind;
  if (kind == PairingKind::kAuto) {
    kind = n == m ? PairingKind::kAligned : n > m ? PairingKind::kFolded : PairingKind::kStrided;
    if (kind == PairingKind::kFolded) return {PairingKind::kFolded, m == 0 ? 1 : n / m, 1, 0};
    if (kind == PairingKind::kStrided) return {PairingKind::kStrided, 1, 1, 0};
    return r;
  }
  switch (kind) {
    case PairingKind::kAligned:
      if (n != m) {
        throw Error(fmt::format("pairing 'aligned': the tap has n = {} elements (after the zero policy) and the site "
                                "m = {}; aligned needs n == m (use auto, folded or strided)",
                                n, m));
      }
      return r;
    case PairingKind::kFolded: {
      if (p.fold < 0) throw Error(fmt::format("pairing 'folded': K = {} must be >= 1 (0: as many as fit)", p.fold));
      if (m == 0) return {PairingKind::kFolded, 1, 1, 0};
      const int64_t k = p.fold == 0 ? n / m : p.fold;
      if (k < 1 || k > n / m) {
        throw Error(fmt::format("pairing '{}': K·m = {}·{} exceeds the tap's n = {} elements (after the zero policy)",
                                p.name(), k == 0 ? 1 : k, m, n));
      }
      return {PairingKind::kFolded, k, 1, 0};
    }
    case PairingKind::kStrided:
      if (p.stride < 1 || p.offset < 0) {
        throw Error(fmt::format("pairing '{}': STRIDE must be >= 1 and OFFSET >= 0", p.name()));
      }
      return {PairingKind::kStrided, 1, p.stride, p.offset};
    case PairingKind::kAuto: break;
  }
  return r;
}

// ---- Kernels ---------------------------------------------------------------------------------------
struct Field {
  int lo;
  uint32_t mask;
};

template <bool kWhiten>
[[gnu::always_inline]] inline uint32_t finish(uint32_t w) {
  if constexpr (kWhiten) return whiten_word(w);
  return w;
}

// out[i] for i in [i0, i1): the XOR of the fields of x[i + t·m], t < k (k = 1: aligned).
template <bool kWhiten>
[[gnu::always_inline]] inline void folded_t(const float* x, int64_t m, int64_t k, Field f, uint32_t* out,
                                            int64_t i0, int64_t i1) {
  constexpr int64_t kBlock = 2048;  // words kept in L1 while the k copies are folded in
  for (int64_t b = i0; b < i1; b += kBlock) {
    const int64_t e = std::min(b + kBlock, i1);
    for (int64_t i = b; i < e; ++i) out[i] = (std::bit_cast<uint32_t>(x[i]) >> f.lo) & f.mask;
    for (int64_t t = 1; t < k; ++t) {
      const float* xt = x + t * m;
      for (int64_t i = b; i < e; ++i) out[i] ^= (std::bit_cast<uint32_t>(xt[i]) >> f.lo) & f.mask;
    }
    if constexpr (kWhiten) {
      for (int64_t i = b; i < e; ++i) out[i] = whiten_word(out[i]);
    }
  }
}

// out[i] for i in [i0, i1): field of x[(offset + i·stride) mod n].
template <bool kWhiten>
[[gnu::always_inline]] inline void strided_t(const float* x, int64_t n, int64_t stride, int64_t offset, Field f,
                                             uint32_t* out, int64_t i0, int64_t i1) {
  __extension__ using u128 = unsigned __int128;
  int64_t j = static_cast<int64_t>(
      (static_cast<u128>(static_cast<uint64_t>(offset)) + static_cast<u128>(static_cast<uint64_t>(i0)) * static_cast<uint64_t>(stride)) %
      static_cast<uint64_t>(n));
  const int64_t step = stride % n;
  if (step == 1) {  // contiguous runs, wrapping at n
    int64_t i = i0;
    while (i < i1) {
      const int64_t run = std::min(i1 - i, n - j);
      const float* xs = x + j;
      uint32_t* o = out + i;
      for (int64_t r = 0; r < run; ++r) o[r] = finish<kWhiten>((std::bit_cast<uint32_t>(xs[r]) >> f.lo) & f.mask);
      i += run;
      j = 0;
    }
    return;
  }
  for (int64_t i = i0; i < i1; ++i) {
    out[i] = finish<kWhiten>((std::bit_cast<uint32_t>(x[j]) >> f.lo) & f.mask);
    j += step;
    if (j >= n) j -= n;
  }
}

struct Job {
  const float* x;
  int64_t n, m;
  Resolved r;
  Field f;
  bool whiten;
  uint32_t* out;
};

template <bool kWhiten>
[[gnu::always_inline]] inline void run_t(const Job& j, int64_t i0, int64_t i1) {
  if (j.r.kind == PairingKind::kStrided) {
    strided_t<kWhiten>(j.x, j.n, j.r.stride, j.r.offset, j.f, j.out, i0, i1);
  } else {
    folded_t<kWhiten>(j.x, j.m, j.r.kind == PairingKind::kFolded ? j.r.fold : 1, j.f, j.out, i0, i1);
  }
}

RNGFREE_TARGET_AVX512 void run_avx512(const Job& j, int64_t i0, int64_t i1) {
  j.whiten ? run_t<true>(j, i0, i1) : run_t<false>(j, i0, i1);
}
RNGFREE_TARGET_AVX2 void run_avx2(const Job& j, int64_t i0, int64_t i1) {
  j.whiten ? run_t<true>(j, i0, i1) : run_t<false>(j, i0, i1);
}
void run_portable(const Job& j, int64_t i0, int64_t i1) { j.whiten ? run_t<true>(j, i0, i1) : run_t<false>(j, i0, i1); }

void run_range(const Job& j, int64_t i0, int64_t i1) {
  switch (random::simd_level()) {
    case random::SimdLevel::kAvx512: return run_avx512(j, i0, i1);
    case random::SimdLevel::kAvx2: return run_avx2(j, i0, i1);
    default: return run_portable(j, i0, i1);
  }
}

constexpr int64_t kParallelWords = int64_t{1} << 18;  // below this, threads cost more than they save
constexpr int64_t kChunkWords = int64_t{1} << 14;

int thread_count(const HarvestOptions& o) { return o.threads > 0 ? o.threads : omp_get_max_threads(); }

// The nonzero elements of x, in order (ZeroPolicy::kSkip). Fixed blocks: identical for any thread count.
std::vector<float> drop_zeros(std::span<const float> x, int threads) {
  const auto n = static_cast<int64_t>(x.size());
  constexpr int64_t kBlock = int64_t{1} << 16;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<int64_t> count(static_cast<size_t>(blocks) + 1, 0);
  const bool par = n >= kParallelWords && threads > 1 && !omp_in_parallel();
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
  for (int64_t b = 0; b < blocks; ++b) {
    int64_t c = 0;
    for (int64_t i = b * kBlock, e = std::min(n, i + kBlock); i < e; ++i) {
      c += (std::bit_cast<uint32_t>(x[static_cast<size_t>(i)]) & 0x7fffffffu) != 0;
    }
    count[static_cast<size_t>(b) + 1] = c;
  }
  for (int64_t b = 0; b < blocks; ++b) count[static_cast<size_t>(b) + 1] += count[static_cast<size_t>(b)];
  std::vector<float> out(static_cast<size_t>(count[static_cast<size_t>(blocks)]));
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
  for (int64_t b = 0; b < blocks; ++b) {
    float* o = out.data() + count[static_cast<size_t>(b)];
    int64_t c = 0;
    for (int64_t i = b * kBlock, e = std::min(n, i + kBlock); i < e; ++i) {
      const float v = x[static_cast<size_t>(i)];
      if ((std::bit_cast<uint32_t>(v) & 0x7fffffffu) != 0) o[c++] = v;
    }
  }
  return out;
}

}  // namespace

void harvest_words(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing,
                   std::span<uint32_t> out, const HarvestOptions& options) {
  extractor.validate();
  const int threads = thread_count(options);
  std::vector<float> kept;
  if (extractor.zeros == ZeroPolicy::kSkip) {
    kept = drop_zeros(tap, threads);
    tap = kept;
  }
  const auto n = static_cast<int64_t>(tap.size()), m = static_cast<int64_t>(out.size());
  const Resolved r = resolve(pairing, n, m);
  if (m == 0) return;
  if (n == 0) {  // nothing to harvest: every word is 0 (whiten_word(0) == 0)
    std::fill(out.begin(), out.end(), 0u);
    return;
  }
  const Field f{extractor.lo, extractor.width() == 32 ? 0xffffffffu : (1u << extractor.width()) - 1u};
  const Job job{tap.data(), n, m, r, f, extractor.whiten, out.data()};
  if (m >= kParallelWords && threads > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < m; c += kChunkWords) run_range(job, c, std::min(m, c + kChunkWords));
  } else {
    run_range(job, 0, m);
  }
}

std::vector<uint32_t> harvest_words_reference(std::span<const float> tap, const Extractor& extractor,
                                              const Pairing& pairing, int64_t m) {
  extractor.validate();
  std::vector<float> x;
  for (float v : tap) {
    const bool zero = v == 0.0f;  // ±0 (NaN compares unequal and is kept)
    if (!(extractor.zeros == ZeroPolicy::kSkip && zero)) x.push_back(v);
  }
  const auto n = static_cast<int64_t>(x.size());
  const Resolved r = resolve(pairing, n, m);
  std::vector<uint32_t> out(static_cast<size_t>(m), 0u);
  if (n == 0) return out;
  for (int64_t i = 0; i < m; ++i) {
    std::vector<int64_t> set;  // S_i as the header defines it
    if (r.kind == PairingKind::kAligned) set = {i};
    if (r.kind == PairingKind::kFolded) {
      for (int64_t t = 0; t < r.fold; ++t) set.push_back(i + t * m);
    }
    if (r.kind == PairingKind::kStrided) {
      __extension__ using u128 = unsigned __int128;
      set = {static_cast<int64_t>((static_cast<u128>(r.offset) + static_cast<u128>(i) * static_cast<u128>(r.stride)) %
                                  static_cast<u128>(n))};
    }
    uint32_t w = 0;
    for (int64_t j : set) w ^= extract_field(std::bit_cast<uint32_t>(x[static_cast<size_t>(j)]), extractor.lo, extractor.hi);
    out[static_cast<size_t>(i)] = extractor.whiten ? whiten_word(w) : w;
  }
  return out;
}

BitStream harvest_bits(std::span<const float> tap, const Extractor& extractor, int64_t fold,
                       const HarvestOptions& options) {
  extractor.validate();
  if (fold < 1) throw Error(fmt::format("--fold {}: must be >= 1", fold));
  const int threads = thread_count(options);
  std::vector<float> kept;
  if (extractor.zeros == ZeroPolicy::kSkip) {
    kept = drop_zeros(tap, threads);
    tap = kept;
  }
  const int64_t m = static_cast<int64_t>(tap.size()) / fold;
  std::vector<uint32_t> words(static_cast<size_t>(m));
  Extractor keep = extractor;
  keep.zeros = ZeroPolicy::kKeep;
  Pairing p;
  p.kind = PairingKind::kFolded;
  p.fold = fold;
  harvest_words(tap.first(static_cast<size_t>(m * fold)), keep, p, words, options);

  const int w = extractor.width();
  BitStream bs;
  bs.bits = m * w;
  bs.bytes.assign(static_cast<size_t>((bs.bits + 7) / 8), 0);
  // MSB-first packing through a 64-bit accumulator: each word's low w bits, bit w-1 first.
  uint64_t acc = 0;
  int have = 0;
  size_t pos = 0;
  const uint64_t mask = w == 32 ? 0xffffffffull : ((uint64_t{1} << w) - 1);
  for (uint32_t word : words) {
    acc = (acc << w) | (word & mask);
    have += w;
    while (have >= 8) {
      have -= 8;
      bs.bytes[pos++] = static_cast<uint8_t>(acc >> have);
    }
    acc &= (uint64_t{1} << have) - 1;  // have < 8
  }
  if (have > 0) bs.bytes[pos++] = static_cast<uint8_t>(acc << (8 - have));
  RNGFREE_CHECK(pos == bs.bytes.size(), "bit packing size mismatch");
  return bs;
}

}  // namespace rngfree::harvest
