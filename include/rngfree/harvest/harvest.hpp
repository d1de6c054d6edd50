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

namespace rngfree::harvest {

// ---- Taps: which tensor feeds a rounding site ------------------------------------------------

enum class TapKind {
  kInput,    // the network's input batch (no layer offset)
  kWeights,  // a layer's weights
  kAct,      // a layer's pre-quantization output (forward)
  kErr,      // a layer's pre-quantization error dL/d(output) (backward)
  kGrad,     // a layer's pre-quantization weight gradient (backward)
  kSelf,     // other elements of the tensor being rounded (no layer offset)
};

struct Tap {
  TapKind kind = TapKind::kAct;
  int layer_offset = 0;  // 0: this layer; -1: the previous layer; +1: the next one

  // Parses "input", "self", "weights", "act", "err", "grad", each but input/self optionally
  // followed by "@-1", "@0" or "@+1" ("err@-1", "weights@+1"). Bad spec -> rngfree::Error.
  static Tap parse(std::string_view spec);
  // Canonical spelling: "act", "err@-1", "weights@+1" (offset 0 is not written).
  std::string name() const;
  bool operator==(const Tap&) const = default;
};

// ---- Extractor: FP32 element -> bits --------------------------------------------------------

enum class ZeroPolicy {
  kKeep,  // ±0 contribute field 0 (their bits are all zero: a word from zeros only is 0, and SR
          // with r = 0 always rounds toward zero — the bias docs/random.md quantifies)
  kSkip,  // exact zeros (±0) are removed from the tap before pairing (order kept)
};

struct Extractor {
  // The bit field lo..hi (inclusive, bit 0 = LSB of the raw FP32 pattern std::bit_cast<uint32_t>(x)),
  // 0 <= lo <= hi <= 31. field(x) = (bits(x) >> lo) & (2^(hi-lo+1) - 1): the field sits in the low
  // bits of the word. Default: the lowest 16 mantissa bits.
  int lo = 0;
  int hi = 15;
  // Optional whitening, applied to the word after folding: w ^= w >> 16; w *= 0x7feb352d;
  // w ^= w >> 15 (the first round of Wellons' lowbias32). A bijection on 32-bit words: it adds no
  // entropy, it spreads the field's bits over the whole word (e.g. when the field is narrower than R).
  bool whiten = false;
  ZeroPolicy zeros = ZeroPolicy::kKeep;

  int width() const { return hi - lo + 1; }
  // Parses the field "LO-HI" (e.g. "0-15"); rngfree::Error names the parameter and the range.
  static Extractor parse_bits(std::string_view bits);
  // Throws rngfree::Error unless 0 <= lo <= hi <= 31.
  void validate() const;
  std::string name() const;  // e.g. "bits 0-15, whiten, skip-zeros"
};

// The extracted field of one element (no whitening, no zero policy).
inline uint32_t extract_field(uint32_t bits, int lo, int hi) {
  const uint32_t mask = hi - lo == 31 ? 0xffffffffu : ((1u << (hi - lo + 1)) - 1u);
  return (bits >> lo) & mask;
}
inline uint32_t whiten_word(uint32_t w) {
  w ^= w >> 16;
  w *= 0x7feb352du;
  w ^= w >> 15;
  return w;
}

// ---- Pairing: tap of n elements -> site of m words -----------------------------------------
// n is the tap size after the zero policy (the number of nonzero elements with kSkip).
// Word i (0 <= i < m) is the XOR of field(tap[j]) over a set S_i of tap indices, then whitened:
//   kAligned  n == m (else rngfree::Error):      S_i = {i}
//   kFolded   n >= m (else rngfree::Error), k = fold (0: floor(n/m); k·m <= n required):
//             S_i = {i, i+m, i+2m, ..., i+(k-1)m}  — k whole copies of the site laid end to end
//   kStrided  any n >= 1:                          S_i = {(offset + i·stride) mod n}
//             (n < m reuses tap elements: the word sequence repeats with period n/gcd(n, stride))
//   kAuto     kAligned if n == m, kFolded (fold 0) if n > m, kStrided (stride 1, offset 0) if n < m
// n == 0 (an empty tap, or only zeros skipped): every word is 0 (whitened: whiten_word(0) = 0).
enum class PairingKind { kAuto, kAligned, kFolded, kStrided };

struct Pairing {
  PairingKind kind = PairingKind::kAuto;
  int64_t fold = 0;    // kFolded: k (0: as many whole copies as fit, floor(n/m))
  int64_t stride = 1;  // kStrided: >= 1
  int64_t offset = 0;  // kStrided: >= 0

  // "auto", "aligned", "folded[:K]", "strided[:STRIDE[:OFFSET]]"; bad spec -> rngfree::Error.
  static Pairing parse(std::string_view spec);
  std::string name() const;
};

// For a `self` tap (the tensor being rounded is its own tap, n == m) element i must not use its own
// bits (they are the fraction SR rounds): strided, stride 1, offset floor(m/2) (offset 0 when m == 1).
Pairing self_pairing(int64_t m);

struct HarvestOptions {
  int threads = 0;  // 0: all threads (OpenMP default); small spans always run on one thread
};

// out[i] = word i of a rounding site of out.size() elements fed by `tap` (see Pairing). Fast path:
// a few integer operations per element, vectorized; multi-threaded above a size threshold.
void harvest_words(std::span<const float> tap, const Extractor& extractor, const Pairing& pairing,
                   std::span<uint32_t> out, const HarvestOptions& options = {});

// The same words from the plain reference implementation (one element at a time, explicit index
// sets) — the spec that harvest_words is tested against.
std::vector<uint32_t> harvest_words_reference(std::span<const float> tap, const Extractor& extractor,
                                              const Pairing& pairing, int64_t m);

// A bit stream for offline study (NIST SP 800-22). With fold k >= 1, the (zero-policy-filtered)
// tap of n elements feeds m = floor(n/k) words by the folded pairing (k = 1: every element once);
// each word contributes its low width() bits (after whitening, if on), most significant first;
// the bits are packed MSB-first into bytes, the last byte padded with zero bits.
struct BitStream {
  std::vector<uint8_t> bytes;
  int64_t bits = 0;  // number of valid bits (<= 8·bytes.size())
};
BitStream harvest_bits(std::span<const float> tap, const Extractor& extractor, int64_t fold = 1,
                       const HarvestOptions& options = {});

}  // namespace rngfree::harvest
