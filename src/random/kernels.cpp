// The generators' inner loops (src/random/kernels.hpp), written as plain loops over arrays of lanes
// so that the compiler vectorizes them, compiled three times (AVX-512, AVX2, portable) and chosen
// at run time. Philox4x32-10 follows Salmon et al., "Parallel random numbers: as easy as 1, 2, 3"
// (SC 2011) and Random123's philox.h; xoshiro128++ follows Blackman & Vigna's reference code.
#include "kernels.hpp"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized at -O3 (GCC bug 105593): not our code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <bit>
#include <cstring>
#include <utility>

#include "rngfree/error.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::random::detail {
namespace {

inline uint32_t rotl32(uint32_t x, int k) { return (x << k) | (x >> (32 - k)); }

// ---- Philox4x32-10 ---------------------------------------------------------------------------
constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

template <int N>
[[gnu::always_inline]] inline void philox_group(uint64_t block, uint32_t c2, uint32_t c3, uint32_t k0,
                                                uint32_t k1, uint32_t* out) {
  uint32_t x0[N], x1[N], x2[N], x3[N];
  for (int j = 0; j < N; ++j) {
    const uint64_t c = block + static_cast<uint64_t>(j);
    x0[j] = static_cast<uint32_t>(c);
    x1[j] = static_cast<uint32_t>(c >> 32);
    x2[j] = c2;
    x3[j] = c3;
  }
  for (int r = 0; r < 10; ++r) {
    for (int j = 0; j < N; ++j) {
      const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * x0[j];
      const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * x2[j];
      const uint32_t y0 = static_cast<uint32_t>(p1 >> 32) ^ x1[j] ^ k0;
      const uint32_t y2 = static_cast<uint32_t>(p0 >> 32) ^ x3[j] ^ k1;
      x0[j] = y0;
      x1[j] = static_cast<uint32_t>(p1);
      x2[j] = y2;
      x3[j] = static_cast<uint32_t>(p0);
    }
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  for (int j = 0; j < N; ++j) {
    out[4 * j + 0] = x0[j];
    out[4 * j + 1] = x1[j];
    out[4 * j + 2] = x2[j];
    out[4 * j + 3] = x3[j];
  }
}

template <int N>
[[gnu::always_inline]] inline void philox_blocks_t(uint64_t first, uint64_t site, uint32_t k0, uint32_t k1,
                                                   uint32_t* out, int64_t blocks) {
  const auto c2 = static_cast<uint32_t>(site), c3 = static_cast<uint32_t>(site >> 32);
  int64_t b = 0;
  for (; b + N <= blocks; b += N) philox_group<N>(first + b, c2, c3, k0, k1, out + 4 * b);
  if (b < blocks) {
    uint32_t tmp[4 * N];
    philox_group<N>(first + b, c2, c3, k0, k1, tmp);
    std::memcpy(out + 4 * b, tmp, sizeof(uint32_t) * 4 * static_cast<size_t>(blocks - b));
  }
}

// Hand-vectorized Philox: lanes hold blocks; the 32x32->64 products come from mul_epu32 on the
// even and (shifted) odd lanes; the four output vectors are transposed so that each block's
// x0..x3 land at consecutive addresses.
#define RNGFREE_PHILOX_ROUND(MUL, SRLI, SLLI, BLEND, XOR, x0, x1, x2, x3, k0v, k1v, m0, m1) \
  do {                                                                                     \
    const auto pe0 = MUL(x0, m0), po0 = MUL(SRLI(x0, 32), m0);                             \
    const auto pe1 = MUL(x2, m1), po1 = MUL(SRLI(x2, 32), m1);                             \
    const auto lo0 = BLEND(pe0, SLLI(po0, 32)), hi0 = BLEND(SRLI(pe0, 32), po0);           \
    const auto lo1 = BLEND(pe1, SLLI(po1, 32)), hi1 = BLEND(SRLI(pe1, 32), po1);           \
    x0 = XOR(XOR(hi1, x1), k0v);                                                           \
    x1 = lo1;                                                                              \
    x2 = XOR(XOR(hi0, x3), k1v);                                                           \
    x3 = lo0;                                                                              \
  } while (0)

// AVX-512: the odd lanes' factors are moved down by a pair swap (port 5, next to the multiplier on
// port 0); hi/lo words are merged from the even and odd products with one masked pair swap each, and
// the three-way XOR is one vpternlogd.
#define RNGFREE_PHILOX_ROUND512(x0, x1, x2, x3, k0v, k1v, m0, m1)                                   \
  do {                                                                                           \
    const __m512i pe0 = _mm512_mul_epu32(x0, m0);                                                \
    const __m512i po0 = _mm512_mul_epu32(_mm512_shuffle_epi32(x0, _MM_PERM_CDAB), m0);            \
    const __m512i pe1 = _mm512_mul_epu32(x2, m1);                                                \
    const __m512i po1 = _mm512_mul_epu32(_mm512_shuffle_epi32(x2, _MM_PERM_CDAB), m1);            \
    const __m512i hi0 = _mm512_mask_shuffle_epi32(po0, 0x5555, pe0, _MM_PERM_CDAB);              \
    const __m512i lo0 = _mm512_mask_shuffle_epi32(pe0, 0xAAAA, po0, _MM_PERM_CDAB);              \
    const __m512i hi1 = _mm512_mask_shuffle_epi32(po1, 0x5555, pe1, _MM_PERM_CDAB);              \
    const __m512i lo1 = _mm512_mask_shuffle_epi32(pe1, 0xAAAA, po1, _MM_PERM_CDAB);              \
    x0 = _mm512_ternarylogic_epi32(hi1, x1, k0v, 0x96);                                          \
    x1 = lo1;                                                                                    \
    x2 = _mm512_ternarylogic_epi32(hi0, x3, k1v, 0x96);                                          \
    x3 = lo0;                                                                                    \
  } while (0)
RNGFREE_TARGET_AVX512 void philox_avx512(uint64_t first, uint64_t site, uint32_t k0, uint32_t k1, uint32_t* out,
                                         int64_t blocks) {
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i m0 = _mm512_set1_epi64(kPhiloxM0), m1 = _mm512_set1_epi64(kPhiloxM1);
  const __m512i c2 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(site)));
  const __m512i c3 = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(site >> 32)));
  int64_t b = 0;
  for (; b + 32 <= blocks; b += 32) {  // two independent groups of 16 blocks for latency hiding
    __m512i a0, a1, a2, a3, e0, e1, e2, e3;
    {
      const uint64_t base = first + static_cast<uint64_t>(b);
      const __m512i lo = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(base)));
      const __m512i hi = _mm512_set1_epi32(static_cast<int>(static_cast<uint32_t>(base >> 32)));
      a0 = _mm512_add_epi32(lo, iota);
      a1 = _mm512_mask_add_epi32(hi, _mm512_cmplt_epu32_mask(a0, lo), hi, _mm512_set1_epi32(1));
      const __m512i lo2 = _mm512_add_epi32(lo, _mm512_set1_epi32(16));
      const __m512i hi2 = _mm512_mask_add_epi32(hi, _mm512_cmplt_epu32_mask(lo2, lo), hi, _mm512_set1_epi32(1));
      e0 = _mm512_add_epi32(lo2, iota);
      e1 = _mm512_mask_add_epi32(hi2, _mm512_cmplt_epu32_mask(e0, lo2), hi2, _mm512_set1_epi32(1));
      a2 = e2 = c2;
      a3 = e3 = c3;
    }
    uint32_t kk0 = k0, kk1 = k1;
    for (int r = 0; r < 10; ++r) {
      const __m512i k0v = _mm512_set1_epi32(static_cast<int>(kk0)), k1v = _mm512_set1_epi32(static_cast<int>(kk1));
      RNGFREE_PHILOX_ROUND512(a0, a1, a2, a3, k0v, k1v, m0, m1);
      RNGFREE_PHILOX_ROUND512(e0, e1, e2, e3, k0v, k1v, m0, m1);
      kk0 += kPhiloxW0;
      kk1 += kPhiloxW1;
    }
    for (int g = 0; g < 2; ++g) {
      const __m512i x0 = g ? e0 : a0, x1 = g ? e1 : a1, x2 = g ? e2 : a2, x3 = g ? e3 : a3;
      const __m512i t0 = _mm512_unpacklo_epi32(x0, x1), t1 = _mm512_unpackhi_epi32(x0, x1);
      const __m512i t2 = _mm512_unpacklo_epi32(x2, x3), t3 = _mm512_unpackhi_epi32(x2, x3);
      const __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
      const __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
      const __m512i v01lo = _mm512_shuffle_i32x4(u0, u1, 0x44), v23lo = _mm512_shuffle_i32x4(u2, u3, 0x44);
      const __m512i v01hi = _mm512_shuffle_i32x4(u0, u1, 0xEE), v23hi = _mm512_shuffle_i32x4(u2, u3, 0xEE);
      uint32_t* o = out + 4 * (b + 16 * g);
      _mm512_storeu_si512(o, _mm512_shuffle_i32x4(v01lo, v23lo, 0x88));
      _mm512_storeu_si512(o + 16, _mm512_shuffle_i32x4(v01lo, v23lo, 0xDD));
      _mm512_storeu_si512(o + 32, _mm512_shuffle_i32x4(v01hi, v23hi, 0x88));
      _mm512_storeu_si512(o + 48, _mm512_shuffle_i32x4(v01hi, v23hi, 0xDD));
    }
  }
  if (blocks - b >= 4) {  // a short tail: one full vector pass into a buffer beats the scalar path
    uint32_t tmp[4 * 32];
    philox_avx512(first + static_cast<uint64_t>(b), site, k0, k1, tmp, 32);
    std::memcpy(out + 4 * b, tmp, sizeof(uint32_t) * 4 * static_cast<size_t>(blocks - b));
  } else if (b < blocks) {
    philox_blocks_t<4>(first + static_cast<uint64_t>(b), site, k0, k1, out + 4 * b, blocks - b);
  }
}

[[gnu::always_inline]] RNGFREE_TARGET_AVX2 inline void store256(uint32_t* p, __m256i v) { std::memcpy(p, &v, sizeof v); }

#define RNGFREE_BLEND256(a, b) _mm256_blend_epi32(a, b, 0xAA)
RNGFREE_TARGET_AVX2 void philox_avx2(uint64_t first, uint64_t site, uint32_t k0, uint32_t k1, uint32_t* out,
                                     int64_t blocks) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_set1_epi64x(kPhiloxM0), m1 = _mm256_set1_epi64x(kPhiloxM1);
  const __m256i c2 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(site)));
  const __m256i c3 = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(site >> 32)));
  const __m256i sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
  int64_t b = 0;
  for (; b + 16 <= blocks; b += 16) {
    __m256i v[2][4];
    for (int g = 0; g < 2; ++g) {
      const uint64_t base = first + static_cast<uint64_t>(b + 8 * g);
      const __m256i lo = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(base)));
      const __m256i hi = _mm256_set1_epi32(static_cast<int>(static_cast<uint32_t>(base >> 32)));
      const __m256i x0 = _mm256_add_epi32(lo, iota);
      // unsigned x0 < lo (wrapped) via signed compare of sign-flipped values; carry = -1 in those lanes
      const __m256i carry = _mm256_cmpgt_epi32(_mm256_xor_si256(lo, sign), _mm256_xor_si256(x0, sign));
      v[g][0] = x0;
      v[g][1] = _mm256_sub_epi32(hi, carry);
      v[g][2] = c2;
      v[g][3] = c3;
    }
    uint32_t kk0 = k0, kk1 = k1;
    for (int r = 0; r < 10; ++r) {
      const __m256i k0v = _mm256_set1_epi32(static_cast<int>(kk0)), k1v = _mm256_set1_epi32(static_cast<int>(kk1));
      RNGFREE_PHILOX_ROUND(_mm256_mul_epu32, _mm256_srli_epi64, _mm256_slli_epi64, RNGFREE_BLEND256, _mm256_xor_si256,
                           v[0][0], v[0][1], v[0][2], v[0][3], k0v, k1v, m0, m1);
      RNGFREE_PHILOX_ROUND(_mm256_mul_epu32, _mm256_srli_epi64, _mm256_slli_epi64, RNGFREE_BLEND256, _mm256_xor_si256,
                           v[1][0], v[1][1], v[1][2], v[1][3], k0v, k1v, m0, m1);
      kk0 += kPhiloxW0;
      kk1 += kPhiloxW1;
    }
    for (int g = 0; g < 2; ++g) {
      const __m256i t0 = _mm256_unpacklo_epi32(v[g][0], v[g][1]), t1 = _mm256_unpackhi_epi32(v[g][0], v[g][1]);
      const __m256i t2 = _mm256_unpacklo_epi32(v[g][2], v[g][3]), t3 = _mm256_unpackhi_epi32(v[g][2], v[g][3]);
      const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
      const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
      uint32_t* o = out + 4 * (b + 8 * g);
      store256(o, _mm256_permute2x128_si256(u0, u1, 0x20));
      store256(o + 8, _mm256_permute2x128_si256(u2, u3, 0x20));
      store256(o + 16, _mm256_permute2x128_si256(u0, u1, 0x31));
      store256(o + 24, _mm256_permute2x128_si256(u2, u3, 0x31));
    }
  }
  if (blocks - b >= 4) {  // a short tail: one full vector pass into a buffer beats the scalar path
    uint32_t tmp[4 * 16];
    philox_avx2(first + static_cast<uint64_t>(b), site, k0, k1, tmp, 16);
    std::memcpy(out + 4 * b, tmp, sizeof(uint32_t) * 4 * static_cast<size_t>(blocks - b));
  } else if (b < blocks) {
    philox_blocks_t<4>(first + static_cast<uint64_t>(b), site, k0, k1, out + 4 * b, blocks - b);
  }
}
void philox_portable(uint64_t f, uint64_t s, uint32_t k0, uint32_t k1, uint32_t* o, int64_t n) {
  philox_blocks_t<4>(f, s, k0, k1, o, n);
}

// ---- Banks of lanes -----------------------------------------------------------------------------
template <int L>
[[gnu::always_inline]] inline void xoshiro_t(uint32_t* s0, uint32_t* s1, uint32_t* s2, uint32_t* s3,
                                             uint32_t* out, int64_t rows) {
  uint32_t a[L], b[L], c[L], d[L];
  for (int j = 0; j < L; ++j) a[j] = s0[j], b[j] = s1[j], c[j] = s2[j], d[j] = s3[j];
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t* o = out + r * L;
    for (int j = 0; j < L; ++j) {
      o[j] = rotl32(a[j] + d[j], 7) + a[j];
      const uint32_t t = b[j] << 9;
      c[j] ^= a[j];
      d[j] ^= b[j];
      b[j] ^= c[j];
      a[j] ^= d[j];
      c[j] ^= t;
      d[j] = rotl32(d[j], 11);
    }
  }
  for (int j = 0; j < L; ++j) s0[j] = a[j], s1[j] = b[j], s2[j] = c[j], s3[j] = d[j];
}

template <int L>
[[gnu::always_inline]] inline void xorshift_t(uint32_t* s, uint32_t* out, int64_t rows) {
  uint32_t x[L];
  for (int j = 0; j < L; ++j) x[j] = s[j];
  for (int64_t r = 0; r < rows; ++r) {
    uint32_t* o = out + r * L;
    for (int j = 0; j < L; ++j) {
      uint32_t v = x[j];
      v ^= v << 13;
      v ^= v >> 17;
      v ^= v << 5;
      x[j] = v;
      o[j] = v;
    }
  }
  for (int j = 0; j < L; ++j) s[j] = x[j];
}

// W <= 32 runs on 32-bit lanes (twice the SIMD width), W > 32 on 64-bit lanes.
// Four rows per pass, each from the pass's first state x: the step T is linear over GF(2) and
// T^k(x) = (x >> k) ^ XOR_{j<k} [bit j of x] T^k(e_j) (the bits at k and above only shift down for
// k steps, e_j = bit j alone), so rows 1..4 need 1..4 masked constants each and no row waits for
// the one before: the loop-carried chain is one row's (x -> T^4(x)), not four.
// kFour false: one row at a time (where four per pass measured slower: the targets whose vectors are
// too narrow for the extra operations, docs/results.md).
template <int L, typename T, bool kFour>
[[gnu::always_inline]] inline void lfsr_t(uint64_t* s, uint64_t mask64, uint32_t* out, int64_t rows) {
  const T mask = static_cast<T>(mask64);
  const auto step = [mask](T v) { return (v >> 1) ^ ((T{0} - (v & T{1})) & mask); };
  T g[4][4] = {};  // g[k-1][j] = T^k(e_j), j < k
  for (int j = 0; j < 4; ++j) {
    T e = T{1} << j;
    for (int k = 0; k < 4; ++k) {
      e = step(e);
      if (j <= k) g[k][j] = e;
    }
  }
  // Lanes in groups of at most 16, each group's states in registers through all its rows (with all
  // 64 lanes of 64 bits at once, GCC 12's AVX2 code for the four-row pass gave wrong words: caught by
  // Streams.EverySimdLevelGivesTheSameWords).
  constexpr int G = L < 16 ? L : 16;
  for (int j0 = 0; j0 < L; j0 += G) {
    T x[G];
    for (int j = 0; j < G; ++j) x[j] = static_cast<T>(s[j0 + j]);
    int64_t r = 0;
    for (; kFour && r + 4 <= rows; r += 4) {
      uint32_t* o = out + r * L + j0;
      for (int j = 0; j < G; ++j) {
        const T v = x[j];
        const T m0 = T{0} - (v & T{1}), m1 = T{0} - ((v >> 1) & T{1});
        const T m2 = T{0} - ((v >> 2) & T{1}), m3 = T{0} - ((v >> 3) & T{1});
        const T y1 = (v >> 1) ^ (m0 & g[0][0]);
        const T y2 = (v >> 2) ^ (m0 & g[1][0]) ^ (m1 & g[1][1]);
        const T y3 = (v >> 3) ^ (m0 & g[2][0]) ^ (m1 & g[2][1]) ^ (m2 & g[2][2]);
        const T y4 = (v >> 4) ^ ((m0 & g[3][0]) ^ (m1 & g[3][1])) ^ ((m2 & g[3][2]) ^ (m3 & g[3][3]));
        o[j] = static_cast<uint32_t>(y1);
        o[L + j] = static_cast<uint32_t>(y2);
        o[2 * L + j] = static_cast<uint32_t>(y3);
        o[3 * L + j] = static_cast<uint32_t>(y4);
        x[j] = y4;
      }
    }
    for (; r < rows; ++r) {
      uint32_t* o = out + r * L + j0;
      for (int j = 0; j < G; ++j) {
        x[j] = step(x[j]);
        o[j] = static_cast<uint32_t>(x[j]);
      }
    }
    for (int j = 0; j < G; ++j) s[j0 + j] = x[j];
  }
}

// One lane (the single-stream lfsr:W:1) is bound by the chain's latency on every target: four rows
// per pass there too.
template <int L, bool kFour32, bool kFour64>
[[gnu::always_inline]] inline void lfsr_lanes(bool narrow, uint64_t* s, uint64_t mask, uint32_t* out, int64_t rows) {
  if (narrow) return lfsr_t<L, uint32_t, kFour32 || L == 1>(s, mask, out, rows);
  lfsr_t<L, uint64_t, kFour64 || L == 1>(s, mask, out, rows);
}

// ---- One xoshiro128++ stream in blocks (kernels.hpp) ---------------------------------------------
template <int L>
struct LaneWords;
template <>
struct LaneWords<16> {
  using V = uint32_t __attribute__((vector_size(64)));
};
template <>
struct LaneWords<8> {
  using V = uint32_t __attribute__((vector_size(32)));
};
template <>
struct LaneWords<4> {
  using V = uint32_t __attribute__((vector_size(16)));
};

// lo = a0 b0 a1 b1 ... (first halves interleaved), hi = the second halves interleaved. log2(L)
// rounds of v'[2k], v'[2k+1] = zip(v[k], v[k + L/2]) transpose L vectors of L lanes.
template <int L, size_t... I>
[[gnu::always_inline]] inline void zip_lanes(const typename LaneWords<L>::V& a, const typename LaneWords<L>::V& b,
                                             typename LaneWords<L>::V& lo, typename LaneWords<L>::V& hi,
                                             std::index_sequence<I...>) {
  lo = __builtin_shufflevector(a, b, (I % 2 ? L + I / 2 : I / 2)...);
  hi = __builtin_shufflevector(a, b, (I % 2 ? L + L / 2 + I / 2 : L / 2 + I / 2)...);
}

template <int L>
[[gnu::always_inline]] inline void xoshiro_blocks_t(const uint32_t* table, uint32_t* s, uint32_t* out, int64_t blocks) {
  using V = typename LaneWords<L>::V;
  constexpr int64_t kSpan = kXoshiroBlock / L;
  for (int64_t blk = 0; blk < blocks; ++blk, out += kXoshiroBlock) {
    V a{}, b{}, c{}, d{};  // lane i: the state kSpan·i steps past s
    for (int j = 0; j < 128; ++j) {
      const uint32_t m = 0u - ((s[j >> 5] >> (j & 31)) & 1u);
      const uint32_t* t = table + j * 4 * L;
      V t0, t1, t2, t3;
      std::memcpy(&t0, t, sizeof(V));
      std::memcpy(&t1, t + L, sizeof(V));
      std::memcpy(&t2, t + 2 * L, sizeof(V));
      std::memcpy(&t3, t + 3 * L, sizeof(V));
      a ^= t0 & m, b ^= t1 & m, c ^= t2 & m, d ^= t3 & m;
    }
    for (int64_t j0 = 0; j0 < kSpan; j0 += L) {
      V v[L];  // v[k]: every lane's word k of these L steps
#pragma GCC unroll 16
      for (int k = 0; k < L; ++k) {
        const V x = a + d;
        v[k] = ((x << 7) | (x >> 25)) + a;
        const V t = b << 9;
        c ^= a, d ^= b, b ^= c, a ^= d, c ^= t;
        d = (d << 11) | (d >> 21);
      }
#pragma GCC unroll 4
      for (int h = L / 2; h >= 1; h /= 2) {  // transpose: v[i] = lane i's words j0..j0+L-1
        V w[L];
#pragma GCC unroll 8
        for (int k = 0; k < L / 2; ++k) {
          zip_lanes<L>(v[k], v[k + L / 2], w[2 * k], w[2 * k + 1], std::make_index_sequence<L>());
        }
#pragma GCC unroll 16
        for (int k = 0; k < L; ++k) v[k] = w[k];
      }
#pragma GCC unroll 16
      for (int i = 0; i < L; ++i) std::memcpy(out + i * kSpan + j0, &v[i], sizeof(V));
    }
    // Lane L-1 ends kSpan·L = kXoshiroBlock steps past s: the next block's start.
    s[0] = a[L - 1], s[1] = b[L - 1], s[2] = c[L - 1], s[3] = d[L - 1];
  }
}

RNGFREE_TARGET_AVX512 void xoshiro_blocks_avx512(const uint32_t* t, uint32_t* s, uint32_t* out, int64_t blocks) {
  xoshiro_blocks_t<16>(t, s, out, blocks);
}
RNGFREE_TARGET_AVX2 void xoshiro_blocks_avx2(const uint32_t* t, uint32_t* s, uint32_t* out, int64_t blocks) {
  xoshiro_blocks_t<8>(t, s, out, blocks);
}
void xoshiro_blocks_portable(const uint32_t* t, uint32_t* s, uint32_t* out, int64_t blocks) {
  xoshiro_blocks_t<4>(t, s, out, blocks);
}

#define RNGFREE_BANK_VARIANTS(SUFFIX, ATTR, FOUR32, FOUR64)                                           \
  ATTR void xoshiro_##SUFFIX(uint32_t* s0, uint32_t* s1, uint32_t* s2, uint32_t* s3, int lanes,       \
                             uint32_t* out, int64_t rows) {                                            \
    switch (lanes) {                                                                                   \
      case 1: xoshiro_t<1>(s0, s1, s2, s3, out, rows); break;                                          \
      case 2: xoshiro_t<2>(s0, s1, s2, s3, out, rows); break;                                          \
      case 4: xoshiro_t<4>(s0, s1, s2, s3, out, rows); break;                                          \
      case 8: xoshiro_t<8>(s0, s1, s2, s3, out, rows); break;                                          \
      case 16: xoshiro_t<16>(s0, s1, s2, s3, out, rows); break;                                        \
      case 32: xoshiro_t<32>(s0, s1, s2, s3, out, rows); break;                                        \
      case 64: xoshiro_t<64>(s0, s1, s2, s3, out, rows); break;                                        \
      default: RNGFREE_CHECK(false, "lane count must be a power of two in 1..64");                     \
    }                                                                                                  \
  }                                                                                                    \
  ATTR void xorshift_##SUFFIX(uint32_t* s, int lanes, uint32_t* out, int64_t rows) {                   \
    switch (lanes) {                                                                                   \
      case 1: xorshift_t<1>(s, out, rows); break;                                                      \
      case 2: xorshift_t<2>(s, out, rows); break;                                                      \
      case 4: xorshift_t<4>(s, out, rows); break;                                                      \
      case 8: xorshift_t<8>(s, out, rows); break;                                                      \
      case 16: xorshift_t<16>(s, out, rows); break;                                                    \
      case 32: xorshift_t<32>(s, out, rows); break;                                                    \
      case 64: xorshift_t<64>(s, out, rows); break;                                                    \
      default: RNGFREE_CHECK(false, "lane count must be a power of two in 1..64");                     \
    }                                                                                                  \
  }                                                                                                    \
  ATTR void lfsr_##SUFFIX(uint64_t* s, uint64_t mask, int lanes, uint32_t* out, int64_t rows) {        \
    const bool narrow = (mask >> 32) == 0;                                                             \
    switch (lanes) {                                                                                   \
      case 1: lfsr_lanes<1, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                        \
      case 2: lfsr_lanes<2, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                        \
      case 4: lfsr_lanes<4, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                        \
      case 8: lfsr_lanes<8, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                        \
      case 16: lfsr_lanes<16, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                      \
      case 32: lfsr_lanes<32, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                      \
      case 64: lfsr_lanes<64, FOUR32, FOUR64>(narrow, s, mask, out, rows); break;                      \
      default: RNGFREE_CHECK(false, "lane count must be a power of two in 1..64");                     \
    }                                                                                                  \
  }

RNGFREE_BANK_VARIANTS(avx512, RNGFREE_TARGET_AVX512, true, true)
RNGFREE_BANK_VARIANTS(avx2, RNGFREE_TARGET_AVX2, true, false)
RNGFREE_BANK_VARIANTS(portable, , false, false)

// ---- MT19937 (Matsumoto & Nishimura 1998) ---------------------------------------------------------
constexpr int kMtN = 624, kMtM = 397;
constexpr uint32_t kMtA = 0x9908B0DFu, kMtUpper = 0x80000000u, kMtLower = 0x7FFFFFFFu;

[[gnu::always_inline]] inline void mt_block_t(uint32_t* mt, uint32_t* out) {
  // The twist in three vectorizable pieces: i < N-M reads old words only; N-M <= i < N-1 reads
  // mt[i-(N-M)], already new (distance 227 >= any vector width); the last word wraps to mt[0].
  for (int i = 0; i < kMtN - kMtM; ++i) {
    const uint32_t y = (mt[i] & kMtUpper) | (mt[i + 1] & kMtLower);
    mt[i] = mt[i + kMtM] ^ (y >> 1) ^ ((0u - (y & 1u)) & kMtA);
  }
  for (int i = kMtN - kMtM; i < kMtN - 1; ++i) {
    const uint32_t y = (mt[i] & kMtUpper) | (mt[i + 1] & kMtLower);
    mt[i] = mt[i - (kMtN - kMtM)] ^ (y >> 1) ^ ((0u - (y & 1u)) & kMtA);
  }
  {
    const uint32_t y = (mt[kMtN - 1] & kMtUpper) | (mt[0] & kMtLower);
    mt[kMtN - 1] = mt[kMtM - 1] ^ (y >> 1) ^ ((0u - (y & 1u)) & kMtA);
  }
  for (int i = 0; i < kMtN; ++i) {
    uint32_t y = mt[i];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9D2C5680u;
    y ^= (y << 15) & 0xEFC60000u;
    y ^= y >> 18;
    out[i] = y;
  }
}
RNGFREE_TARGET_AVX512 void mt_avx512(uint32_t* mt, uint32_t* out) { mt_block_t(mt, out); }
RNGFREE_TARGET_AVX2 void mt_avx2(uint32_t* mt, uint32_t* out) { mt_block_t(mt, out); }
void mt_portable(uint32_t* mt, uint32_t* out) { mt_block_t(mt, out); }

// ---- Packed words (GEN/R): 32/R words of R bits from each 32-bit word --------------------------
using AliasingU16 = uint16_t __attribute__((may_alias));  // reads a word's halves in place
template <int kBits>
[[gnu::always_inline]] inline void unpack_t(const uint32_t* __restrict in, int64_t words, uint32_t* __restrict out) {
  constexpr int kPer = 32 / kBits;
  constexpr uint32_t kMask = (uint32_t{1} << kBits) - 1;
  if constexpr (std::endian::native == std::endian::little && kBits == 8) {
    // Field j of a word is its j-th byte in memory: one zero extension per field.
    const auto* b = reinterpret_cast<const unsigned char*>(in);
    for (int64_t t = 0; t < words * 4; ++t) out[t] = b[t];
  } else if constexpr (std::endian::native == std::endian::little && kBits == 16) {
    const auto* h = reinterpret_cast<const AliasingU16*>(in);
    for (int64_t t = 0; t < words * 2; ++t) out[t] = h[t];
  } else {
    for (int64_t i = 0; i < words; ++i) {
      const uint32_t w = in[i];
      for (int j = 0; j < kPer; ++j) out[i * kPer + j] = (w >> (kBits * j)) & kMask;
    }
  }
}
template <int kBits>
RNGFREE_TARGET_AVX512 void unpack_avx512(const uint32_t* in, int64_t words, uint32_t* out) {
  unpack_t<kBits>(in, words, out);
}
template <int kBits>
RNGFREE_TARGET_AVX2 void unpack_avx2(const uint32_t* in, int64_t words, uint32_t* out) {
  unpack_t<kBits>(in, words, out);
}
template <int kBits>
void unpack_portable(const uint32_t* in, int64_t words, uint32_t* out) {
  unpack_t<kBits>(in, words, out);
}
template <int kBits>
void unpack_dispatch(const uint32_t* in, int64_t words, uint32_t* out) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return unpack_avx512<kBits>(in, words, out);
    case SimdLevel::kAvx2: return unpack_avx2<kBits>(in, words, out);
    default: return unpack_portable<kBits>(in, words, out);
  }
}

}  // namespace

void philox_blocks(uint64_t first_block, uint64_t site, uint32_t k0, uint32_t k1, uint32_t* out, int64_t blocks) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return philox_avx512(first_block, site, k0, k1, out, blocks);
    case SimdLevel::kAvx2: return philox_avx2(first_block, site, k0, k1, out, blocks);
    default: return philox_portable(first_block, site, k0, k1, out, blocks);
  }
}
void xoshiro_rows(uint32_t* s0, uint32_t* s1, uint32_t* s2, uint32_t* s3, int lanes, uint32_t* out, int64_t rows) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return xoshiro_avx512(s0, s1, s2, s3, lanes, out, rows);
    case SimdLevel::kAvx2: return xoshiro_avx2(s0, s1, s2, s3, lanes, out, rows);
    default: return xoshiro_portable(s0, s1, s2, s3, lanes, out, rows);
  }
}
int xoshiro_block_lanes() {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return 16;
    case SimdLevel::kAvx2: return 8;
    default: return 4;
  }
}
void xoshiro_blocks(int lanes, const uint32_t* table, uint32_t* s, uint32_t* out, int64_t blocks) {
  switch (lanes) {
    case 16: return xoshiro_blocks_avx512(table, s, out, blocks);
    case 8: return xoshiro_blocks_avx2(table, s, out, blocks);
    case 4: return xoshiro_blocks_portable(table, s, out, blocks);
    default: RNGFREE_CHECK(false, "xoshiro_blocks: lanes must be 16, 8 or 4");
  }
}
void xorshift_rows(uint32_t* s, int lanes, uint32_t* out, int64_t rows) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return xorshift_avx512(s, lanes, out, rows);
    case SimdLevel::kAvx2: return xorshift_avx2(s, lanes, out, rows);
    default: return xorshift_portable(s, lanes, out, rows);
  }
}
void lfsr_rows(uint64_t* s, uint64_t mask, int lanes, uint32_t* out, int64_t rows) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return lfsr_avx512(s, mask, lanes, out, rows);
    case SimdLevel::kAvx2: return lfsr_avx2(s, mask, lanes, out, rows);
    default: return lfsr_portable(s, mask, lanes, out, rows);
  }
}
void unpack_words(int bits, const uint32_t* in, int64_t words, uint32_t* out) {
  switch (bits) {
    case 1: return unpack_dispatch<1>(in, words, out);
    case 2: return unpack_dispatch<2>(in, words, out);
    case 4: return unpack_dispatch<4>(in, words, out);
    case 8: return unpack_dispatch<8>(in, words, out);
    case 16: return unpack_dispatch<16>(in, words, out);
    default: RNGFREE_CHECK(false, "unpack_words: bits must be 1, 2, 4, 8 or 16");
  }
}
void mt19937_block(uint32_t* mt, uint32_t* out) {
  switch (simd_level()) {
    case SimdLevel::kAvx512: return mt_avx512(mt, out);
    case SimdLevel::kAvx2: return mt_avx2(mt, out);
    default: return mt_portable(mt, out);
  }
}

}  // namespace rngfree::random::detail
