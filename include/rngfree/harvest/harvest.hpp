// The generator-free random source (DESIGN.md "Random sources", Yuan, Chang et al., ECCV 2022):
// random words for stochastic rounding harvested from the raw IEEE-754 bits of tensors that
// training computes anyway. A Tap names the tensor, an Extractor turns elements into bits, a
// Pairing maps tap elements to the words of a rounding site. Everything is a pure function of the
// tap's values, so results are identical for any thread count. docs/random.md has the examples.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rngfree/quantize.hpp"

namespace rngfree::harvest {

// ---- Taps: which tensor feeds a rounding site ------------------------------------------------

enum class TapKind {
  kInput,    // the network's input batch (no layer offset)
  kWeights,  // a layer's weights
  kAct,      // a layer's pre-quantization output (forward)
  kErr,      // a layer's pre-quantization error dL/d(output) (backward)
  kGrad,     // a layer's pre-quantization weight gradient (backward)
  kProb,     // the attention probabilities a layer multiplies: softmax of the masked scores, FP32,
             // before any rounding (forward; only the gpt's softmax·V layers h{i}.pv have it)
  kSelf,     // other elements of the tensor being rounded (no layer offset)
};

struct Tap {
  TapKind kind = TapKind::kAct;
  // from_last false: layer + layer_offset (0: this layer; -1: the previous one; +2: two after it).
  // from_last true: the network's last layer + layer_offset (layer_offset <= 0: "@last", "@last-1").
  int layer_offset = 0;
  bool from_last = false;

  // Parses "input", "self", "weights", "act", "err", "grad", "prob", each but input/self optionally
  // followed by "@K" with an integer |K| <= kMaxLayerOffset ("err@-1", "weights@+1", "act@+3") or
  // "@last" / "@last-K" (the network's last layer, K layers before it). Bad spec -> rngfree::Error.
  static Tap parse(std::string_view spec);
  static constexpr int kMaxLayerOffset = 1000;
  // Canonical spelling: "act", "err@-1", "weights@+1", "act@last-1" (offset 0 is not written).
  std::string name() const;
  bool operator==(const Tap&) const = default;
};

// ---- Extractor: FP32 element -> bits --------------------------------------------------------

enum class ZeroPolicy {
  kKeep,  // ±0 contribute field 0 (their bits are all zero: a word from zeros only is 0, and SR
          // with r = 0 always rounds toward zero — the bias docs/random.md quantifies)
  kSkip,  // exact zeros (±0) are removed from the tap before pairing (order kept)
};

// The mix applied to a word after folding (Extractor::mix). Mixing is a bijection: it adds no
// entropy; it spreads the bits it is given over the bits SR reads.
enum class Mix {
  kNone,      // "none": the folded field as it is
  kWhiten32,  // "whiten32": whiten_word on the whole 32-bit word (the first round of Wellons'
              // lowbias32). A bijection on 32 bits but NOT on the low R bits SR keeps (a 16-bit
              // field gives only 40,918 of the 65,536 low-16 values), and whiten_word(0) = 0. Kept
              // for old configs and the atlas; prefer kField.
  kField,     // "field": mix_field(word, width()) — a bijection on the field's width, 0 -> nonzero
};
// "none", "whiten32", "field" (bad spelling -> rngfree::Error naming the allowed values).
Mix parse_mix(std::string_view spec);
const char* mix_name(Mix mix);

struct Extractor {
  // The bit field lo..hi (inclusive, bit 0 = LSB of the raw FP32 pattern std::bit_cast<uint32_t>(x)),
  // 0 <= lo <= hi <= 31. field(x) = (bits(x) >> lo) & (2^(hi-lo+1) - 1): the field sits in the low
  // bits of the word. Default: the lowest 16 mantissa bits.
  int lo = 0;
  int hi = 15;
  // Mix applied to the word after folding (see Mix): kWhiten32 = whiten_word(w) on all 32 bits,
  // kField = mix_field(w, width()), whose output stays in the low width() bits.
  Mix mix = Mix::kNone;
  ZeroPolicy zeros = ZeroPolicy::kKeep;

  int width() const { return hi - lo + 1; }
  // Bits of fresh randomness one word supplies: width(). Mixing adds no entropy, so a field
  // narrower than SR's R supplies only width() bits even when whitened to 32 bits (a site with
  // stochastic:R needs random_bits() >= R).
  int random_bits() const { return width(); }
  // Parses the field "LO-HI" (e.g. "0-15"); rngfree::Error names the parameter and the range.
  static Extractor parse_bits(std::string_view bits);
  // Throws rngfree::Error unless 0 <= lo <= hi <= 31.
  void validate() const;
  std::string name() const;  // e.g. "bits 0-15, mix field, skip-zeros" (mix none is not written)
};

// The extracted field of one element (no mixing, no zero policy).
inline uint32_t extract_field(uint32_t bits, int lo, int hi) {
  const uint32_t mask = hi - lo == 31 ? 0xffffffffu : ((1u << (hi - lo + 1)) - 1u);
  return (bits >> lo) & mask;
}
// Mix::kWhiten32: w ^= w >> 16; w *= 0x7feb352d; w ^= w >> 15 (mod 2^32).
inline uint32_t whiten_word(uint32_t w) {
  w ^= w >> 16;
  w *= 0x7feb352du;
  w ^= w >> 15;
  return w;
}

// Mix::kField, all arithmetic modulo 2^width (width 1..32; input and output in the low width bits,
// higher input bits are ignored):
//   w ^= 0x9e3779b9 & mask;        an odd constant (the golden ratio's bits): 0 no longer maps to 0
//   w ^= w >> ceil(width/2);       bring the high half down
//   w  = (w * 0x7feb352d) & mask;  lowbias32's odd multiplier: spreads low bits upward
//   w ^= w >> max(1, floor(width/2))
// Each step is a bijection on width bits (XOR with a constant; an xorshift; multiplication by an
// odd number), so the whole is one: every r in [0, 2^width) occurs exactly once; mix_field(0) is
// the image of c0 != 0 under three bijections that each map 0 to 0, hence nonzero. Hardware: two
// shifts, three XORs, one width-bit multiply by a constant. For width 16, flipping one input bit
// flips 54% of the output bits on average and every output bit depends on every input bit
// (tests/harvest). mix_field(0, 16) = 0x26e6, mix_field(0xcccd, 16) = 0xe70a.
struct FieldMixConstants {
  int width;
  uint32_t mask, c0, c1;
  int s1, s2;
  uint32_t c1_inverse;  // c1·c1_inverse = 1 (mod 2^width), for unmix_field
  explicit constexpr FieldMixConstants(int bits)
      : width(bits),
        mask(width >= 32 ? 0xffffffffu : (1u << width) - 1u),
        c0(0x9e3779b9u & mask),
        c1(0x7feb352du & mask),
        s1((width + 1) / 2),
        s2(width / 2 < 1 ? 1 : width / 2),
        c1_inverse(inverse_mod_2_32(c1) & mask) {}
  // Newton's iteration for the inverse of an odd number modulo 2^32: x = c is right to 3 bits
  // (c·c = 1 mod 8), each step doubles them (6, 12, 24, 48).
  static constexpr uint32_t inverse_mod_2_32(uint32_t c) {
    uint32_t x = c;
    for (int i = 0; i < 4; ++i) x *= 2u - c * x;
    return x;
  }
};
[[gnu::always_inline]] inline uint32_t mix_field(uint32_t w, const FieldMixConstants& k) {
  w = (w ^ k.c0) & k.mask;
  w ^= w >> k.s1;
  w = (w * k.c1) & k.mask;
  w ^= w >> k.s2;
  return w;
}
inline uint32_t mix_field(uint32_t w, int width) { return mix_field(w, FieldMixConstants(width)); }

// The inverse of mix_field on the low width bits (for tests and analysis): unmix_field(mix_field(w,
// width), width) == w & mask for every w. The inverse of w ^= w >> s on width bits is
// (1 + S)^-1 = (1 + S)(1 + S^2)(1 + S^4)... over GF(2): w ^= w >> s; w ^= w >> 2s; ... (shifts < width).
[[gnu::always_inline]] inline uint32_t unmix_field(uint32_t w, const FieldMixConstants& k) {
  w &= k.mask;
  for (int sh = k.s2; sh < k.width; sh *= 2) w ^= w >> sh;
  w = (w * k.c1_inverse) & k.mask;
  for (int sh = k.s1; sh < k.width; sh *= 2) w ^= w >> sh;
  return (w ^ k.c0) & k.mask;
}
inline uint32_t unmix_field(uint32_t w, int width) { return unmix_field(w, FieldMixConstants(width)); }

// The word's mix as Extractor::mix says (width = the extractor's width()).
inline uint32_t apply_mix(uint32_t w, Mix mix, int width) {
  switch (mix) {
    case Mix::kNone: return w;
    case Mix::kWhiten32: return whiten_word(w);
    case Mix::kField: return mix_field(w, width);
  }
  return w;
}

// ---- Pairing: tap of n elements -> site of m words -----------------------------------------
// n is the tap size after the zero policy (the number of nonzero elements with kSkip).
// Word i (0 <= i < m) is the XOR of field(tap[j]) over a set S_i of tap indices, then mixed
// (Extractor::mix):
//   kAligned  n == m (else rngfree::Error):      S_i = {i}
//   kFolded   n >= m (else rngfree::Error), k = fold (0: floor(n/m); k·m <= n required):
//             S_i = {i, i+m, i+2m, ..., i+(k-1)m}  — k whole copies of the site laid end to end
//             (reads only the first k·m elements)
//   kSpread   n >= m (else rngfree::Error), k = fold (0: floor(n/m); k > floor(n/m) is an error),
//             block = floor(n/k), o = offset mod n:
//             S_i = {(o + i + j·block) mod n : j < k}  — k windows of m elements, one in each
//             block-sized stretch of the tap, all shifted by o. Successive calls with offsets
//             o = t·m mod P, P = spread_offset_period(n, m, k) = n - (k-1)·block, t = 0, 1, ...,
//             ceil(P/m) - 1 read every tap element at least once (docs/random.md); the k indices of
//             S_i are always distinct (0 < j·block < n for 0 < j < k).
//   kStrided  any n >= 1:                          S_i = {(offset + i·stride) mod n}
//             (n < m reuses tap elements: the word sequence repeats with period n/gcd(n, stride))
//   kAuto     kAligned if n == m, kFolded (fold 0) if n > m, kStrided (stride 1, offset 0) if n < m
// n == 0 (an empty tap, or only zeros skipped): S_i is empty, every word is mix(0) (0 for kNone and
// kWhiten32; mix_field(0, width) != 0 for kField). m == 0: nothing to do, no requirement checked.
enum class PairingKind { kAuto, kAligned, kFolded, kStrided, kSpread };

struct Pairing {
  PairingKind kind = PairingKind::kAuto;
  int64_t fold = 0;    // kFolded, kSpread: k (0: as many as fit, floor(n/m))
  int64_t stride = 1;  // kStrided: >= 1
  int64_t offset = 0;  // kStrided, kSpread: >= 0 (kSpread: any value, taken mod n)

  // "auto", "aligned", "folded[:K]" (K >= 1), "strided[:STRIDE[:OFFSET]]", "spread[:K[:OFFSET]]"
  // (K >= 0, 0 = floor(n/m); OFFSET >= 0); bad spec -> rngfree::Error.
  static Pairing parse(std::string_view spec);
  std::string name() const;  // parse(name()) == *this for the kind's fields
};

// For a `self` tap (the tensor being rounded is its own tap, n == m) element i must not use its own
// bits (they are the fraction SR rounds): strided, stride 1, offset floor(m/2) (offset 0 when m == 1).
Pairing self_pairing(int64_t m);

// kSpread for a tap of n elements and a site of m words, fold K (0: floor(n/m)): the resolved k
// and block = floor(n/k), and the offset period P = n - (k-1)·block = block + (n mod k). Sweeping
// the offset over t·m mod P (t = 0 .. ceil(P/m) - 1) reads every one of the n elements; sweeping
// it over t·m mod block (t = 0 .. ceil(block/m) - 1) reads every index < k·block, and of the
// n mod k (< k) remainder elements only those below k·block + ceil(block/m)·m - block.
// Throws rngfree::Error as harvest_words does (n < m, K > floor(n/m), m < 1).
struct SpreadShape {
  int64_t k, block, period;
};
SpreadShape spread_shape(int64_t n, int64_t m, int64_t fold = 0);

struct HarvestOptions {
  int threads = 0;  // 0: all threads (OpenMP default); small spans always run on one thread
};

// out[i] = word i of a rounding site of out.size() elements fed by `tap` (see Pairing). Fast path:
// a few integer operations per element, vectorized; multi-threaded above a size threshold.
void harvest_words(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing,
                   std::span<uint32_t> out, const HarvestOptions& options = {});

// Words [first, first + out.size()) of the m-word site that harvest_words(tap, ..., m words) fills,
// bit for bit, computed without the other words (one thread, vectorized; every pairing kind).
// Requires 0 <= first and first + out.size() <= m (RNGFREE_CHECK). ZeroPolicy::kSkip is not
// supported here (which elements survive depends on the whole tap: filter it once and pass the
// filtered tap with kKeep): rngfree::Error. Pairing errors as harvest_words.
void harvest_words_range(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing, int64_t m,
                         int64_t first, std::span<uint32_t> out);

// A RandomFill (include/rngfree/quantize.hpp) for quantize_with_source over a site of m elements:
// fill(first, words) = harvest_words_range(tap, extractor, pairing, m, first, words). The extractor
// and pairing are validated and resolved here (errors are thrown now, never inside the quantize
// threads); the returned function keeps the tap span (not a copy): the tap must outlive it.
// Thread-safe; the words depend only on their indices, so results match quantize() with the words
// of harvest_words for every thread count. ZeroPolicy::kSkip -> rngfree::Error, as above.
RandomFill harvest_fill(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing, int64_t m);

// The same words from the plain reference implementation (one element at a time, explicit index
// sets) — the spec that harvest_words is tested against.
std::vector<uint32_t> harvest_words_reference(std::span<const float> tap, const Extractor& extractor,
                                              const Pairing& pairing, int64_t m);

// ---- Sums of taps: one site fed by several taps -------------------------------------------------
// Word i of a site fed by taps T_1..T_t, each with its own pairing and the same extractor:
//   word_i = mix( XOR_t XOR_{j in S_t(i)} field(T_t[j]) )
// the fields of every tap's index set folded together, then mixed ONCE (Extractor::mix); with one tap
// it is harvest_words. Each tap's index sets are those of its pairing for (its n, the site's m).
struct TapPairing {
  std::span<const float> tap;
  Pairing pairing;
};

// out[i] = word i of the out.size()-word site fed by `taps` (at least one). Vectorized on the same
// SIMD target as harvest_words; threads split the site into fixed chunks (identical for any thread
// count). ZeroPolicy::kSkip -> rngfree::Error (filter each tap once and pass it with kKeep);
// pairing errors as harvest_words, for each tap.
void harvest_words_sum(std::span<const TapPairing> taps, const Extractor& extractor, std::span<uint32_t> out,
                       const HarvestOptions& options = {});

// Words [first, first + out.size()) of the m-word site that harvest_words_sum fills, bit for bit,
// without the other words (one thread). Requires 0 <= first, first + out.size() <= m (RNGFREE_CHECK).
void harvest_words_sum_range(std::span<const TapPairing> taps, const Extractor& extractor, int64_t m, int64_t first,
                             std::span<uint32_t> out);

// A RandomFill for quantize_with_source over a site of m elements: fill(first, words) =
// harvest_words_sum_range(taps, extractor, m, first, words). Validated and resolved now (errors are
// thrown here, never in the quantize threads); the function keeps a copy of the TapPairing list but
// not of the tap data: every tap must outlive it. Thread-safe.
RandomFill harvest_fill_sum(std::span<const TapPairing> taps, const Extractor& extractor, int64_t m);

// The plain twin: the XOR over taps of harvest_words_reference(tap, extractor without mix, pairing, m),
// then apply_mix — the spec harvest_words_sum is tested against.
std::vector<uint32_t> harvest_words_sum_reference(std::span<const TapPairing> taps, const Extractor& extractor,
                                                  int64_t m);

// A bit stream for offline study (NIST SP 800-22). With fold k >= 1, the (zero-policy-filtered)
// tap of n elements feeds m = floor(n/k) words by the folded pairing (k = 1: every element once);
// each word contributes its low width() bits (after the mix, if any), most significant first;
// the bits are packed MSB-first into bytes, the last byte padded with zero bits.
struct BitStream {
  std::vector<uint8_t> bytes;
  int64_t bits = 0;  // number of valid bits (<= 8·bytes.size())
};
BitStream harvest_bits(std::span<const float> tap, const Extractor& extractor, int64_t fold = 1,
                       const HarvestOptions& options = {});

}  // namespace rngfree::harvest
