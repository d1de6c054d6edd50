// Fast SP 800-22 counting kernels on packed bits (see kernels.hpp). Each one is checked against its
// reference twin in kernels_reference.cpp by tests/nist/kernels_test.cpp on random inputs.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>

#include <fftw3.h>

#include "rngfree/error.hpp"
#include "rngfree/nist/kernels.hpp"

namespace rngfree::nist::kernels {
namespace {

// Calls f(window) for the m-bit windows (m <= 32) starting at begin .. begin+count-1; reads bits up
// to begin+count-1+m-1 (bits past the sequence end read as zero).
template <class F>
void for_each_window(const BitSequence& s, uint64_t begin, uint64_t count, unsigned m, F&& f) {
  const unsigned shift = 64 - m;
  const unsigned per_read = 65 - m;  // windows fully inside one 64-bit read
  uint64_t p = begin;
  const uint64_t end = begin + count;
  while (p + per_read <= end) {
    const uint64_t x = s.bits64(p);
    for (unsigned t = 0; t < per_read; ++t) f((x << t) >> shift);
    p += per_read;
  }
  for (; p < end; ++p) f(s.bits64(p) >> shift);
}

// Per byte (first bit most significant): sum of +-1 steps, max and min prefix sum (prefix length 1..8).
struct ByteWalk {
  std::array<int8_t, 256> sum, max_prefix, min_prefix;
  ByteWalk() {
    for (int b = 0; b < 256; ++b) {
      int s = 0, hi = -9, lo = 9;
      for (int k = 7; k >= 0; --k) {
        s += ((b >> k) & 1) ? 1 : -1;
        hi = std::max(hi, s);
        lo = std::min(lo, s);
      }
      sum[b] = static_cast<int8_t>(s);
      max_prefix[b] = static_cast<int8_t>(hi);
      min_prefix[b] = static_cast<int8_t>(lo);
    }
  }
};
const ByteWalk& byte_walk() {
  static const ByteWalk table;
  return table;
}
inline unsigned byte_at(const BitSequence& s, uint64_t b) {
  return static_cast<unsigned>((s.words()[b >> 3] >> (56 - 8 * (b & 7))) & 0xFF);
}

}  // namespace

bool is_aperiodic(uint32_t pattern, int m) {
  // B is aperiodic iff no proper prefix equals the suffix of the same length (no border).
  for (int len = 1; len < m; ++len) {
    const uint32_t mask = (uint32_t{1} << len) - 1;
    if ((pattern >> (m - len)) == (pattern & mask)) return false;
  }
  return true;
}

std::vector<uint32_t> aperiodic_templates(int m) {
  RNGFREE_CHECK(m >= 1 && m <= 24, "template length out of range");
  std::vector<uint32_t> out;
  for (uint32_t v = 0; v < (uint32_t{1} << m); ++v) {
    if (is_aperiodic(v, m)) out.push_back(v);
  }
  return out;
}

WalkExtremes walk_extremes(const BitSequence& s) {
  const ByteWalk& t = byte_walk();
  WalkExtremes w;
  int64_t sum = 0, hi = 0, lo = 0;
  const uint64_t full_bytes = s.size() / 8;
  for (uint64_t b = 0; b < full_bytes; ++b) {
    const unsigned v = byte_at(s, b);
    hi = std::max(hi, sum + t.max_prefix[v]);
    lo = std::min(lo, sum + t.min_prefix[v]);
    sum += t.sum[v];
  }
  for (uint64_t i = full_bytes * 8; i < s.size(); ++i) {
    sum += s.bit(i) ? 1 : -1;
    hi = std::max(hi, sum);
    lo = std::min(lo, sum);
  }
  w.final_sum = sum;
  w.max_sum = hi;
  w.min_sum = lo;
  return w;
}

uint64_t transitions(const BitSequence& s) {
  if (s.size() < 2) return 0;
  const uint64_t pairs = s.size() - 1;  // pair p = (e_p, e_{p+1}), p = 0..n-2
  const auto words = s.words();
  uint64_t total = 0;
  for (uint64_t w = 0; w * 64 < pairs; ++w) {
    uint64_t t = words[w] ^ ((words[w] << 1) | (words[w + 1] >> 63));
    const uint64_t valid = std::min<uint64_t>(64, pairs - 64 * w);
    if (valid < 64) t &= ~uint64_t{0} << (64 - valid);
    total += std::popcount(t);
  }
  return total;
}

// The 32-bit counts below hold at most 2^32 - 1; the tests refuse longer blocks or sequences with an
// error first (check_supported_length), so these checks guard the kernels' own callers.
constexpr uint64_t kMaxCount32 = 0xFFFFFFFFu;

std::vector<uint32_t> block_ones(const BitSequence& s, uint64_t block_length) {
  const uint64_t blocks = s.size() / block_length;
  RNGFREE_CHECK(blocks == 0 || block_length <= kMaxCount32, "block_ones: block length past the 32-bit counts");
  std::vector<uint32_t> out(blocks);
  for (uint64_t i = 0; i < blocks; ++i) out[i] = static_cast<uint32_t>(s.count_ones(i * block_length, block_length));
  return out;
}

std::vector<uint32_t> longest_runs(const BitSequence& s, uint64_t block_length) {
  const uint64_t blocks = s.size() / block_length;
  std::vector<uint32_t> out(blocks);
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t end = (i + 1) * block_length;
    uint32_t best = 0, current = 0;  // current: run of ones ending at the previous chunk's last bit
    for (uint64_t pos = i * block_length; pos < end; pos += 64) {
      uint64_t x = s.bits64(pos);
      const uint64_t take = std::min<uint64_t>(64, end - pos);
      if (take < 64) x &= ~uint64_t{0} << (64 - take);
      if (x == ~uint64_t{0}) {
        current += 64;
        best = std::max(best, current);
        continue;
      }
      best = std::max(best, current + static_cast<uint32_t>(std::countl_one(x)));
      uint32_t inner = 0;
      for (uint64_t y = x; y != 0; y &= y << 1) ++inner;  // longest run inside the word
      best = std::max(best, inner);
      current = static_cast<uint32_t>(std::countr_one(x));
    }
    out[i] = best;
  }
  return out;
}

namespace {
template <class Row>
int gf2_rank(Row* rows, int nrows, int ncols) {
  int rank = 0;
  for (int col = ncols - 1; col >= 0 && rank < nrows; --col) {
    const Row mask = Row{1} << col;
    int pivot = rank;
    while (pivot < nrows && !(rows[pivot] & mask)) ++pivot;
    if (pivot == nrows) continue;
    std::swap(rows[rank], rows[pivot]);
    const Row pivot_row = rows[rank];
    for (int r = rank + 1; r < nrows; ++r) rows[r] ^= pivot_row & (Row{0} - ((rows[r] >> col) & 1));  // branch-free
    ++rank;
  }
  return rank;
}
}  // namespace

std::vector<int> ranks(const BitSequence& s, int rows, int cols) {
  RNGFREE_CHECK(rows >= 1 && cols >= 1 && cols <= 64, "matrix shape out of range");
  const uint64_t block = static_cast<uint64_t>(rows) * cols;
  const uint64_t blocks = s.size() / block;
  std::vector<int> out(blocks);
  std::vector<uint32_t> r32(rows);
  std::vector<uint64_t> r64(rows);
  for (uint64_t k = 0; k < blocks; ++k) {
    const uint64_t base = k * block;
    if (cols <= 32) {
      for (int i = 0; i < rows; ++i) r32[i] = static_cast<uint32_t>(s.bits(base + static_cast<uint64_t>(i) * cols, cols));
      out[k] = gf2_rank(r32.data(), rows, cols);
    } else {
      for (int i = 0; i < rows; ++i) r64[i] = s.bits(base + static_cast<uint64_t>(i) * cols, cols);
      out[k] = gf2_rank(r64.data(), rows, cols);
    }
  }
  return out;
}

std::vector<std::vector<uint32_t>> template_counts(const BitSequence& s, std::span<const uint32_t> templates, int m,
                                                   uint64_t block_length, uint64_t blocks) {
  RNGFREE_CHECK(m >= 1 && m <= 24 && block_length >= static_cast<uint64_t>(m) && blocks * block_length <= s.size(),
                "template_counts arguments out of range");
  std::vector<std::vector<uint32_t>> counts(templates.size(), std::vector<uint32_t>(blocks, 0));
  const uint64_t windows = block_length - m + 1;
  RNGFREE_CHECK(windows <= kMaxCount32, "template_counts: block length past the 32-bit counts");
  // An aperiodic template cannot overlap itself, so its non-overlapping count (jump m after a match)
  // equals its plain occurrence count: one histogram of m-bit windows per block serves all of them.
  std::vector<size_t> aperiodic, periodic;
  for (size_t t = 0; t < templates.size(); ++t) (is_aperiodic(templates[t], m) ? aperiodic : periodic).push_back(t);
  std::vector<uint32_t> hist(size_t{1} << m);
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t begin = i * block_length;
    if (!aperiodic.empty()) {
      std::fill(hist.begin(), hist.end(), 0);
      for_each_window(s, begin, windows, m, [&](uint64_t v) { ++hist[v]; });
      for (size_t t : aperiodic) counts[t][i] = hist[templates[t]];
    }
    for (size_t t : periodic) {
      uint32_t c = 0;
      for (uint64_t j = 0; j < windows; ++j) {
        if (s.bits(begin + j, m) == templates[t]) {
          ++c;
          j += m - 1;
        }
      }
      counts[t][i] = c;
    }
  }
  return counts;
}

std::vector<uint32_t> overlapping_counts(const BitSequence& s, uint32_t pattern, int m, uint64_t block_length,
                                         uint64_t blocks) {
  RNGFREE_CHECK(m >= 1 && m <= 32 && block_length >= static_cast<uint64_t>(m) && blocks * block_length <= s.size(),
                "overlapping_counts arguments out of range");
  RNGFREE_CHECK(block_length - m + 1 <= kMaxCount32, "overlapping_counts: block length past the 32-bit counts");
  // 64 start positions at once: bit t of the AND over k of (bit k of the pattern ? x_k : ~x_k), with
  // x_k the 64 bits from p + k, is set iff the window at p + t equals the pattern.
  std::vector<uint32_t> out(blocks);
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t begin = i * block_length, end = begin + block_length - m + 1;  // window starts
    uint32_t c = 0;
    for (uint64_t p = begin; p < end; p += 64) {
      uint64_t v = ~uint64_t{0};
      for (int k = 0; k < m; ++k) {
        const uint64_t x = s.bits64(p + k);
        v &= ((pattern >> (m - 1 - k)) & 1) ? x : ~x;
      }
      if (end - p < 64) v &= ~uint64_t{0} << (64 - (end - p));
      c += static_cast<uint32_t>(std::popcount(v));
    }
    out[i] = c;
  }
  return out;
}

std::vector<uint32_t> cyclic_window_counts(const BitSequence& s, int m) {
  RNGFREE_CHECK(m >= 1 && m <= 24 && s.size() > 0, "cyclic_window_counts arguments out of range");
  RNGFREE_CHECK(s.size() <= kMaxCount32, "cyclic_window_counts: n past the 32-bit counts");
  const uint64_t n = s.size();
  // The sequence followed by its first m-1 bits (repeated if n < m-1), so windows never wrap.
  const uint64_t ext_n = n + m - 1;
  std::vector<uint64_t> ext((ext_n + 63) / 64 + 1, 0);
  const auto words = s.words();
  for (uint64_t w = 0; w < (n + 63) / 64; ++w) ext[w] = words[w];
  for (uint64_t k = n; k < ext_n; ++k) {
    if (s.bit((k - n) % n)) ext[k >> 6] |= uint64_t{1} << (63 - (k & 63));
  }
  const BitSequence e = BitSequence::from_words(ext, ext_n);
  std::vector<uint32_t> counts(size_t{1} << m, 0);
  for_each_window(e, 0, n, m, [&](uint64_t v) { ++counts[v]; });
  return counts;
}

std::vector<uint32_t> marginalize_prefix(std::span<const uint32_t> counts) {
  RNGFREE_CHECK(counts.size() >= 2 && std::has_single_bit(counts.size()), "counts size must be a power of two >= 2");
  std::vector<uint32_t> out(counts.size() / 2);
  for (size_t v = 0; v < out.size(); ++v) out[v] = counts[2 * v] + counts[2 * v + 1];
  return out;
}

Excursions excursions(const BitSequence& s) {
  // Far from 0 (|S| > 17) a whole byte cannot reach a state in [-9, 9]: step it with the byte table.
  const ByteWalk& t = byte_walk();
  Excursions ex;
  std::array<uint64_t, 8> cycle_visits{};  // one cycle may span the whole sequence: 64-bit
  auto close_cycle = [&] {
    for (int i = 0; i < 8; ++i) {
      ++ex.nu[std::min<uint64_t>(cycle_visits[i], 5)][i];
      cycle_visits[i] = 0;
    }
    ++ex.cycles;
  };
  auto step = [&](int64_t& sum, int bit) {
    sum += bit ? 1 : -1;
    if (sum == 0) {
      ++ex.zeros;
      close_cycle();
    } else if (sum >= -9 && sum <= 9) {
      ++ex.visits[sum < 0 ? sum + 9 : sum + 8];
      if (sum >= -4 && sum <= 4) ++cycle_visits[sum < 0 ? sum + 4 : sum + 3];
    }
  };
  int64_t sum = 0;
  const uint64_t full_bytes = s.size() / 8;
  for (uint64_t b = 0; b < full_bytes; ++b) {
    const unsigned v = byte_at(s, b);
    if (sum > 17 || sum < -17) {
      sum += t.sum[v];
      continue;
    }
    for (int k = 7; k >= 0; --k) step(sum, (v >> k) & 1);
  }
  for (uint64_t i = full_bytes * 8; i < s.size(); ++i) step(sum, s.bit(i));
  if (sum != 0) close_cycle();
  return ex;
}

double universal_log_sum(const BitSequence& s, int L, uint64_t Q, uint64_t K) {
  RNGFREE_CHECK(L >= 1 && L <= 24 && (Q + K) * L <= s.size(), "universal_log_sum arguments out of range");
  std::vector<uint64_t> last(size_t{1} << L, 0);
  for (uint64_t i = 1; i <= Q; ++i) last[s.bits((i - 1) * L, L)] = i;
  // log(d)/log(2) for small distances d from a table holding exactly the values the expression gives.
  constexpr uint64_t kTable = 4096;
  static const std::vector<double> kLog2 = [] {
    std::vector<double> t(kTable);
    for (uint64_t d = 1; d < kTable; ++d) t[d] = std::log(static_cast<double>(d)) / std::log(2.0);
    return t;
  }();
  double sum = 0.0;
  const double log2e = std::log(2.0);
  for (uint64_t i = Q + 1; i <= Q + K; ++i) {
    const uint64_t v = s.bits((i - 1) * L, L);
    const uint64_t d = i - last[v];
    sum += d < kTable ? kLog2[d] : std::log(static_cast<double>(d)) / log2e;
    last[v] = i;
  }
  return sum;
}

namespace {
// FFTW plan creation is not thread-safe: plans are made once per size under a mutex (FFTW_ESTIMATE,
// so results do not depend on timing) and executed with the thread-safe new-array interface. The
// cache destroys its plans at exit (LeakSanitizer reported them lost once the map was gone).
struct PlanCache {
  std::mutex mutex;
  std::map<int, fftw_plan> plans;
  ~PlanCache() {
    for (auto& entry : plans) fftw_destroy_plan(entry.second);
  }
};

fftw_plan plan_for(int n) {
  static PlanCache cache;
  std::lock_guard<std::mutex> lock(cache.mutex);
  auto& plans = cache.plans;
  auto it = plans.find(n);
  if (it != plans.end()) return it->second;
  double* in = fftw_alloc_real(static_cast<size_t>(n));
  fftw_complex* out = fftw_alloc_complex(static_cast<size_t>(n) / 2 + 1);
  fftw_plan p = fftw_plan_dft_r2c_1d(n, in, out, FFTW_ESTIMATE);
  fftw_free(in);
  fftw_free(out);
  RNGFREE_CHECK(p != nullptr, "FFTW could not create a plan");
  plans.emplace(n, p);
  return p;
}
}  // namespace

uint64_t dft_count_below(const BitSequence& s, double threshold) {
  RNGFREE_CHECK(s.size() >= 2 && s.size() <= (uint64_t{1} << 31) - 1, "dft size out of range");
  const int n = static_cast<int>(s.size());
  const fftw_plan plan = plan_for(n);
  // Per-thread buffers, reused across calls of the same size (no page faults per sequence).
  struct Buffers {
    int n = 0;
    double* in = nullptr;
    fftw_complex* out = nullptr;
    ~Buffers() {
      fftw_free(in);
      fftw_free(out);
    }
  };
  thread_local Buffers buf;
  if (buf.n != n) {
    fftw_free(buf.in);
    fftw_free(buf.out);
    buf.in = fftw_alloc_real(static_cast<size_t>(n));
    buf.out = fftw_alloc_complex(static_cast<size_t>(n) / 2 + 1);
    buf.n = n;
  }
  double* in = buf.in;
  // +-1 per bit through a table of 8 doubles per byte.
  static const auto kByteSigns = [] {
    std::array<std::array<double, 8>, 256> t{};
    for (int b = 0; b < 256; ++b)
      for (int k = 0; k < 8; ++k) t[b][k] = ((b >> (7 - k)) & 1) ? 1.0 : -1.0;
    return t;
  }();
  const int full_bytes = n / 8;
  for (int b = 0; b < full_bytes; ++b) std::memcpy(in + 8 * b, kByteSigns[byte_at(s, static_cast<uint64_t>(b))].data(), 64);
  for (int i = 8 * full_bytes; i < n; ++i) in[i] = s.bit(static_cast<uint64_t>(i)) ? 1.0 : -1.0;
  fftw_execute_dft_r2c(plan, in, buf.out);
  // |S_j| < threshold, decided on the squared magnitude away from the boundary (no sqrt), and with
  // the correctly rounded sqrt, as the plain comparison would, within 1e-9 of it.
  const double t2 = threshold * threshold;
  const double t2_lo = t2 * (1 - 1e-9), t2_hi = t2 * (1 + 1e-9);
  uint64_t count = 0;
  const fftw_complex* out = buf.out;
  for (int j = 0; j < n / 2; ++j) {
    const double m2 = out[j][0] * out[j][0] + out[j][1] * out[j][1];
    if (m2 < t2_lo) {
      ++count;
    } else if (m2 <= t2_hi) {
      count += std::sqrt(m2) < threshold;
    }
  }
  return count;
}

}  // namespace rngfree::nist::kernels
