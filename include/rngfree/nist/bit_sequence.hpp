// A packed sequence of bits, the input of every SP 800-22 test (NIST SP 800-22 Rev 1a, section 1.4:
// epsilon_1..epsilon_n). Bits are stored most significant bit first in 64-bit words, so bit i is
// bit (63 - i % 64) of word i / 64; the words past the end are zero, so word-level kernels may read
// one word beyond the last bit without a check.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rngfree::nist {

class BitSequence {
 public:
  BitSequence() = default;

  // ASCII '0'/'1'; whitespace is ignored; any other character throws rngfree::Error naming its
  // (0-based byte) position in `text`. `max_bits` > 0 stops after that many bits.
  static BitSequence from_ascii(std::string_view text, uint64_t max_bits = 0);
  // Raw bytes, most significant bit of each byte first; `bit_count` <= 8 * bytes.size().
  static BitSequence from_bytes(std::span<const uint8_t> bytes, uint64_t bit_count);
  static BitSequence from_bytes(std::span<const uint8_t> bytes) { return from_bytes(bytes, bytes.size() * 8); }
  // The same from the bytes of a string (e.g. a file read into memory); bit_count 0 means all.
  static BitSequence from_bytes(std::string_view bytes, uint64_t bit_count = 0);
  // One bit per element (each element must be 0 or 1), e.g. bits harvested in memory.
  static BitSequence from_bits(std::span<const uint8_t> bits);
  // Packed words, most significant bit first; bits past `bit_count` are ignored.
  static BitSequence from_words(std::span<const uint64_t> words, uint64_t bit_count);

  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int bit(uint64_t i) const { return static_cast<int>((words_[i >> 6] >> (63 - (i & 63))) & 1U); }
  int operator[](uint64_t i) const { return bit(i); }
  // The 64 bits starting at `pos` (pos <= size()), first bit in the most significant position;
  // bits past the end read as 0.
  uint64_t bits64(uint64_t pos) const {
    const uint64_t q = pos >> 6;
    const unsigned r = pos & 63;
    if (r == 0) return words_[q];
    return (words_[q] << r) | (words_[q + 1] >> (64 - r));
  }
  // The `len` (1..64) bits starting at `pos` as an integer, first bit most significant.
  uint64_t bits(uint64_t pos, unsigned len) const { return bits64(pos) >> (64 - len); }
  // Number of ones in [begin, begin + len).
  uint64_t count_ones(uint64_t begin, uint64_t len) const;
  uint64_t count_ones() const { return count_ones(0, size_); }
  // Bits [begin, begin + len) as a new sequence.
  BitSequence slice(uint64_t begin, uint64_t len) const;
  // The packed words (size()/64 rounded up, plus one zero guard word).
  std::span<const uint64_t> words() const { return words_; }
  std::string to_string() const;  // ASCII '0'/'1' (for tests and small examples)

 private:
  void resize_bits(uint64_t n);
  std::vector<uint64_t> words_ = std::vector<uint64_t>(2, 0);
  uint64_t size_ = 0;
};

// Outside input for the suite (`rngfree nist`; fuzzed by fuzz/nist_ascii.cpp and fuzz/nist_binary.cpp):
// `data` read as ASCII '0'/'1' (whitespace ignored) or as raw bytes, cut into `streams` consecutive
// sequences of `n` bits each (n = 0: all bits / streams). Throws rngfree::Error, its message starting
// with `source` (the file name), for a bad character, no bits, or fewer bits than n × streams.
enum class BitInput { kAscii, kBinary };
std::vector<BitSequence> read_sequences(std::string_view data, BitInput input, uint64_t n, uint64_t streams,
                                        std::string_view source);

}  // namespace rngfree::nist
