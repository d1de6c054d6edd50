// The quantize kernels compiled for AVX-512 (quantize_kernels.hpp), in their own translation unit so
// that the targets compile in parallel; quantize.cpp dispatches to them at run time.
#include "quantize_kernels.hpp"

namespace rngfree::detail {

#if RNGFREE_X86
namespace {
RNGFREE_TARGET_AVX512 void stream_avx512(float* dst, const float* src, int64_t count) {
  for (int64_t i = 0; i < count; i += 16) _mm512_stream_ps(dst + i, _mm512_load_ps(src + i));
}
}  // namespace
RNGFREE_TARGET_AVX512 void run_loop_avx512(const LoopArgs& a) { run_loop_streaming<stream_avx512, true>(a); }
#else
void run_loop_avx512(const LoopArgs& a) { run_loop(a); }
#endif
RNGFREE_TARGET_AVX512 void run_blocks_avx512(const LoopArgs& a, int64_t b, int m, int r) { run_blocks<16>(a, b, m, r); }
RNGFREE_TARGET_AVX512 uint32_t max_finite_bits_avx512(const float* x, int64_t n) { return max_finite_bits(x, n); }

}  // namespace rngfree::detail
