// The generator baselines behind make_generator (include/rngfree/random/random_source.hpp), with the
// exact seeding of issue 3 / docs/random.md: Philox4x32-10 (Salmon et al., SC 2011), MT19937
// (Matsumoto & Nishimura 1998, = std::mt19937), xoshiro128++ (Blackman & Vigna 2018), xorshift32
// (Marsaglia 2003, shifts 13,17,5) and banks of maximal-length Galois LFSRs (taps: Xilinx XAPP052).
#include <fmt/core.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <vector>

#include "kernels.hpp"
#include "rngfree/error.hpp"
#include "rngfree/random/random_source.hpp"

namespace rngfree::random {

// ---- Seeding ------------------------------------------------------------------------------------
uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
uint64_t SplitMix64::next() {
  state += 0x9e3779b97f4a7c15ull;
  return splitmix64_mix(state);
}
uint64_t site_seed(uint64_t seed, uint64_t site) {
  return site == 0 ? seed : splitmix64_mix(splitmix64_mix(site) ^ seed);
}

// Maximal-length taps for W = 3..64 from Xilinx XAPP052 (Alfke 1996), table 3. Each list is the
// polynomial x^W + sum x^(t) ... as the app note writes it; the Galois mask sets bit t-1 for every
// tap t. tests/random verify that every polynomial is primitive (and the period exhaustively for W<=20).
uint64_t lfsr_galois_mask(int width) {
  static const std::vector<std::vector<int>> kTaps = {
      {3, 2},          {4, 3},          {5, 3},          {6, 5},          {7, 6},
      {8, 6, 5, 4},    {9, 5},          {10, 7},         {11, 9},         {12, 6, 4, 1},
      {13, 4, 3, 1},   {14, 5, 3, 1},   {15, 14},        {16, 15, 13, 4}, {17, 14},
      {18, 11},        {19, 6, 2, 1},   {20, 17},        {21, 19},        {22, 21},
      {23, 18},        {24, 23, 22, 17}, {25, 22},       {26, 6, 2, 1},   {27, 5, 2, 1},
      {28, 25},        {29, 27},        {30, 6, 4, 1},   {31, 28},        {32, 22, 2, 1},
      {33, 20},        {34, 27, 2, 1},  {35, 33},        {36, 25},        {37, 5, 4, 3, 2, 1},
      {38, 6, 5, 1},   {39, 35},        {40, 38, 21, 19}, {41, 38},       {42, 41, 20, 19},
      {43, 42, 38, 37}, {44, 43, 18, 17}, {45, 44, 42, 41}, {46, 45, 26, 25}, {47, 42},
      {48, 47, 21, 20}, {49, 40},       {50, 49, 24, 23}, {51, 50, 36, 35}, {52, 49},
      {53, 52, 38, 37}, {54, 53, 18, 17}, {55, 31},     {56, 55, 35, 34}, {57, 50},
      {58, 39},        {59, 58, 38, 37}, {60, 59},      {61, 60, 46, 45}, {62, 61, 6, 5},
      {63, 62},        {64, 63, 61, 60}};
  if (width < 3 || width > 64) {
    throw Error(fmt::format("lfsr width W = {}: allowed 3..64", width));
  }
  const auto& taps = kTaps[static_cast<size_t>(width - 3)];
  RNGFREE_CHECK(taps.front() == width, "LFSR tap table out of order");
  uint64_t mask = 0;
  for (int t : taps) mask |= uint64_t{1} << (t - 1);
  return mask;
}

namespace {

// ---- Specs --------------------------------------------------------------------------------------
enum class GenKind { kPhilox, kMt19937, kXoshiro, kXorshift, kLfsr };
struct GenSpec {
  GenKind kind;
  int width = 0;  // lfsr
  int lanes = 1;
};

const char* kAllowed =
    "allowed: philox, mt19937, xoshiro128pp[:L], xorshift32[:L], lfsr:W[:L] "
    "(W = 3..64; L = lanes, a power of two 1..64), each optionally followed by /R (R = 1, 2, 4, 8 or 16: "
    "32/R words of R random bits from each word; lfsr:W with W >= 32)";

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t p = s.find(sep, start);
    parts.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return parts;
}

int parse_int(std::string_view spec, std::string_view field, std::string_view text, int lo, int hi) {
  int v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || v < lo || v > hi) {
    throw Error(fmt::format("random source '{}': {} = '{}' is not an integer in {}..{}; {}", spec, field, text,
                            lo, hi, kAllowed));
  }
  return v;
}
int parse_lanes(std::string_view spec, std::string_view text) {
  const int lanes = parse_int(spec, "lanes L", text, 1, 64);
  if ((lanes & (lanes - 1)) != 0) {
    throw Error(fmt::format("random source '{}': lanes L = {} is not a power of two; {}", spec, lanes, kAllowed));
  }
  return lanes;
}

GenSpec parse_spec(std::string_view spec) {
  const auto parts = split(spec, ':');
  const std::string_view head = parts[0];
  GenSpec g{};
  if (head == "philox" || head == "mt19937") {
    if (parts.size() != 1) {
      throw Error(fmt::format("random source '{}': {} takes no parameters; {}", spec, head, kAllowed));
    }
    g.kind = head == "philox" ? GenKind::kPhilox : GenKind::kMt19937;
    return g;
  }
  if (head == "xoshiro128pp" || head == "xorshift32") {
    if (parts.size() > 2) throw Error(fmt::format("random source '{}': too many fields; {}", spec, kAllowed));
    g.kind = head == "xoshiro128pp" ? GenKind::kXoshiro : GenKind::kXorshift;
    g.lanes = parts.size() == 2 ? parse_lanes(spec, parts[1]) : 1;
    return g;
  }
  if (head == "lfsr") {
    if (parts.size() < 2 || parts.size() > 3) {
      throw Error(fmt::format("random source '{}': lfsr needs a width, lfsr:W[:L]; {}", spec, kAllowed));
    }
    g.kind = GenKind::kLfsr;
    g.width = parse_int(spec, "width W", parts[1], 3, 64);
    g.lanes = parts.size() == 3 ? parse_lanes(spec, parts[2]) : 16;
    return g;
  }
  throw Error(fmt::format("random source '{}': unknown generator; {}", spec, kAllowed));
}

// "GEN/R": the base generator's spec and R; bits 0 without "/R". Checks R and that every base word
// has 32 random bits (lfsr:W with W < 32 has fewer: its top bits would make words that are always 0).
struct PackedSpec {
  std::string_view base;
  int bits = 0;
};
int base_random_bits(const GenSpec& g) { return g.kind == GenKind::kLfsr ? std::min(g.width, 32) : 32; }
PackedSpec split_packed(std::string_view spec) {
  const size_t slash = spec.find('/');
  if (slash == std::string_view::npos) return {spec, 0};
  const std::string_view base = spec.substr(0, slash), r = spec.substr(slash + 1);
  const int bits = parse_int(spec, "bits R", r, 1, 16);
  if ((bits & (bits - 1)) != 0) {
    throw Error(fmt::format("random source '{}': bits R = {} does not divide 32; {}", spec, bits, kAllowed));
  }
  if (const int have = base_random_bits(parse_spec(base)); have != 32) {
    throw Error(fmt::format("random source '{}': /R splits 32-bit words, but '{}' gives {} random bits per word; {}",
                            spec, base, have, kAllowed));
  }
  return {base, bits};
}

// ---- State text: "<name> <hex> <hex> ..." ----------------------------------------------------------
std::string hex_tokens(const std::string& name, const std::vector<uint64_t>& v) {
  std::string s = name;
  for (uint64_t x : v) s += fmt::format(" {:x}", x);
  return s;
}
std::vector<uint64_t> parse_state(std::string_view state, const std::string& name, size_t count) {
  auto parts = split(state, ' ');
  if (parts.empty() || parts[0] != name || parts.size() != count + 1) {
    throw Error(fmt::format("random source state '{}': not a state of generator '{}' (expected '{}' and {} hex "
                            "numbers)",
                            state.substr(0, 60), name, name, count));
  }
  std::vector<uint64_t> v(count);
  for (size_t i = 0; i < count; ++i) {
    const auto t = parts[i + 1];
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v[i], 16);
    if (ec != std::errc() || ptr != t.data() + t.size()) {
      throw Error(fmt::format("random source state for '{}': field {} = '{}' is not a hex number", name, i + 1, t));
    }
  }
  return v;
}

// ---- Philox: counter-based, parallel fill ----------------------------------------------------------
}  // namespace

void philox_fill(uint64_t seed, uint64_t site, uint64_t pos, std::span<uint32_t> out) {
  const auto k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  size_t i = 0;
  const size_t n = out.size();
  if (pos % 4 != 0 && n > 0) {  // finish the current block
    uint32_t block[4];
    detail::philox_blocks(pos / 4, site, k0, k1, block, 1);
    for (uint64_t w = pos % 4; w < 4 && i < n; ++w) out[i++] = block[w];
  }
  const uint64_t first = (pos + i) / 4;
  const auto blocks = static_cast<int64_t>((n - i) / 4);
  constexpr int64_t kChunk = 4096;        // blocks per task: 64 KiB of words
  constexpr int64_t kParallel = 1 << 16;  // blocks (1 MiB of words) before threads pay off
  uint32_t* base = out.data() + i;
  if (blocks >= kParallel && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < blocks; c += kChunk) {
      detail::philox_blocks(first + static_cast<uint64_t>(c), site, k0, k1, base + 4 * c, std::min(kChunk, blocks - c));
    }
  } else if (blocks > 0) {
    detail::philox_blocks(first, site, k0, k1, base, blocks);
  }
  i += static_cast<size_t>(blocks) * 4;
  if (i < n) {
    uint32_t block[4];
    detail::philox_blocks((pos + i) / 4, site, k0, k1, block, 1);
    for (int w = 0; i < n; ++w) out[i++] = block[w];
  }
}

namespace {
class PhiloxSource final : public RandomSource {
 public:
  PhiloxSource(uint64_t seed, uint64_t site) : key_(seed), site_(site) {}
  std::string name() const override { return "philox"; }
  void fill(std::span<uint32_t> out) override {
    philox_fill(key_, site_, pos_, out);
    pos_ += out.size();
  }
  IndexedWords take(int64_t n) override {
    RNGFREE_CHECK(n >= 0, "take of a negative count");
    IndexedWords words = [key = key_, site = site_, pos = pos_](int64_t first, std::span<uint32_t> out) {
      philox_fill(key, site, pos + static_cast<uint64_t>(first), out);
    };
    pos_ += static_cast<uint64_t>(n);
    return words;
  }
  std::string save_state() const override { return hex_tokens(name(), {key_, site_, pos_}); }
  void load_state(std::string_view state) override {
    const auto v = parse_state(state, name(), 3);
    key_ = v[0], site_ = v[1], pos_ = v[2];
  }
  std::unique_ptr<RandomSource> clone() const override { return std::make_unique<PhiloxSource>(*this); }

 private:
  uint64_t key_, site_;
  uint64_t pos_ = 0;  // words of this site's stream already produced
};

// ---- MT19937 ------------------------------------------------------------------------------------------
class MtSource final : public RandomSource {
 public:
  MtSource(uint64_t seed, uint64_t site) {
    if (site == 0) {  // std::mt19937(seed): the seed is taken modulo 2^32
      mt_[0] = static_cast<uint32_t>(seed);
      for (uint32_t i = 1; i < kN; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + i;
    } else {  // std::mt19937(std::seed_seq{lo32, hi32}) of the site's seed ([rand.eng.mers] seed(q))
      const uint64_t s = site_seed(seed, site);
      std::seed_seq seq{static_cast<uint32_t>(s), static_cast<uint32_t>(s >> 32)};
      seq.generate(mt_.begin(), mt_.end());
      bool zero = (mt_[0] & 0x80000000u) == 0;
      for (uint32_t i = 1; i < kN && zero; ++i) zero = mt_[i] == 0;
      if (zero) mt_[0] = 0x80000000u;
    }
  }
  std::string name() const override { return "mt19937"; }
  void fill(std::span<uint32_t> out) override {
    size_t i = 0;
    const size_t n = out.size();
    while (idx_ < kN && i < n) out[i++] = out_[idx_++];
    while (n - i >= kN) {  // whole blocks straight into out
      detail::mt19937_block(mt_.data(), out.data() + i);
      i += kN;
    }
    if (i < n) {
      detail::mt19937_block(mt_.data(), out_.data());
      idx_ = 0;
      while (i < n) out[i++] = out_[idx_++];
    }
  }
  std::string save_state() const override {
    std::vector<uint64_t> v(mt_.begin(), mt_.end());
    v.push_back(idx_);
    return hex_tokens(name(), v);
  }
  void load_state(std::string_view state) override {
    const auto v = parse_state(state, name(), kN + 1);
    if (v[kN] > kN) throw Error(fmt::format("random source state for 'mt19937': index {} > 624", v[kN]));
    for (uint32_t i = 0; i < kN; ++i) mt_[i] = static_cast<uint32_t>(v[i]);
    idx_ = static_cast<uint32_t>(v[kN]);
    // out_ is the tempering of the current (twisted) state: recompute it.
    if (idx_ < kN) {
      for (uint32_t i = 0; i < kN; ++i) {
        uint32_t y = mt_[i];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9D2C5680u;
        y ^= (y << 15) & 0xEFC60000u;
        y ^= y >> 18;
        out_[i] = y;
      }
    }
  }
  std::unique_ptr<RandomSource> clone() const override { return std::make_unique<MtSource>(*this); }

 private:
  static constexpr uint32_t kN = 624;
  std::array<uint32_t, kN> mt_{};
  std::array<uint32_t, kN> out_{};  // tempered words of the current block
  uint32_t idx_ = kN;               // next unread word of out_ (kN: none left, twist next)
};

// ---- Banks of lanes: word i of the stream is lane (i mod L)'s word of row floor(i / L) ---------------
class BankSource : public RandomSource {
 public:
  explicit BankSource(int lanes) : lanes_(lanes), row_(static_cast<size_t>(lanes)), row_pos_(lanes) {}
  void fill(std::span<uint32_t> out) final {
    size_t i = 0;
    const size_t n = out.size();
    while (row_pos_ < lanes_ && i < n) out[i++] = row_[static_cast<size_t>(row_pos_++)];
    const auto full = static_cast<int64_t>((n - i) / static_cast<size_t>(lanes_));
    if (full > 0) {
      rows(out.data() + i, full);
      i += static_cast<size_t>(full * lanes_);
    }
    if (i < n) {
      rows(row_.data(), 1);
      row_pos_ = 0;
      while (i < n) out[i++] = row_[static_cast<size_t>(row_pos_++)];
    }
  }
  std::string save_state() const final {
    std::vector<uint64_t> v = lane_state();
    v.push_back(static_cast<uint64_t>(row_pos_));
    v.insert(v.end(), row_.begin(), row_.end());
    return hex_tokens(name(), v);
  }
  void load_state(std::string_view state) final {
    const size_t k = lane_state().size();
    const auto v = parse_state(state, name(), k + 1 + static_cast<size_t>(lanes_));
    if (v[k] > static_cast<uint64_t>(lanes_)) {
      throw Error(fmt::format("random source state for '{}': row position {} > {}", name(), v[k], lanes_));
    }
    set_lane_state(std::vector<uint64_t>(v.begin(), v.begin() + static_cast<ptrdiff_t>(k)));
    row_pos_ = static_cast<int>(v[k]);
    for (int j = 0; j < lanes_; ++j) row_[static_cast<size_t>(j)] = static_cast<uint32_t>(v[k + 1 + static_cast<size_t>(j)]);
  }

 protected:
  virtual void rows(uint32_t* out, int64_t n) = 0;
  virtual std::vector<uint64_t> lane_state() const = 0;
  virtual void set_lane_state(const std::vector<uint64_t>& v) = 0;
  bool row_consumed() const { return row_pos_ == lanes_; }  // no word of a row waits to be read
  // The words of the current row that fill() would give next (empty when the row is consumed).
  std::span<const uint32_t> unread_row() const {
    return std::span<const uint32_t>(row_).subspan(static_cast<size_t>(row_pos_));
  }
  // Marks k more words read, for a caller that has already stepped the lanes past the whole rows
  // among them: the current row's unread words first; past them, (k - unread) mod lanes words of
  // one more row, which is made here.
  void skip_words(int64_t k) {
    const auto unread = static_cast<int64_t>(lanes_ - row_pos_);
    if (k <= unread) {
      row_pos_ += static_cast<int>(k);
      return;
    }
    const auto rest = static_cast<int>((k - unread) % lanes_);
    row_pos_ = lanes_;
    if (rest > 0) {
      rows(row_.data(), 1);
      row_pos_ = rest;
    }
  }
  std::string lanes_suffix(int default_lanes) const {
    return lanes_ == default_lanes ? std::string() : fmt::format(":{}", lanes_);
  }
  int lanes_;

 private:
  std::vector<uint32_t> row_;  // the current row
  int row_pos_;                // next unread word of row_ (lanes_: none)
};

inline uint32_t rotl32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// ---- xoshiro128's state n steps ahead --------------------------------------------------------------
// The state transition of xoshiro128 is linear over GF(2), so n steps are one 128×128 bit matrix,
// T^n. The table holds T^(2^k) for k = 0..63, each as its 128 columns (the image of state bit j);
// advancing by n applies the matrices of n's set bits — at most 64 products of 128 XORs.
using XoshiroState = std::array<uint32_t, 4>;

void xoshiro_step(XoshiroState& s) {
  const uint32_t t = s[1] << 9;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl32(s[3], 11);
}

using BitMatrix128 = std::array<XoshiroState, 128>;  // column j: the image of state bit j

XoshiroState times(const BitMatrix128& m, const XoshiroState& v) {
  XoshiroState acc{};
  for (int j = 0; j < 128; ++j) {
    const uint32_t mask = 0u - ((v[static_cast<size_t>(j / 32)] >> (j % 32)) & 1u);
    for (size_t w = 0; w < 4; ++w) acc[w] ^= m[static_cast<size_t>(j)][w] & mask;
  }
  return acc;
}

const std::vector<BitMatrix128>& xoshiro_powers() {
  static const std::vector<BitMatrix128> powers = [] {
    std::vector<BitMatrix128> p(64);
    for (int j = 0; j < 128; ++j) {  // T itself: one step of each basis vector
      XoshiroState e{};
      e[static_cast<size_t>(j / 32)] = 1u << (j % 32);
      xoshiro_step(e);
      p[0][static_cast<size_t>(j)] = e;
    }
    for (size_t k = 1; k < 64; ++k) {  // T^(2^k) = T^(2^(k-1)) applied to its own columns
      for (size_t j = 0; j < 128; ++j) p[k][j] = times(p[k - 1], p[k - 1][j]);
    }
    return p;
  }();
  return powers;
}

XoshiroState xoshiro_advance(XoshiroState s, uint64_t n) {
  if (n < 64) {  // a few steps cost less than one matrix
    for (uint64_t i = 0; i < n; ++i) xoshiro_step(s);
    return s;
  }
  const auto& powers = xoshiro_powers();
  for (size_t k = 0; n != 0; ++k, n >>= 1) {
    if (n & 1) s = times(powers[k], s);
  }
  return s;
}

// n words of one xoshiro128++ stream from s, which advances past them: whole blocks of
// detail::kXoshiroBlock words in the vector lanes (xoshiro_blocks), the rest one step at a time.
void xoshiro_single(XoshiroState& s, uint32_t* out, int64_t n) {
  const int64_t blocks = n / detail::kXoshiroBlock;
  if (blocks > 0) {
    const int lanes = detail::xoshiro_block_lanes();
    detail::xoshiro_blocks(lanes, detail::xoshiro_lane_table(lanes), s.data(), out, blocks);
  }
  const int64_t done = blocks * detail::kXoshiroBlock;
  if (n > done) detail::xoshiro_rows(&s[0], &s[1], &s[2], &s[3], 1, out + done, n - done);
}

// Where a thread is in the words of a take() (one take at a time per thread): a quantize thread
// asks for its range chunk by chunk in order, so only its first chunk pays a jump. The generator
// makes words in units (one word for xoshiro, one row of lanes for a bank); `state` makes unit
// `next` next, and buf holds the words [first, first + count) made last.
template <typename State, size_t kBufWords>
struct TakeCursor {
  uint64_t take = 0;  // which take() (0: none)
  int64_t next = -1;  // -1: state not set for this take
  State state{};
  int64_t first = 0, count = 0;
  std::array<uint32_t, kBufWords> buf{};
};

// Writes words [first, first + out.size()) of a take through the thread's cursor c: from buf where
// they are there, else after jump(c, unit) sets c.state to make `unit` next (c.next is where it is
// now, -1 if unset), with make(c.state, dst, units) writing `units` units of words and advancing
// the state. Whole multiples of `straight` units go straight into out when a unit starts there;
// otherwise buf gets `buffered` units.
template <typename Cursor, typename Jump, typename Make>
void serve_take(Cursor& c, uint64_t take, int64_t first, std::span<uint32_t> out, int64_t unit, int64_t straight,
                int64_t buffered, const Jump& jump, const Make& make) {
  if (c.take != take) c.take = take, c.next = -1, c.count = 0;
  const auto n = static_cast<int64_t>(out.size());
  for (int64_t done = 0; done < n;) {
    const int64_t at = first + done;
    if (at >= c.first && at < c.first + c.count) {  // in the words made last
      const int64_t k = std::min(n - done, c.first + c.count - at);
      std::memcpy(out.data() + done, c.buf.data() + (at - c.first), static_cast<size_t>(k) * sizeof(uint32_t));
      done += k;
      continue;
    }
    const int64_t u = at / unit;
    if (u != c.next) jump(c, u), c.next = u;
    if (const int64_t whole = (n - done) / unit / straight * straight; at % unit == 0 && whole > 0) {
      make(c.state, out.data() + done, whole);
      c.next += whole, done += whole * unit;
      continue;
    }
    make(c.state, c.buf.data(), buffered);
    c.first = c.next * unit, c.count = buffered * unit, c.next += buffered;
  }
}

using XoshiroCursor = TakeCursor<XoshiroState, detail::kXoshiroBlock>;
std::atomic<uint64_t> xoshiro_takes{0};

class XoshiroSource final : public BankSource {
 public:
  XoshiroSource(uint64_t seed, uint64_t site, int lanes) : BankSource(lanes) {
    SplitMix64 sm(site_seed(seed, site));
    const uint64_t z1 = sm.next(), z2 = sm.next();
    std::array<uint32_t, 4> s = {static_cast<uint32_t>(z1), static_cast<uint32_t>(z1 >> 32),
                                 static_cast<uint32_t>(z2), static_cast<uint32_t>(z2 >> 32)};
    for (auto* v : {&s0_, &s1_, &s2_, &s3_}) v->resize(static_cast<size_t>(lanes));
    for (int j = 0; j < lanes; ++j) {
      if (j > 0) s = jump(s);  // lane j = lane 0 advanced j·2^64 steps
      s0_[static_cast<size_t>(j)] = s[0], s1_[static_cast<size_t>(j)] = s[1];
      s2_[static_cast<size_t>(j)] = s[2], s3_[static_cast<size_t>(j)] = s[3];
    }
  }
  // xoshiro128++'s jump(): advances the state by 2^64 steps (Blackman & Vigna's reference code).
  static std::array<uint32_t, 4> jump(std::array<uint32_t, 4> s) {
    static constexpr uint32_t kJump[] = {0x8764000b, 0xf542d2d3, 0x6fa035c3, 0x77f2db5b};
    std::array<uint32_t, 4> acc{};
    for (uint32_t word : kJump) {
      for (int b = 0; b < 32; ++b) {
        if (word & (1u << b)) {
          for (int k = 0; k < 4; ++k) acc[static_cast<size_t>(k)] ^= s[static_cast<size_t>(k)];
        }
        xoshiro_step(s);
      }
    }
    return acc;
  }
  std::string name() const override { return "xoshiro128pp" + lanes_suffix(1); }
  std::unique_ptr<RandomSource> clone() const override { return std::make_unique<XoshiroSource>(*this); }
  // One lane: word `first` of the take is the state `first` steps ahead (xoshiro_advance), so any
  // thread can start anywhere. A bank of lanes has no such function here (its fill is fast anyway).
  IndexedWords take(int64_t n) override {
    RNGFREE_CHECK(n >= 0, "take of a negative count");
    if (lanes_ != 1 || !row_consumed()) return {};
    const XoshiroState base = {s0_[0], s1_[0], s2_[0], s3_[0]};
    const XoshiroState end = xoshiro_advance(base, static_cast<uint64_t>(n));
    s0_[0] = end[0], s1_[0] = end[1], s2_[0] = end[2], s3_[0] = end[3];
    const uint64_t id = xoshiro_takes.fetch_add(1, std::memory_order_relaxed) + 1;
    return [base, id](int64_t first, std::span<uint32_t> out) {
      thread_local XoshiroCursor c;
      const auto jump = [&base](XoshiroCursor& cur, int64_t to) { cur.state = xoshiro_advance(base, static_cast<uint64_t>(to)); };
      const auto make = [](XoshiroState& state, uint32_t* dst, int64_t words) { xoshiro_single(state, dst, words); };
      serve_take(c, id, first, out, 1, detail::kXoshiroBlock, detail::kXoshiroBlock, jump, make);
    };
  }

 protected:
  void rows(uint32_t* out, int64_t n) override {
    if (lanes_ == 1) {  // one stream: in blocks across the vector lanes
      XoshiroState s = {s0_[0], s1_[0], s2_[0], s3_[0]};
      xoshiro_single(s, out, n);
      s0_[0] = s[0], s1_[0] = s[1], s2_[0] = s[2], s3_[0] = s[3];
      return;
    }
    detail::xoshiro_rows(s0_.data(), s1_.data(), s2_.data(), s3_.data(), lanes_, out, n);
  }
  std::vector<uint64_t> lane_state() const override {
    std::vector<uint64_t> v;
    for (const auto* s : {&s0_, &s1_, &s2_, &s3_}) v.insert(v.end(), s->begin(), s->end());
    return v;
  }
  void set_lane_state(const std::vector<uint64_t>& v) override {
    size_t k = 0;
    for (auto* s : {&s0_, &s1_, &s2_, &s3_}) {
      for (auto& x : *s) x = static_cast<uint32_t>(v[k++]);
    }
  }

 private:
  std::vector<uint32_t> s0_, s1_, s2_, s3_;
};

class XorshiftSource final : public BankSource {
 public:
  XorshiftSource(uint64_t seed, uint64_t site, int lanes) : BankSource(lanes), s_(static_cast<size_t>(lanes)) {
    SplitMix64 sm(site_seed(seed, site));
    for (auto& x : s_) {  // lane j: lo32 of the (j+1)-th SplitMix64 output, 1 if 0
      x = static_cast<uint32_t>(sm.next());
      if (x == 0) x = 1;
    }
  }
  std::string name() const override { return "xorshift32" + lanes_suffix(1); }
  std::unique_ptr<RandomSource> clone() const override { return std::make_unique<XorshiftSource>(*this); }

 protected:
  void rows(uint32_t* out, int64_t n) override { detail::xorshift_rows(s_.data(), lanes_, out, n); }
  std::vector<uint64_t> lane_state() const override { return {s_.begin(), s_.end()}; }
  void set_lane_state(const std::vector<uint64_t>& v) override {
    for (size_t j = 0; j < s_.size(); ++j) {
      if (v[j] == 0 || v[j] > 0xffffffffu) throw Error("random source state for '" + name() + "': lane state out of range");
      s_[j] = static_cast<uint32_t>(v[j]);
    }
  }

 private:
  std::vector<uint32_t> s_;
};

// ---- an LFSR's state n steps ahead ------------------------------------------------------------------
// The Galois step is linear over GF(2): state bit 0 goes to the feedback mask, bit j to bit j - 1.
// The table for a width holds T^(2^k) for k = 0..63, each as its W columns (the image of bit j).
using LfsrMatrix = std::array<uint64_t, 64>;

uint64_t lfsr_times(const LfsrMatrix& m, uint64_t s) {
  uint64_t acc = 0;
  for (; s != 0; s &= s - 1) acc ^= m[static_cast<size_t>(std::countr_zero(s))];
  return acc;
}

const std::vector<LfsrMatrix>& lfsr_powers(int width) {
  static std::array<std::once_flag, 65> once;
  static std::array<std::vector<LfsrMatrix>, 65> tables;
  const auto w = static_cast<size_t>(width);
  std::call_once(once[w], [&] {
    const uint64_t mask = lfsr_galois_mask(width);
    std::vector<LfsrMatrix> t(64);
    for (int j = 0; j < width; ++j) t[0][static_cast<size_t>(j)] = lfsr_step(uint64_t{1} << j, mask);
    for (size_t k = 1; k < 64; ++k) {
      for (int j = 0; j < width; ++j) t[k][static_cast<size_t>(j)] = lfsr_times(t[k - 1], t[k - 1][static_cast<size_t>(j)]);
    }
    tables[w] = std::move(t);
  });
  return tables[w];
}

uint64_t lfsr_advance_impl(uint64_t s, const std::vector<LfsrMatrix>& powers, uint64_t mask, uint64_t n) {
  if (n < 64) {  // a few steps cost less than one matrix
    for (uint64_t i = 0; i < n; ++i) s = lfsr_step(s, mask);
    return s;
  }
  for (size_t k = 0; n != 0; ++k, n >>= 1) {
    if (n & 1) s = lfsr_times(powers[k], s);
  }
  return s;
}

constexpr int64_t kLfsrBufWords = 4096;  // an lfsr cursor's buffer: whole rows, at least one
// An lfsr take's cursor: the lanes' states, in units of rows past the take's unread words.
using LfsrCursor = TakeCursor<std::vector<uint64_t>, kLfsrBufWords>;
std::atomic<uint64_t> lfsr_takes{0};

class LfsrSource final : public BankSource {
 public:
  LfsrSource(uint64_t seed, uint64_t site, int width, int lanes)
      : BankSource(lanes), width_(width), mask_(lfsr_galois_mask(width)), s_(static_cast<size_t>(lanes)) {
    SplitMix64 sm(site_seed(seed, site));
    for (auto& x : s_) x = initial_state(sm.next(), width);
  }
  // Lane j's initial state: the (j+1)-th SplitMix64 output, low W bits, 1 if those are 0.
  static uint64_t initial_state(uint64_t z, int width) {
    const uint64_t x = width == 64 ? z : (z & ((uint64_t{1} << width) - 1));
    return x == 0 ? 1 : x;
  }
  std::string name() const override { return fmt::format("lfsr:{}", width_) + lanes_suffix(16); }
  std::unique_ptr<RandomSource> clone() const override { return std::make_unique<LfsrSource>(*this); }
  // Word i of the take: the current row's unread words first, then word j = i - unread of the rows
  // to come, lane j mod L after j / L + 1 more steps (lfsr_advance), so any thread can start anywhere.
  IndexedWords take(int64_t n) override {
    RNGFREE_CHECK(n >= 0, "take of a negative count");
    const std::span<const uint32_t> unread_span = unread_row();
    std::vector<uint32_t> unread(unread_span.begin(), unread_span.end());
    const auto u = static_cast<int64_t>(unread.size());
    std::vector<uint64_t> base = s_;
    if (n > u) {
      const std::vector<LfsrMatrix>& powers = lfsr_powers(width_);
      const auto full = static_cast<uint64_t>((n - u) / lanes_);
      for (auto& x : s_) x = lfsr_advance_impl(x, powers, mask_, full);
    }
    skip_words(n);
    const uint64_t id = lfsr_takes.fetch_add(1, std::memory_order_relaxed) + 1;
    return [unread = std::move(unread), base = std::move(base), id, width = width_, mask = mask_,
            lanes = static_cast<int64_t>(lanes_)](int64_t first, std::span<uint32_t> out) {
      const auto u = static_cast<int64_t>(unread.size());
      size_t done = 0;
      for (; done < out.size() && first + static_cast<int64_t>(done) < u; ++done) {
        out[done] = unread[static_cast<size_t>(first) + done];
      }
      if (done == out.size()) return;
      thread_local LfsrCursor c;
      // To row `to`: from the cursor's row when ahead of it, else from the take's start.
      const auto jump = [&](LfsrCursor& cur, int64_t to) {
        const bool ahead = cur.next >= 0 && to > cur.next;
        if (!ahead) cur.state = base;
        const auto steps = static_cast<uint64_t>(ahead ? to - cur.next : to);
        const std::vector<LfsrMatrix>& powers = lfsr_powers(width);
        for (auto& x : cur.state) x = lfsr_advance_impl(x, powers, mask, steps);
      };
      const auto make = [&](std::vector<uint64_t>& state, uint32_t* dst, int64_t rows) {
        detail::lfsr_rows(state.data(), mask, static_cast<int>(lanes), dst, rows);
      };
      const int64_t buffered = std::max<int64_t>(1, kLfsrBufWords / lanes);
      serve_take(c, id, first + static_cast<int64_t>(done) - u, out.subspan(done), lanes, 1, buffered, jump, make);
    };
  }

 protected:
  void rows(uint32_t* out, int64_t n) override { detail::lfsr_rows(s_.data(), mask_, lanes_, out, n); }
  std::vector<uint64_t> lane_state() const override { return s_; }
  void set_lane_state(const std::vector<uint64_t>& v) override {
    for (size_t j = 0; j < s_.size(); ++j) {
      if (v[j] == 0 || (width_ < 64 && (v[j] >> width_) != 0)) {
        throw Error("random source state for '" + name() + "': lane state out of range");
      }
      s_[j] = v[j];
    }
  }

 private:
  int width_;
  uint64_t mask_;
  std::vector<uint64_t> s_;
};

// ---- Packed words: GEN/R ------------------------------------------------------------------------------
// Word i of the stream is bits [R·(i mod k), R·(i mod k) + R) of the base generator's word floor(i / k),
// k = 32/R, in the low bits: each base word serves k roundings with stochastic:R. The base's word
// being split is kept with how many of its k words are still to come.
class PackedSource final : public RandomSource {
 public:
  PackedSource(std::unique_ptr<RandomSource> base, int bits) : base_(std::move(base)), bits_(bits), per_(32 / bits) {}
  PackedSource(const PackedSource& o)
      : RandomSource(o), base_(o.base_->clone()), bits_(o.bits_), per_(o.per_), word_(o.word_), left_(o.left_) {}
  PackedSource& operator=(const PackedSource&) = delete;
  std::string name() const override { return fmt::format("{}/{}", base_->name(), bits_); }
  void fill(std::span<uint32_t> out) override {
    size_t done = from_word(out);
    const auto whole = static_cast<int64_t>((out.size() - done) / static_cast<size_t>(per_));
    for (int64_t w = 0; w < whole;) {
      const int64_t c = std::min<int64_t>(kChunk, whole - w);
      buf_.resize(static_cast<size_t>(c));
      base_->fill(buf_);
      detail::unpack_words(bits_, buf_.data(), c, out.data() + done);
      done += static_cast<size_t>(c * per_), w += c;
    }
    if (done < out.size()) {
      base_->fill(std::span<uint32_t>(&word_, 1));
      left_ = per_;
      from_word(out.subspan(done));
    }
  }
  // Words [0, n) of the take: the split word's remaining ones first, then base words by index
  // (base take of ceil(rest / k) words); the last base word, if not used up, is kept split.
  IndexedWords take(int64_t n) override {
    RNGFREE_CHECK(n >= 0, "take of a negative count");
    const int64_t head = std::min<int64_t>(left_, n), rest = n - head;
    const int64_t base_words = (rest + per_ - 1) / per_;
    IndexedWords base;
    if (base_words > 0 && !(base = base_->take(base_words))) return {};  // the base has no words by index
    const uint32_t word = word_;
    const int skip = per_ - left_;  // words of `word` already given before this take
    left_ -= static_cast<int>(head);
    if (base_words > 0) {
      base(base_words - 1, std::span<uint32_t>(&word_, 1));
      left_ = static_cast<int>(base_words * per_ - rest);
    }
    return [base = std::move(base), word, skip, head, bits = bits_, per = per_](int64_t first, std::span<uint32_t> out) {
      const uint32_t mask = (uint32_t{1} << bits) - 1;
      size_t done = 0;
      for (; done < out.size() && first + static_cast<int64_t>(done) < head; ++done) {
        out[done] = (word >> (bits * (skip + first + static_cast<int>(done)))) & mask;
      }
      thread_local std::vector<uint32_t> buf;
      while (done < out.size()) {
        const int64_t at = first + static_cast<int64_t>(done) - head;  // word `at` of the base words' split
        const auto left = static_cast<int64_t>(out.size() - done);
        const int64_t w = at / per, from = at % per;
        if (from == 0 && left >= per) {  // whole base words, split straight into out
          const int64_t c = std::min<int64_t>(kChunk, left / per);
          buf.resize(static_cast<size_t>(c));
          base(w, buf);
          detail::unpack_words(bits, buf.data(), c, out.data() + done);
          done += static_cast<size_t>(c * per);
          continue;
        }
        uint32_t one = 0;  // a base word of which only part is asked for
        base(w, std::span<uint32_t>(&one, 1));
        for (int64_t j = from; j < per && done < out.size(); ++j) out[done++] = (one >> (bits * j)) & mask;
      }
    };
  }
  std::string save_state() const override {
    return fmt::format("{} {:x} {:x} {}", name(), left_, word_, base_->save_state());
  }
  void load_state(std::string_view state) override {
    const auto parts = split(state, ' ');
    const std::string me = name();
    if (parts.size() < 4 || parts[0] != me) {
      throw Error(fmt::format("random source state '{}': not a state of generator '{}' (expected '{}', two hex "
                              "numbers and the state of '{}')",
                              state.substr(0, 60), me, me, base_->name()));
    }
    uint64_t v[2] = {0, 0};
    for (int i = 0; i < 2; ++i) {
      const auto t = parts[static_cast<size_t>(i) + 1];
      auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), v[i], 16);
      if (ec != std::errc() || ptr != t.data() + t.size() || v[i] > (i == 0 ? static_cast<uint64_t>(per_ - 1) : 0xffffffffu)) {
        throw Error(fmt::format("random source state for '{}': field {} = '{}' is not a hex number in range", me, i + 1, t));
      }
    }
    const size_t base_at = parts[0].size() + parts[1].size() + parts[2].size() + 3;
    base_->load_state(state.substr(base_at));
    left_ = static_cast<int>(v[0]), word_ = static_cast<uint32_t>(v[1]);
  }
  std::unique_ptr<RandomSource> clone() const override { return std::make_unique<PackedSource>(*this); }

 private:
  // Base words per call of the base, through a buffer (xoshiro128pp fills whole blocks of 4,096 in
  // its vector lanes, fewer one word at a time).
  static constexpr int64_t kChunk = 4096;
  // Gives the split word's remaining words to the front of out; returns how many.
  size_t from_word(std::span<uint32_t> out) {
    const uint32_t mask = (uint32_t{1} << bits_) - 1;
    size_t i = 0;
    for (; i < out.size() && left_ > 0; ++i, --left_) out[i] = (word_ >> (bits_ * (per_ - left_))) & mask;
    return i;
  }
  std::unique_ptr<RandomSource> base_;
  int bits_, per_;
  uint32_t word_ = 0;  // the base word being split
  int left_ = 0;       // its words still to give (0..per_ - 1 between calls)
  std::vector<uint32_t> buf_;
};

}  // namespace

std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> x, std::array<uint32_t, 2> key) {
  for (int r = 0; r < 10; ++r) {
    const uint64_t p0 = uint64_t{0xD2511F53u} * x[0];
    const uint64_t p1 = uint64_t{0xCD9E8D57u} * x[2];
    x = {static_cast<uint32_t>(p1 >> 32) ^ x[1] ^ key[0], static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ x[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += 0x9E3779B9u;
    key[1] += 0xBB67AE85u;
  }
  return x;
}

uint64_t lfsr_advance(uint64_t state, int width, uint64_t n) {
  return lfsr_advance_impl(state, lfsr_powers(width), lfsr_galois_mask(width), n);
}

std::array<uint32_t, 4> xoshiro128_jump(std::array<uint32_t, 4> state) { return XoshiroSource::jump(state); }
std::array<uint32_t, 4> xoshiro128_advance(std::array<uint32_t, 4> state, uint64_t n) {
  return xoshiro_advance(state, n);
}

namespace detail {
const uint32_t* xoshiro_lane_table(int lanes) {
  // Column j of T^(span·i) for lane i: state bit j alone, advanced span steps per lane.
  auto build = [](int l) {
    const auto span = static_cast<uint64_t>(kXoshiroBlock / l);
    std::vector<uint32_t> t(static_cast<size_t>(128 * 4 * l));
    for (int j = 0; j < 128; ++j) {
      XoshiroState col{};
      col[static_cast<size_t>(j / 32)] = 1u << (j % 32);
      for (int i = 0; i < l; ++i) {
        if (i > 0) col = xoshiro_advance(col, span);
        for (int w = 0; w < 4; ++w) t[static_cast<size_t>((j * 4 + w) * l + i)] = col[static_cast<size_t>(w)];
      }
    }
    return t;
  };
  switch (lanes) {
    case 16: { static const std::vector<uint32_t> t = build(16); return t.data(); }
    case 8: { static const std::vector<uint32_t> t = build(8); return t.data(); }
    case 4: { static const std::vector<uint32_t> t = build(4); return t.data(); }
    default: RNGFREE_CHECK(false, "xoshiro_lane_table: lanes must be 16, 8 or 4");
  }
}
}  // namespace detail

std::unique_ptr<RandomSource> make_generator(std::string_view spec, uint64_t seed, uint64_t site) {
  if (const PackedSpec p = split_packed(spec); p.bits > 0) {
    return std::make_unique<PackedSource>(make_generator(p.base, seed, site), p.bits);
  }
  const GenSpec g = parse_spec(spec);
  switch (g.kind) {
    case GenKind::kPhilox: return std::make_unique<PhiloxSource>(seed, site);
    case GenKind::kMt19937: return std::make_unique<MtSource>(seed, site);
    case GenKind::kXoshiro: return std::make_unique<XoshiroSource>(seed, site, g.lanes);
    case GenKind::kXorshift: return std::make_unique<XorshiftSource>(seed, site, g.lanes);
    case GenKind::kLfsr: return std::make_unique<LfsrSource>(seed, site, g.width, g.lanes);
  }
  RNGFREE_CHECK(false, "unhandled generator kind");
}

int generator_random_bits(std::string_view spec) {
  if (const PackedSpec p = split_packed(spec); p.bits > 0) return p.bits;
  return base_random_bits(parse_spec(spec));
}

std::vector<std::string> generator_specs() {
  return {"philox", "mt19937", "xoshiro128pp[:L]", "xorshift32[:L]", "lfsr:W[:L]", "GEN/R"};
}

std::vector<uint64_t> reference_sequence(std::string_view spec, uint64_t seed, int64_t count) {
  if (count < 0) throw Error(fmt::format("count = {}: must be >= 0", count));
  if (const PackedSpec p = split_packed(spec); p.bits > 0) {  // the base's words (low 32 bits), split
    const int64_t per = 32 / p.bits;
    const std::vector<uint64_t> base = reference_sequence(p.base, seed, (count + per - 1) / per);
    std::vector<uint32_t> words(base.size()), split(base.size() * static_cast<size_t>(per));
    for (size_t i = 0; i < base.size(); ++i) words[i] = static_cast<uint32_t>(base[i]);
    detail::unpack_words(p.bits, words.data(), static_cast<int64_t>(words.size()), split.data());
    return {split.begin(), split.begin() + count};
  }
  const GenSpec g = parse_spec(spec);
  std::vector<uint64_t> out(static_cast<size_t>(count));
  if (g.kind == GenKind::kLfsr) {  // lane 0's successive W-bit states
    const uint64_t mask = lfsr_galois_mask(g.width);
    SplitMix64 sm(seed);
    uint64_t s = LfsrSource::initial_state(sm.next(), g.width);
    for (auto& x : out) x = s = lfsr_step(s, mask);
    return out;
  }
  GenSpec one = g;
  one.lanes = 1;
  std::unique_ptr<RandomSource> src;
  switch (one.kind) {
    case GenKind::kPhilox: src = std::make_unique<PhiloxSource>(seed, 0); break;
    case GenKind::kMt19937: src = std::make_unique<MtSource>(seed, 0); break;
    case GenKind::kXoshiro: src = std::make_unique<XoshiroSource>(seed, 0, 1); break;
    case GenKind::kXorshift: src = std::make_unique<XorshiftSource>(seed, 0, 1); break;
    case GenKind::kLfsr: break;
  }
  std::vector<uint32_t> words(static_cast<size_t>(count));
  src->fill(words);
  std::copy(words.begin(), words.end(), out.begin());
  return out;
}

}  // namespace rngfree::random
