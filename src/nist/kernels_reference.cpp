// Reference SP 800-22 counting kernels: one bit per byte, each step as the spec (and STS 2.1.2's
// loops) states it. Slow on purpose; they are the specification for kernels_fast.cpp.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "rngfree/error.hpp"
#include "rngfree/nist/kernels.hpp"

namespace rngfree::nist::kernels::reference {

WalkExtremes walk_extremes(std::span<const uint8_t> e) {
  WalkExtremes w;
  int64_t s = 0;
  for (uint8_t b : e) {
    s += b ? 1 : -1;
    w.max_sum = std::max(w.max_sum, s);
    w.min_sum = std::min(w.min_sum, s);
  }
  w.final_sum = s;
  return w;
}

uint64_t transitions(std::span<const uint8_t> e) {
  uint64_t t = 0;
  for (size_t k = 0; k + 1 < e.size(); ++k) t += e[k] != e[k + 1];
  return t;
}

std::vector<uint32_t> block_ones(std::span<const uint8_t> e, uint64_t M) {
  std::vector<uint32_t> out(e.size() / M, 0);
  for (size_t i = 0; i < out.size(); ++i) {
    for (uint64_t j = 0; j < M; ++j) out[i] += e[i * M + j];
  }
  return out;
}

std::vector<uint32_t> longest_runs(std::span<const uint8_t> e, uint64_t M) {
  std::vector<uint32_t> out(e.size() / M, 0);
  for (size_t i = 0; i < out.size(); ++i) {
    uint32_t run = 0;
    for (uint64_t j = 0; j < M; ++j) {
      run = e[i * M + j] ? run + 1 : 0;
      out[i] = std::max(out[i], run);
    }
  }
  return out;
}

std::vector<int> ranks(std::span<const uint8_t> e, int rows, int cols) {
  const uint64_t block = static_cast<uint64_t>(rows) * cols;
  std::vector<int> out(e.size() / block);
  for (size_t k = 0; k < out.size(); ++k) {
    std::vector<std::vector<uint8_t>> a(rows, std::vector<uint8_t>(cols));
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < cols; ++j) a[i][j] = e[k * block + static_cast<uint64_t>(i) * cols + j];
    int rank = 0;
    for (int col = 0; col < cols && rank < rows; ++col) {
      int pivot = -1;
      for (int r = rank; r < rows; ++r)
        if (a[r][col]) {
          pivot = r;
          break;
        }
      if (pivot < 0) continue;
      std::swap(a[rank], a[pivot]);
      for (int r = 0; r < rows; ++r) {
        if (r != rank && a[r][col])
          for (int j = 0; j < cols; ++j) a[r][j] ^= a[rank][j];
      }
      ++rank;
    }
    out[k] = rank;
  }
  return out;
}

std::vector<std::vector<uint32_t>> template_counts(std::span<const uint8_t> e, std::span<const uint32_t> templates,
                                                   int m, uint64_t M, uint64_t blocks) {
  std::vector<std::vector<uint32_t>> counts(templates.size(), std::vector<uint32_t>(blocks, 0));
  for (size_t t = 0; t < templates.size(); ++t) {
    for (uint64_t i = 0; i < blocks; ++i) {
      uint32_t w = 0;
      for (uint64_t j = 0; j + m <= M; ++j) {
        bool match = true;
        for (int k = 0; k < m; ++k) {
          if (e[i * M + j + k] != ((templates[t] >> (m - 1 - k)) & 1)) {
            match = false;
            break;
          }
        }
        if (match) {
          ++w;
          j += m - 1;  // non-overlapping: resume after the match
        }
      }
      counts[t][i] = w;
    }
  }
  return counts;
}

std::vector<uint32_t> overlapping_counts(std::span<const uint8_t> e, uint32_t pattern, int m, uint64_t M,
                                         uint64_t blocks) {
  std::vector<uint32_t> out(blocks, 0);
  for (uint64_t i = 0; i < blocks; ++i) {
    for (uint64_t j = 0; j + m <= M; ++j) {
      bool match = true;
      for (int k = 0; k < m; ++k) match = match && e[i * M + j + k] == ((pattern >> (m - 1 - k)) & 1);
      out[i] += match;
    }
  }
  return out;
}

std::vector<uint32_t> cyclic_window_counts(std::span<const uint8_t> e, int m) {
  const size_t n = e.size();
  std::vector<uint32_t> counts(size_t{1} << m, 0);
  for (size_t i = 0; i < n; ++i) {
    uint32_t v = 0;
    for (int j = 0; j < m; ++j) v = (v << 1) | e[(i + j) % n];
    ++counts[v];
  }
  return counts;
}

Excursions excursions(std::span<const uint8_t> e) {
  // The partial sums, the cycles between zeros, then the visits per cycle — as 2.14.4 steps (1)-(5).
  const size_t n = e.size();
  std::vector<int64_t> S(n);
  int64_t s = 0;
  Excursions ex;
  std::vector<size_t> cycle_end;  // exclusive end of each cycle
  for (size_t i = 0; i < n; ++i) {
    s += e[i] ? 1 : -1;
    S[i] = s;
    if (s == 0) {
      ++ex.zeros;
      cycle_end.push_back(i + 1);
    }
  }
  if (n > 0 && S[n - 1] != 0) cycle_end.push_back(n);
  ex.cycles = cycle_end.size();
  size_t start = 0;
  for (size_t end : cycle_end) {
    const int states[8] = {-4, -3, -2, -1, 1, 2, 3, 4};
    for (int i = 0; i < 8; ++i) {
      uint64_t c = 0;
      for (size_t k = start; k < end; ++k) c += S[k] == states[i];
      ++ex.nu[std::min<uint64_t>(c, 5)][i];
    }
    start = end;
  }
  const int vstates[18] = {-9, -8, -7, -6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int j = 0; j < 18; ++j) {
    for (size_t k = 0; k < n; ++k) ex.visits[j] += S[k] == vstates[j];
  }
  return ex;
}

int linear_complexity(std::span<const uint8_t> s) {
  // Berlekamp-Massey over GF(2), 2.10.4 step (2) / Massey 1969.
  const size_t M = s.size();
  std::vector<uint8_t> C(M + 1, 0), B(M + 1, 0), T;
  C[0] = B[0] = 1;
  int64_t L = 0, m = -1;
  for (size_t N = 0; N < M; ++N) {
    int d = s[N];
    for (int64_t i = 1; i <= L; ++i) d ^= C[i] & s[N - i];
    if (d == 0) continue;
    T = C;
    for (size_t j = 0; j + (N - m) <= M; ++j) C[j + (N - m)] ^= B[j];
    if (L <= static_cast<int64_t>(N) / 2) {
      L = static_cast<int64_t>(N) + 1 - L;
      m = static_cast<int64_t>(N);
      B = T;
    }
  }
  return static_cast<int>(L);
}

std::vector<int> linear_complexities(std::span<const uint8_t> e, uint64_t M, uint64_t blocks) {
  std::vector<int> out(blocks);
  for (uint64_t i = 0; i < blocks; ++i) out[i] = linear_complexity(e.subspan(i * M, M));
  return out;
}

double universal_log_sum(std::span<const uint8_t> e, int L, uint64_t Q, uint64_t K) {
  std::vector<uint64_t> T(size_t{1} << L, 0);
  auto block = [&](uint64_t i) {  // 1-based block index
    uint64_t v = 0;
    for (int j = 0; j < L; ++j) v = 2 * v + e[(i - 1) * L + j];
    return v;
  };
  for (uint64_t i = 1; i <= Q; ++i) T[block(i)] = i;
  double sum = 0.0;
  for (uint64_t i = Q + 1; i <= Q + K; ++i) {
    const uint64_t v = block(i);
    sum += std::log(static_cast<double>(i - T[v])) / std::log(2.0);
    T[v] = i;
  }
  return sum;
}

uint64_t dft_count_below(std::span<const uint8_t> e, double threshold) {
  const size_t n = e.size();
  uint64_t count = 0;
  for (size_t j = 0; j < n / 2; ++j) {
    std::complex<long double> acc = 0;
    for (size_t k = 0; k < n; ++k) {
      // Reduce j*k mod n exactly before the angle, so the naive sum stays accurate.
      const long double angle = -2.0L * std::numbers::pi_v<long double> * static_cast<long double>((j * k) % n) / n;
      acc += (e[k] ? 1.0L : -1.0L) * std::polar(1.0L, angle);
    }
    count += std::abs(acc) < threshold;
  }
  return count;
}

}  // namespace rngfree::nist::kernels::reference
