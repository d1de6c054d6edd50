// Internal: the vectorized inner loops of the generators, compiled for AVX-512, AVX2 and a
// portable baseline, chosen once at run time (no -march=native). Each kernel is a plain loop over
// an array of lanes that the compiler vectorizes; every variant computes the same words.
#pragma once
#include <cstdint>

namespace rngfree::random::detail {

// Philox4x32-10 blocks with 128-bit counter (lo64 = first_block + j, hi64 = site) and key (k0, k1):
// writes 4·blocks words, block j's x0..x3 at out[4j..4j+3].
void philox_blocks(uint64_t first_block, uint64_t site, uint32_t k0, uint32_t k1, uint32_t* out,
                   int64_t blocks);

// Banks of L lanes (L = 1, 2, 4, ..., 64), state in structure-of-arrays form. Each row advances
// every lane one step and writes L words (lane j's word at out[row·L + j]).
void xoshiro_rows(uint32_t* s0, uint32_t* s1, uint32_t* s2, uint32_t* s3, int lanes, uint32_t* out,
                  int64_t rows);
void xorshift_rows(uint32_t* s, int lanes, uint32_t* out, int64_t rows);

// ONE xoshiro128++ stream (xoshiro_rows with one lane), a block of kXoshiroBlock words at a time:
// the block is cut into `lanes` spans of kXoshiroBlock / lanes words, run side by side in the
// vector lanes, lane i starting from the block's state advanced i spans — a GF(2)-linear map of
// the state, given by `table`: tab[(j·4 + w)·lanes + i] = word w of that map applied to state
// bit j alone (xoshiro_lane_table, generators.cpp) — and the lanes' words transposed back into
// stream order. Writes blocks·kXoshiroBlock words and advances s[0..3] past them.
// lanes: xoshiro_block_lanes() (16 for AVX-512, 8 for AVX2, 4 otherwise).
constexpr int64_t kXoshiroBlock = 4096;
int xoshiro_block_lanes();
void xoshiro_blocks(int lanes, const uint32_t* table, uint32_t* s, uint32_t* out, int64_t blocks);
const uint32_t* xoshiro_lane_table(int lanes);  // defined in generators.cpp
void lfsr_rows(uint64_t* s, uint64_t mask, int lanes, uint32_t* out, int64_t rows);

// Packed words (GEN/R, generators.cpp): each of `words` input words gives 32/bits output words,
// out[i·(32/bits) + j] = (in[i] >> (bits·j)) & (2^bits - 1). bits: 1, 2, 4, 8 or 16.
void unpack_words(int bits, const uint32_t* in, int64_t words, uint32_t* out);
// MT19937: regenerates the 624-word state block (the "twist") and tempers it into out[0..623].
void mt19937_block(uint32_t* mt, uint32_t* out);

}  // namespace rngfree::random::detail
