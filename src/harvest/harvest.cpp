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
#include "rngfree/simd.hpp"

namespace rngfree::harvest {

// ---- Specs ---------------------------------------------------------------------------------------
namespace {
const char* kTapAllowed =
    "allowed: input, self, or weights, act, err, grad, prob optionally followed by @K (a layer offset, "
    "|K| <= 1000) or @last / @last-K (the network's last layer, K layers before it) "
    "(e.g. act, err@-1, weights@+1, act@last-1)";

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
  else if (kind == "prob") t.kind = TapKind::kProb;
  else throw Error(fmt::format("tap '{}': unknown tensor '{}'; {}", spec, kind, kTapAllowed));
  if (at != std::string_view::npos) {
    if (t.kind == TapKind::kInput || t.kind == TapKind::kSelf) {
      throw Error(fmt::format("tap '{}': {} takes no layer offset; {}", spec, kind, kTapAllowed));
    }
    std::string_view where = spec.substr(at + 1);
    if (where.substr(0, 4) == "last") {
      t.from_last = true;
      where.remove_prefix(4);
      if (where.empty()) return t;
      if (where[0] != '-') {
        throw Error(fmt::format("tap '{}': after @last only -K may follow; {}", spec, kTapAllowed));
      }
    }
    int64_t off = 0;
    if (!parse_i64(where, off) || off < -Tap::kMaxLayerOffset || off > Tap::kMaxLayerOffset ||
        (t.from_last && off > 0)) {
      throw Error(fmt::format("tap '{}': layer offset '{}' is not an integer in [-{}, {}]; {}", spec,
                              spec.substr(at + 1), Tap::kMaxLayerOffset, Tap::kMaxLayerOffset, kTapAllowed));
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
    case TapKind::kProb: k = "prob"; break;
  }
  if (from_last) return layer_offset == 0 ? fmt::format("{}@last", k) : fmt::format("{}@last{:d}", k, layer_offset);
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
  if (mix != Mix::kNone) s += fmt::format(", mix {}", mix_name(mix));
  s += zeros == ZeroPolicy::kSkip ? ", skip-zeros" : ", keep-zeros";
  return s;
}

Mix parse_mix(std::string_view spec) {
  if (spec == "none") return Mix::kNone;
  if (spec == "whiten32") return Mix::kWhiten32;
  if (spec == "field") return Mix::kField;
  throw Error(fmt::format("mix '{}': unknown; allowed: none, whiten32 (lowbias32's first round on the whole 32-bit "
                          "word), field (a bijection on the field's width)",
                          spec));
}

const char* mix_name(Mix mix) {
  switch (mix) {
    case Mix::kNone: return "none";
    case Mix::kWhiten32: return "whiten32";
    case Mix::kField: return "field";
  }
  return "none";
}

Pairing Pairing::parse(std::string_view spec) {
  const char* allowed =
      "allowed: auto, aligned, folded[:K] (K >= 1), strided[:STRIDE[:OFFSET]] (STRIDE >= 1, OFFSET >= 0), "
      "spread[:K[:OFFSET]] (K >= 0, 0 = floor(n/m); OFFSET >= 0)";
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
  } else if (head == "spread" && parts.size() <= 3) {
    p.kind = PairingKind::kSpread;
    if (parts.size() >= 2) p.fold = number(parts[1], "K", 0);
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
    case PairingKind::kSpread:
      if (offset != 0) return fmt::format("spread:{}:{}", fold, offset);
      return fold == 0 ? "spread" : fmt::format("spread:{}", fold);
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

SpreadShape spread_shape(int64_t n, int64_t m, int64_t fold) {
  if (m < 1) throw Error(fmt::format("pairing 'spread': the site has m = {} words; need m >= 1", m));
  if (fold < 0) throw Error(fmt::format("pairing 'spread': K = {} must be >= 0 (0: floor(n/m))", fold));
  if (n < m) {
    throw Error(fmt::format("pairing 'spread': the tap has n = {} elements (after the zero policy) and the site m = {}; "
                            "spread needs n >= m (use strided or auto to reuse elements)",
                            n, m));
  }
  const int64_t most = n / m;
  if (fold > most) {
    throw Error(fmt::format("pairing 'spread:{}': K = {} exceeds floor(n/m) = floor({}/{}) = {} (n = tap elements "
                            "after the zero policy, m = site words); use K <= {} or 0",
                            fold, fold, n, m, most, most));
  }
  const int64_t k = fold == 0 ? most : fold;
  const int64_t block = n / k;
  return {k, block, n - (k - 1) * block};
}

// ---- Resolution of a pairing for given n, m ------------------------------------------------------
namespace {

// Every pairing becomes one of two index maps:
//   kSpread   S_i = {(start + i + j·block) mod n : j < k}  (aligned: k = 1, start 0; folded: block = m,
//             start 0; spread; strided with stride 1 mod n: k = 1, start = offset mod n)
//   kStrided  S_i = {(offset + i·stride) mod n}            (any other stride)
// n == 0 resolves to kSpread with k = 0 (every S_i empty).
struct Resolved {
  PairingKind kind = PairingKind::kSpread;
  int64_t k = 1, block = 0, start = 0;  // kSpread
  int64_t stride = 1, offset = 0;       // kStrided
};

int64_t mod_n(int64_t v, int64_t n) { return static_cast<int64_t>(static_cast<uint64_t>(v) % static_cast<uint64_t>(n)); }

Resolved windows(int64_t k, int64_t block, int64_t start) {
  Resolved r;
  r.k = k;
  r.block = block;
  r.start = start;
  return r;
}

Resolved resolve(const Pairing& p, int64_t n, int64_t m) {
  PairingKind kind = p.kind;
  if (kind == PairingKind::kAuto) {
    kind = n == m ? PairingKind::kAligned : n > m ? PairingKind::kFolded : PairingKind::kStrided;
    if (m == 0) return windows(0, 0, 0);
    if (kind == PairingKind::kAligned) return windows(n == 0 ? 0 : 1, 0, 0);
    if (kind == PairingKind::kFolded) return windows(n / m, m, 0);
    return n == 0 ? windows(0, 0, 0) : windows(1, 0, 0);  // strided 1, 0: index i mod n
  }
  switch (kind) {
    case PairingKind::kAligned:
      if (n != m) {
        throw Error(fmt::format("pairing 'aligned': the tap has n = {} elements (after the zero policy) and the site "
                                "m = {}; aligned needs n == m (use auto, folded, spread or strided)",
                                n, m));
      }
      return windows(n == 0 ? 0 : 1, 0, 0);
    case PairingKind::kFolded: {
      if (p.fold < 0) throw Error(fmt::format("pairing 'folded': K = {} must be >= 1 (0: as many as fit)", p.fold));
      if (m == 0) return windows(0, 0, 0);
      const int64_t k = p.fold == 0 ? n / m : p.fold;
      if (k < 1 || k > n / m) {
        throw Error(fmt::format("pairing '{}': K·m = {}·{} exceeds the tap's n = {} elements (after the zero policy)",
                                p.name(), k == 0 ? 1 : k, m, n));
      }
      return windows(k, m, 0);
    }
    case PairingKind::kSpread: {
      if (p.offset < 0) throw Error(fmt::format("pairing '{}': OFFSET must be >= 0", p.name()));
      if (m == 0) return windows(0, 0, 0);
      const SpreadShape s = spread_shape(n, m, p.fold);
      return windows(s.k, s.block, mod_n(p.offset, n));
    }
    case PairingKind::kStrided: {
      if (p.stride < 1 || p.offset < 0) {
        throw Error(fmt::format("pairing '{}': STRIDE must be >= 1 and OFFSET >= 0", p.name()));
      }
      if (n == 0 || m == 0) return windows(0, 0, 0);
      if (mod_n(p.stride, n) == 1 % n) return windows(1, 0, mod_n(p.offset, n));  // contiguous, wrapping at n
      Resolved r;
      r.kind = PairingKind::kStrided;
      r.stride = mod_n(p.stride, n);
      r.offset = mod_n(p.offset, n);
      return r;
    }
    case PairingKind::kAuto: break;
  }
  return windows(0, 0, 0);
}

// ---- Kernels ---------------------------------------------------------------------------------------
struct Field {
  int lo;
  uint32_t mask;
};

template <Mix kMix>
[[gnu::always_inline]] inline uint32_t finish(uint32_t w, const FieldMixConstants& c) {
  if constexpr (kMix == Mix::kWhiten32) return whiten_word(w);
  if constexpr (kMix == Mix::kField) return mix_field(w, c);
  return w;
}

// o[r] (op)= field(x[r]) for r < count: op is = (kAssign) or ^=. Contiguous: vectorizes.
template <bool kAssign>
[[gnu::always_inline]] inline void field_run(const float* x, Field f, uint32_t* o, int64_t count) {
  for (int64_t r = 0; r < count; ++r) {
    const uint32_t v = (std::bit_cast<uint32_t>(x[r]) >> f.lo) & f.mask;
    if constexpr (kAssign) {
      o[r] = v;
    } else {
      o[r] ^= v;
    }
  }
}

// o[r] (op)= field(x[(s + r) mod n]) for r < count, 0 <= s < n: contiguous runs wrapping at n (one
// run when no wrap; count > n only for a tap smaller than the site, reused).
template <bool kAssign>
[[gnu::always_inline]] inline void field_run_wrapping(const float* x, int64_t n, int64_t s, Field f, uint32_t* o,
                                                      int64_t count) {
  while (count > 0) {
    const int64_t run = std::min(count, n - s);
    field_run<kAssign>(x + s, f, o, run);
    o += run;
    count -= run;
    s = 0;
  }
}

// One pass over a group for kS contiguous streams (every tap a single window, wrapping at its n): the
// fields XORed and mixed in registers, o written once. s[t] < n[t] are the streams' positions of the
// first word; each segment ends where the first stream wraps.
template <Mix kMix, int kS>
[[gnu::always_inline]] inline void streams_t(const float* const* x, const int64_t* n, int64_t* s, Field f,
                                             const FieldMixConstants& c, uint32_t* o, int64_t count) {
  while (count > 0) {
    int64_t seg = count;
    for (int t = 0; t < kS; ++t) seg = std::min(seg, n[t] - s[t]);
    const float* p[kS];
    for (int t = 0; t < kS; ++t) p[t] = x[t] + s[t];
    for (int64_t r = 0; r < seg; ++r) {
      uint32_t v = 0;
      for (int t = 0; t < kS; ++t) v ^= (std::bit_cast<uint32_t>(p[t][r]) >> f.lo) & f.mask;
      o[r] = finish<kMix>(v, c);
    }
    for (int t = 0; t < kS; ++t) {
      s[t] += seg;
      if (s[t] == n[t]) s[t] = 0;
    }
    o += seg;
    count -= seg;
  }
}

// Words i in [i0, i1) of the window map, written to o[i - i0] (kXor: XORed into it): the XOR over
// j < k of the fields of x[(start + i + j·block) mod n], in groups of 2048 words kept in L1 while the
// k windows are folded in, then mixed. k == 0 (empty tap): mix(0). kXor is used unmixed only (sums
// of taps mix once, after the last tap).
constexpr int64_t kGroup = 2048;
template <Mix kMix, bool kXor = false>
[[gnu::always_inline]] inline void windows_t(const float* x, int64_t n, const Resolved& r, Field f,
                                             const FieldMixConstants& c, uint32_t* o, int64_t i0, int64_t i1) {
  static_assert(!kXor || kMix == Mix::kNone);
  if (r.k == 0) {
    if constexpr (!kXor) std::fill(o, o + (i1 - i0), finish<kMix>(0u, c));
    return;
  }
  if constexpr (!kXor) {
    if (r.k == 1) {  // one window: field and mix in one pass
      int64_t s = mod_n(r.start + i0, n);
      return streams_t<kMix, 1>(&x, &n, &s, f, c, o, i1 - i0);
    }
  }
  for (int64_t b = i0; b < i1; b += kGroup) {
    const int64_t e = std::min(b + kGroup, i1);
    uint32_t* ob = o + (b - i0);
    for (int64_t j = 0; j < r.k; ++j) {
      const int64_t s = mod_n(r.start + b + j * r.block, n);  // start < n, j·block < n, b < m: no overflow
      if (j == 0 && !kXor) {
        field_run_wrapping<true>(x, n, s, f, ob, e - b);
      } else {
        field_run_wrapping<false>(x, n, s, f, ob, e - b);
      }
    }
    if constexpr (kMix != Mix::kNone) {
      for (int64_t i = 0; i < e - b; ++i) ob[i] = finish<kMix>(ob[i], c);
    }
  }
}

// Words i in [i0, i1) of the strided map, written to o[i - i0] (kXor: XORed into it): field of
// x[(offset + i·stride) mod n].
template <Mix kMix, bool kXor = false>
[[gnu::always_inline]] inline void strided_t(const float* x, int64_t n, const Resolved& r, Field f,
                                             const FieldMixConstants& c, uint32_t* o, int64_t i0, int64_t i1) {
  __extension__ using u128 = unsigned __int128;
  int64_t j = static_cast<int64_t>((static_cast<u128>(static_cast<uint64_t>(r.offset)) +
                                    static_cast<u128>(static_cast<uint64_t>(i0)) * static_cast<uint64_t>(r.stride)) %
                                   static_cast<uint64_t>(n));
  for (int64_t i = i0; i < i1; ++i) {
    const uint32_t v = finish<kMix>((std::bit_cast<uint32_t>(x[j]) >> f.lo) & f.mask, c);
    if constexpr (kXor) {
      o[i - i0] ^= v;
    } else {
      o[i - i0] = v;
    }
    j += r.stride;
    if (j >= n) j -= n;
  }
}

struct Job {
  const float* x;
  int64_t n;
  Resolved r;
  Field f;
  Mix mix;
  FieldMixConstants c;
};

template <Mix kMix, bool kXor = false>
[[gnu::always_inline]] inline void run_t(const Job& j, uint32_t* o, int64_t i0, int64_t i1) {
  if (j.r.kind == PairingKind::kStrided) {
    strided_t<kMix, kXor>(j.x, j.n, j.r, j.f, j.c, o, i0, i1);
  } else {
    windows_t<kMix, kXor>(j.x, j.n, j.r, j.f, j.c, o, i0, i1);
  }
}

constexpr int kMaxStreams = 4;  // sums of up to this many single-window taps take the one-pass path

// Sum of taps, words [i0, i1) into o[0 .. i1 - i0): per group of kGroup words (in L1), the first tap's
// unmixed words, each further tap's XORed in, then one mix pass. Every job has mix kNone; kMix is the
// site's.

template <Mix kMix>
[[gnu::always_inline]] inline void sum_t(std::span<const Job> jobs, const FieldMixConstants& c, uint32_t* o,
                                         int64_t i0, int64_t i1) {
  // Every tap one window (aligned, or a smaller tap read whole and wrapping: the default E sites):
  // one pass, words mixed in registers. Same words as the group loop below.
  bool single = jobs.size() <= static_cast<size_t>(kMaxStreams);
  for (const Job& j : jobs) single = single && j.r.kind != PairingKind::kStrided && j.r.k == 1;
  if (single && i1 > i0) {
    const float* x[kMaxStreams];
    int64_t n[kMaxStreams], s[kMaxStreams];
    for (size_t t = 0; t < jobs.size(); ++t) {
      x[t] = jobs[t].x;
      n[t] = jobs[t].n;
      s[t] = mod_n(jobs[t].r.start + i0, jobs[t].n);
    }
    const Field f = jobs[0].f;
    switch (jobs.size()) {
      case 1: return streams_t<kMix, 1>(x, n, s, f, c, o, i1 - i0);
      case 2: return streams_t<kMix, 2>(x, n, s, f, c, o, i1 - i0);
      case 3: return streams_t<kMix, 3>(x, n, s, f, c, o, i1 - i0);
      default: return streams_t<kMix, 4>(x, n, s, f, c, o, i1 - i0);
    }
  }
  for (int64_t b = i0; b < i1; b += kGroup) {
    const int64_t e = std::min(b + kGroup, i1);
    uint32_t* ob = o + (b - i0);
    run_t<Mix::kNone>(jobs[0], ob, b, e);
    for (size_t t = 1; t < jobs.size(); ++t) run_t<Mix::kNone, true>(jobs[t], ob, b, e);
    if constexpr (kMix != Mix::kNone) {
      for (int64_t i = 0; i < e - b; ++i) ob[i] = finish<kMix>(ob[i], c);
    }
  }
}

#define RNGFREE_HARVEST_DISPATCH_MIX(job, o, i0, i1)                   \
  switch ((job).mix) {                                                 \
    case Mix::kNone: return run_t<Mix::kNone>(job, o, i0, i1);         \
    case Mix::kWhiten32: return run_t<Mix::kWhiten32>(job, o, i0, i1); \
    case Mix::kField: return run_t<Mix::kField>(job, o, i0, i1);       \
  }

RNGFREE_TARGET_AVX512 void run_avx512(const Job& j, uint32_t* o, int64_t i0, int64_t i1) {
  RNGFREE_HARVEST_DISPATCH_MIX(j, o, i0, i1)
}
RNGFREE_TARGET_AVX2 void run_avx2(const Job& j, uint32_t* o, int64_t i0, int64_t i1) {
  RNGFREE_HARVEST_DISPATCH_MIX(j, o, i0, i1)
}
void run_portable(const Job& j, uint32_t* o, int64_t i0, int64_t i1) { RNGFREE_HARVEST_DISPATCH_MIX(j, o, i0, i1) }
#undef RNGFREE_HARVEST_DISPATCH_MIX

// The jobs of a sum of taps (each unmixed) and the site's mix.
struct SumJob {
  std::vector<Job> jobs;
  Mix mix;
  FieldMixConstants c;
};

#define RNGFREE_HARVEST_DISPATCH_SUM(sj, o, i0, i1)                            \
  switch ((sj).mix) {                                                          \
    case Mix::kNone: return sum_t<Mix::kNone>((sj).jobs, (sj).c, o, i0, i1);   \
    case Mix::kWhiten32: return sum_t<Mix::kWhiten32>((sj).jobs, (sj).c, o, i0, i1); \
    case Mix::kField: return sum_t<Mix::kField>((sj).jobs, (sj).c, o, i0, i1); \
  }

RNGFREE_TARGET_AVX512 void sum_avx512(const SumJob& j, uint32_t* o, int64_t i0, int64_t i1) {
  RNGFREE_HARVEST_DISPATCH_SUM(j, o, i0, i1)
}
RNGFREE_TARGET_AVX2 void sum_avx2(const SumJob& j, uint32_t* o, int64_t i0, int64_t i1) {
  RNGFREE_HARVEST_DISPATCH_SUM(j, o, i0, i1)
}
void sum_portable(const SumJob& j, uint32_t* o, int64_t i0, int64_t i1) { RNGFREE_HARVEST_DISPATCH_SUM(j, o, i0, i1) }
#undef RNGFREE_HARVEST_DISPATCH_SUM

// Words [i0, i1) of the site into o[0 .. i1 - i0), on the best SIMD level.
void run_range(const Job& j, uint32_t* o, int64_t i0, int64_t i1) {
  switch (rngfree::simd_level()) {
    case rngfree::SimdLevel::kAvx512: return run_avx512(j, o, i0, i1);
    case rngfree::SimdLevel::kAvx2: return run_avx2(j, o, i0, i1);
    default: return run_portable(j, o, i0, i1);
  }
}
void sum_range(const SumJob& j, uint32_t* o, int64_t i0, int64_t i1) {
  switch (rngfree::simd_level()) {
    case rngfree::SimdLevel::kAvx512: return sum_avx512(j, o, i0, i1);
    case rngfree::SimdLevel::kAvx2: return sum_avx2(j, o, i0, i1);
    default: return sum_portable(j, o, i0, i1);
  }
}

Job make_job(std::span<const float> tap, const Extractor& e, const Resolved& r) {
  return Job{tap.data(), static_cast<int64_t>(tap.size()), r,
             Field{e.lo, e.width() == 32 ? 0xffffffffu : (1u << e.width()) - 1u}, e.mix, FieldMixConstants(e.width())};
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

void refuse_skip(const Extractor& e, const char* what) {
  if (e.zeros == ZeroPolicy::kSkip) {
    throw Error(fmt::format("{}: zero policy 'skip' is not supported for fused (range) extraction: which elements "
                            "survive depends on the whole tap; filter the zeros once and pass the filtered tap with "
                            "zero policy 'keep', or use harvest_words",
                            what));
  }
}

// Validates the extractor and every tap's pairing for a site of m words; the resolved, unmixed jobs.
SumJob make_sum_job(std::span<const TapPairing> taps, const Extractor& e, int64_t m, const char* what) {
  e.validate();
  refuse_skip(e, what);
  if (taps.empty()) throw Error(fmt::format("{}: no taps; a sum needs at least one", what));
  Extractor unmixed = e;
  unmixed.mix = Mix::kNone;
  SumJob sj{{}, e.mix, FieldMixConstants(e.width())};
  sj.jobs.reserve(taps.size());
  for (const TapPairing& t : taps) {
    sj.jobs.push_back(make_job(t.tap, unmixed, resolve(t.pairing, static_cast<int64_t>(t.tap.size()), m)));
  }
  return sj;
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
  const Job job = make_job(tap, extractor, r);
  if (m >= kParallelWords && threads > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < m; c += kChunkWords) run_range(job, out.data() + c, c, std::min(m, c + kChunkWords));
  } else {
    run_range(job, out.data(), 0, m);
  }
}

void harvest_words_range(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing, int64_t m,
                         int64_t first, std::span<uint32_t> out) {
  extractor.validate();
  refuse_skip(extractor, "harvest_words_range");
  const auto count = static_cast<int64_t>(out.size());
  RNGFREE_CHECK(first >= 0 && m >= 0 && count <= m - first,
                fmt::format("harvest_words_range: words [{}, {}) are not inside the site of {} words", first,
                            first + count, m));
  const Resolved r = resolve(pairing, static_cast<int64_t>(tap.size()), m);
  if (count == 0) return;
  run_range(make_job(tap, extractor, r), out.data(), first, first + count);
}

RandomFill harvest_fill(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing, int64_t m) {
  extractor.validate();
  refuse_skip(extractor, "harvest_fill");
  RNGFREE_CHECK(m >= 0, fmt::format("harvest_fill: site of {} words", m));
  const Job job = make_job(tap, extractor, resolve(pairing, static_cast<int64_t>(tap.size()), m));
  return [job, m](int64_t first, std::span<uint32_t> words) {
    const auto count = static_cast<int64_t>(words.size());
    RNGFREE_CHECK(first >= 0 && count <= m - first,
                  fmt::format("harvest_fill: words [{}, {}) are not inside the site of {} words", first, first + count, m));
    if (count > 0) run_range(job, words.data(), first, first + count);
  };
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
  std::vector<uint32_t> out(static_cast<size_t>(m), 0u);
  // The index sets S_i exactly as the header writes them, from the pairing itself (not from the fast
  // path's resolution); the requirements are checked here too.
  PairingKind kind = pairing.kind;
  if (kind == PairingKind::kAuto) kind = n == m ? PairingKind::kAligned : n > m ? PairingKind::kFolded : PairingKind::kStrided;
  int64_t k = 1, block = 0, stride = 1, offset = 0;
  if (kind == PairingKind::kAligned && n != m) throw Error("pairing 'aligned': n != m");
  if (kind == PairingKind::kFolded && m > 0) {
    if (pairing.fold < 0) throw Error("pairing 'folded': K < 0");
    k = pairing.kind == PairingKind::kAuto || pairing.fold == 0 ? n / m : pairing.fold;
    if (k < 1 || k * m > n) throw Error("pairing 'folded': K·m > n");
  }
  if (kind == PairingKind::kSpread && m > 0) {
    if (n < m) throw Error("pairing 'spread': n < m");
    if (pairing.fold < 0 || pairing.fold > n / m || pairing.offset < 0) throw Error("pairing 'spread': bad K or OFFSET");
    k = pairing.fold == 0 ? n / m : pairing.fold;
    block = n / k;
    offset = pairing.offset % n;
  }
  if (kind == PairingKind::kStrided && pairing.kind == PairingKind::kStrided) {
    if (pairing.stride < 1 || pairing.offset < 0) throw Error("pairing 'strided': STRIDE < 1 or OFFSET < 0");
    stride = pairing.stride;
    offset = pairing.offset;
  }
  for (int64_t i = 0; i < m; ++i) {
    std::vector<int64_t> set;  // S_i as the header defines it
    if (n > 0) {
      __extension__ using u128 = unsigned __int128;
      if (kind == PairingKind::kAligned) set = {i};
      if (kind == PairingKind::kFolded) {
        for (int64_t t = 0; t < k; ++t) set.push_back(i + t * m);
      }
      if (kind == PairingKind::kSpread) {
        for (int64_t j = 0; j < k; ++j) set.push_back((offset + i + j * block) % n);
      }
      if (kind == PairingKind::kStrided) {
        set = {static_cast<int64_t>((static_cast<u128>(offset) + static_cast<u128>(i) * static_cast<u128>(stride)) %
                                    static_cast<u128>(n))};
      }
    }
    uint32_t w = 0;
    for (int64_t j : set) w ^= extract_field(std::bit_cast<uint32_t>(x[static_cast<size_t>(j)]), extractor.lo, extractor.hi);
    out[static_cast<size_t>(i)] = apply_mix(w, extractor.mix, extractor.width());
  }
  return out;
}

void harvest_words_sum(std::span<const TapPairing> taps, const Extractor& extractor, std::span<uint32_t> out,
                       const HarvestOptions& options) {
  const auto m = static_cast<int64_t>(out.size());
  const SumJob sj = make_sum_job(taps, extractor, m, "harvest_words_sum");
  if (m == 0) return;
  const int threads = thread_count(options);
  if (m >= kParallelWords && threads > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t c = 0; c < m; c += kChunkWords) sum_range(sj, out.data() + c, c, std::min(m, c + kChunkWords));
  } else {
    sum_range(sj, out.data(), 0, m);
  }
}

void harvest_words_sum_range(std::span<const TapPairing> taps, const Extractor& extractor, int64_t m, int64_t first,
                             std::span<uint32_t> out) {
  const auto count = static_cast<int64_t>(out.size());
  RNGFREE_CHECK(first >= 0 && m >= 0 && count <= m - first,
                fmt::format("harvest_words_sum_range: words [{}, {}) are not inside the site of {} words", first,
                            first + count, m));
  const SumJob sj = make_sum_job(taps, extractor, m, "harvest_words_sum_range");
  if (count > 0) sum_range(sj, out.data(), first, first + count);
}

RandomFill harvest_fill_sum(std::span<const TapPairing> taps, const Extractor& extractor, int64_t m) {
  RNGFREE_CHECK(m >= 0, fmt::format("harvest_fill_sum: site of {} words", m));
  // The resolved jobs are the copy of the tap list (pointers to the tap data, not the data).
  return [sj = make_sum_job(taps, extractor, m, "harvest_fill_sum"), m](int64_t first, std::span<uint32_t> words) {
    const auto count = static_cast<int64_t>(words.size());
    RNGFREE_CHECK(first >= 0 && count <= m - first,
                  fmt::format("harvest_fill_sum: words [{}, {}) are not inside the site of {} words", first,
                              first + count, m));
    if (count > 0) sum_range(sj, words.data(), first, first + count);
  };
}

std::vector<uint32_t> harvest_words_sum_reference(std::span<const TapPairing> taps, const Extractor& extractor,
                                                  int64_t m) {
  extractor.validate();
  refuse_skip(extractor, "harvest_words_sum_reference");
  if (taps.empty()) throw Error("harvest_words_sum_reference: no taps; a sum needs at least one");
  Extractor unmixed = extractor;
  unmixed.mix = Mix::kNone;
  std::vector<uint32_t> out(static_cast<size_t>(m), 0u);
  for (const TapPairing& t : taps) {
    const std::vector<uint32_t> w = harvest_words_reference(t.tap, unmixed, t.pairing, m);
    for (size_t i = 0; i < out.size(); ++i) out[i] ^= w[i];
  }
  for (auto& w : out) w = apply_mix(w, extractor.mix, extractor.width());
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
