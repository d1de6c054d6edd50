// Linear complexity of many blocks (SP 800-22 2.10, Berlekamp-Massey) eight blocks at a time: lane k
// of every 8 x 64-bit vector belongs to block k, and each lane runs Berlekamp-Massey on polynomials
// packed 64 coefficients per word, branch-free. Written with GCC vector extensions and compiled
// three times (portable SSE2, AVX2, AVX-512F), chosen at run time; all give identical results.
#include <algorithm>
#include <memory>

#include "rngfree/error.hpp"
#include "rngfree/nist/kernels.hpp"
#include "rngfree/simd.hpp"

namespace rngfree::nist::kernels {
namespace {

using V8 = uint64_t __attribute__((vector_size(64)));

// Steps N in [n0, n1), touching only the first kA (or a_dyn) words: at step N every polynomial has
// degree <= N + 1, so the words above (N+1)/64 are zero. The form used multiplies B' = x^(N-m) B by x
// every step. rs: the eight blocks reversed (bit k of the block = s_{M-1-k}), then zero words, so the
// discrepancy sum_{i<=L} c_i s_{N-i} is the parity of C AND (rs >> (M-1-N)) (C is zero above L).
template <size_t kA>
[[gnu::always_inline]] inline void bm_steps(const V8* rs, uint64_t M, uint64_t n0, uint64_t n1, size_t a_dyn, V8* C,
                                           V8* B, V8* L) {
  const size_t A = kA > 0 ? kA : a_dyn;
  V8 len = *L;
  for (uint64_t N = n0; N < n1; ++N) {
    const uint64_t off = M - 1 - N;
    const V8* src = rs + (off >> 6);
    const unsigned r = off & 63;
    for (size_t w = A; w-- > 1;) B[w] = (B[w] << 1) | (B[w - 1] >> 63);
    B[0] = B[0] << 1;
    V8 acc = C[0] & ((src[0] >> r) | ((src[1] << 1) << (63 - r)));
    for (size_t w = 1; w < A; ++w) acc ^= C[w] & ((src[w] >> r) | ((src[w + 1] << 1) << (63 - r)));
    acc ^= acc >> 32;
    acc ^= acc >> 16;
    acc ^= acc >> 8;
    acc ^= acc >> 4;
    acc ^= acc >> 2;
    acc ^= acc >> 1;
    const V8 d = -(acc & 1);                         // discrepancy 1: all ones
    // and L <= N/2 (N - 2L does not wrap around): the length grows.
    const V8 g = d & (((N - len * 2) >> 63) - 1);
    for (size_t w = 0; w < A; ++w) {
      const V8 c = C[w];
      C[w] = c ^ (B[w] & d);
      B[w] = (c & g) | (B[w] & ~g);
    }
    len = (g & (N + 1 - len)) | (~g & len);
  }
  *L = len;
}

[[gnu::always_inline]] inline void bm_all(const BitSequence& s, uint64_t M, uint64_t blocks, int* out) {
  const size_t W = static_cast<size_t>((M + 1 + 63) / 64);  // words for M + 1 coefficients
  const size_t rs_words = 2 * W + 3;                         // reversed block plus zero padding for shifted reads
  std::unique_ptr<V8[]> rs(new V8[rs_words]), C(new V8[W]), B(new V8[W]);
  for (uint64_t first = 0; first < blocks; first += 8) {
    const int lanes = static_cast<int>(std::min<uint64_t>(8, blocks - first));
    for (size_t w = 0; w < rs_words; ++w) rs[w] = V8{} ;
    for (int l = 0; l < lanes; ++l) {
      const uint64_t begin = (first + l) * M;
      for (uint64_t w = 0; 64 * w < M; ++w) {
        const uint64_t rem = M - 64 * w;
        rs[w][l] = rem >= 64 ? s.bits64(begin + rem - 64) : s.bits(begin, static_cast<unsigned>(rem));
      }
    }
    for (size_t w = 0; w < W; ++w) C[w] = B[w] = V8{};
    C[0] = B[0] = V8{} + 1;
    V8 L{};
    for (uint64_t n0 = 0; n0 < M; n0 += 64) {
      const uint64_t n1 = std::min<uint64_t>(M, n0 + 64);
      const size_t A = std::min<size_t>(W, static_cast<size_t>(n0 / 64) + 2);
      switch (A) {
        case 1: bm_steps<1>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 2: bm_steps<2>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 3: bm_steps<3>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 4: bm_steps<4>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 5: bm_steps<5>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 6: bm_steps<6>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 7: bm_steps<7>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        case 8: bm_steps<8>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
        default: bm_steps<0>(rs.get(), M, n0, n1, A, C.get(), B.get(), &L); break;
      }
    }
    for (int l = 0; l < lanes; ++l) out[first + l] = static_cast<int>(L[l]);
  }
}

void bm_portable(const BitSequence& s, uint64_t M, uint64_t blocks, int* out) { bm_all(s, M, blocks, out); }
RNGFREE_TARGET_AVX2 void bm_avx2(const BitSequence& s, uint64_t M, uint64_t blocks, int* out) {
  bm_all(s, M, blocks, out);
}
RNGFREE_TARGET_AVX512 void bm_avx512(const BitSequence& s, uint64_t M, uint64_t blocks, int* out) {
  bm_all(s, M, blocks, out);
}

}  // namespace

std::vector<int> linear_complexities(const BitSequence& s, uint64_t block_length, uint64_t blocks,
                                     std::optional<SimdLevel> level) {
  const uint64_t M = block_length;
  RNGFREE_CHECK(M >= 1 && blocks * M <= s.size(), "linear_complexities arguments out of range");
  RNGFREE_CHECK(!level || *level <= simd_level_supported(),
                "linear_complexities: instruction set not supported by this CPU");
  const SimdLevel use = level.value_or(simd_level());
  std::vector<int> out(blocks);
  if (blocks == 0) return out;
  switch (use) {
    case SimdLevel::kAvx512: bm_avx512(s, M, blocks, out.data()); break;
    case SimdLevel::kAvx2: bm_avx2(s, M, blocks, out.data()); break;
    case SimdLevel::kPortable: bm_portable(s, M, blocks, out.data()); break;
  }
  return out;
}

}  // namespace rngfree::nist::kernels
