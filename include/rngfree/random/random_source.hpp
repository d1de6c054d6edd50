// RandomSource: fills spans of 32-bit words for stochastic rounding (DESIGN.md "Random sources").
// The generator baselines (lfsr:W, xorshift32, xoshiro128pp, philox, mt19937) are seeded exactly as
// docs/random.md defines (issue 3), give every rounding site its own stream, and produce the same
// words for any thread count. save_state/load_state make a checkpointed run continue bit-identically.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rngfree::random {

// A stream of 32-bit words for one rounding site. fill() writes the next out.size() words of the
// stream: calling fill(a) then fill(b) gives the same words as one fill of a.size()+b.size().
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // The spec that make_generator() accepts to rebuild this generator, e.g. "philox", "lfsr:32:16".
  virtual std::string name() const = 0;
  // Next out.size() words of this site's stream; deterministic, identical for any thread count.
  virtual void fill(std::span<uint32_t> out) = 0;
  // Opaque printable text (ASCII, no newlines) holding the whole state: after
  // load_state(save_state()) the stream continues bit-identically. load_state throws
  // rngfree::Error when the text is not a state of this generator (name and layout checked).
  virtual std::string save_state() const = 0;
  virtual void load_state(std::string_view state) = 0;
  virtual std::unique_ptr<RandomSource> clone() const = 0;
  // Words as a function of their index, for a generator that has one: philox (counter based),
  // xoshiro128pp with one lane and lfsr:W with any lanes (by jumping ahead: xoshiro128_advance,
  // lfsr_advance). take(n) returns a thread-safe function whose call (first, out) writes words
  // [first, first + out.size()) of the stream's next n words — in any order, as often as asked —
  // and advances the stream past those n words: the words fill() would have given, without writing
  // them all first (a RandomFill for quantize_with_source). Empty, with the stream unchanged, for a generator whose words only
  // follow one another (mt19937, xorshift32, banks of xoshiro128pp or xorshift32 lanes).
  using IndexedWords = std::function<void(int64_t first, std::span<uint32_t> out)>;
  virtual IndexedWords take(int64_t /*n*/) { return {}; }
};

// Generator specs (docs/random.md has the exact definitions):
//   "philox"                   Philox4x32-10, counter based (site = high 64 bits of the counter)
//   "mt19937"                  std::mt19937(seed) for site 0
//   "xoshiro128pp[:L]"         xoshiro128++; L interleaved lanes (1..64, default 1), lane j = lane 0
//                              jumped j·2^64 steps; word i comes from lane i mod L
//   "xorshift32[:L]"           xorshift32 (13,17,5); L lanes (1..64, default 1) seeded from SplitMix64
//   "lfsr:W[:L]"               maximal-length Galois LFSR of W bits (3..64), a bank of L lanes
//                              (1..64, default 16); word i = low 32 bits of lane (i mod L)'s state
//                              after one more step
//   "GEN/R"                    any of the above whose words carry 32 random bits, split: each word
//                              of GEN gives 32/R words of R bits (R = 1, 2, 4, 8, 16), lowest first:
//                              word i = (g[i / k] >> (R·(i mod k))) & (2^R - 1), k = 32/R
// With L = 1 (and for site 0) the stream is exactly the issue's single-stream definition.
// Bad spec (unknown name, out-of-range W or L) -> rngfree::Error naming the allowed values.
std::unique_ptr<RandomSource> make_generator(std::string_view spec, uint64_t seed, uint64_t site = 0);

// Philox is counter based: words [position, position + out.size()) of site `site`'s stream, without
// state — exactly what make_generator("philox", seed, site) gives after `position` words. Thread-safe;
// suited to quantize_with_source (words depend only on their index).
void philox_fill(uint64_t seed, uint64_t site, uint64_t position, std::span<uint32_t> out);

// Bits of fresh randomness per 32-bit word that the generator spec gives (what a rounding site with
// stochastic:R compares against R): lfsr:W -> min(W, 32) — a word is the low 32 bits of a W-bit
// state, so for W < 32 its top 32 - W bits are always 0 (and successive words of one lane are
// shifts of each other: the count is an upper bound on fresh bits, docs/random.md); philox,
// mt19937, xoshiro128pp[:L], xorshift32[:L] -> 32 (full 32-bit outputs); GEN/R -> R. Lanes do not
// change it.
// Bad spec -> rngfree::Error, as make_generator.
int generator_random_bits(std::string_view spec);

// The generator names for help texts: "philox", "mt19937", "xoshiro128pp[:L]", ...
std::vector<std::string> generator_specs();

// Seed of rounding site `site` for the seeded (non-counter) generators: seed itself for site 0,
// otherwise splitmix64_mix(splitmix64_mix(site) ^ seed) — injective in site for a fixed seed.
uint64_t site_seed(uint64_t seed, uint64_t site);

// SplitMix64 (Steele, Lea, Flood 2014; Vigna's reference splitmix64.c): state += 0x9e3779b97f4a7c15,
// output = mix(state). Used for seeding only.
struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t seed) : state(seed) {}
  uint64_t next();
};
uint64_t splitmix64_mix(uint64_t z);  // the output function of SplitMix64 (a bijection)

// The lane-0 sequence that `rngfree random` prints for a single site: the first count words of the
// stream with one lane (for lfsr:W: the successive W-bit states of lane 0, as 64-bit values).
std::vector<uint64_t> reference_sequence(std::string_view spec, uint64_t seed, int64_t count);

// LFSR taps: the Galois feedback mask of the maximal-length polynomial used for lfsr:W
// (bit k-1 set for each tap k of the published tap list). W in 3..64, else rngfree::Error.
uint64_t lfsr_galois_mask(int width);
// One step of a W-bit Galois LFSR (right shift; feedback mask applied when the output bit is 1).
inline uint64_t lfsr_step(uint64_t state, uint64_t mask) {
  return (state >> 1) ^ ((0 - (state & 1)) & mask);
}
// The state of lfsr:W n steps ahead, by GF(2) matrix powers (the step is linear: bit 0 goes to the
// mask, bit j to bit j - 1), so that a bank's words can be given by index (RandomSource::take).
uint64_t lfsr_advance(uint64_t state, int width, uint64_t n);

// One Philox4x32-10 block (scalar reference; Random123's philox4x32_R(10, ctr, key)).
std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// xoshiro128's jump(): the state 2^64 steps ahead (Blackman & Vigna's reference code).
std::array<uint32_t, 4> xoshiro128_jump(std::array<uint32_t, 4> state);
// xoshiro128's state n steps ahead, by GF(2) matrix powers (xoshiro128_advance(s, 2^63) twice is
// xoshiro128_jump(s)).
std::array<uint32_t, 4> xoshiro128_advance(std::array<uint32_t, 4> state, uint64_t n);

}  // namespace rngfree::random
