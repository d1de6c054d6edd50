// BitSequence: packing from ASCII, bytes, bit arrays and words; range popcount.
#include "rngfree/nist/bit_sequence.hpp"

#include <bit>
#include <cstdint>

#include "rngfree/error.hpp"

namespace rngfree::nist {

void BitSequence::resize_bits(uint64_t n) {
  size_ = n;
  words_.assign(n / 64 + 2, 0);  // +1 for a partial last word, +1 guard word
}

BitSequence BitSequence::from_ascii(std::string_view text, uint64_t max_bits) {
  BitSequence s;
  uint64_t ones_zeros = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '0' || c == '1') {
      ++ones_zeros;
    } else if (!(c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f')) {
      throw Error("ASCII bit input: character " + std::to_string(static_cast<unsigned char>(c)) +
                  " ('" + std::string(1, c) + "') at byte position " + std::to_string(i) +
                  " is not allowed (only '0', '1' and whitespace)");
    }
    if (max_bits != 0 && ones_zeros == max_bits) break;
  }
  s.resize_bits(ones_zeros);
  uint64_t k = 0;
  for (size_t i = 0; i < text.size() && k < ones_zeros; ++i) {
    const char c = text[i];
    if (c == '0' || c == '1') {
      if (c == '1') s.words_[k >> 6] |= uint64_t{1} << (63 - (k & 63));
      ++k;
    }
  }
  return s;
}

BitSequence BitSequence::from_bytes(std::span<const uint8_t> bytes, uint64_t bit_count) {
  if (bit_count > 8 * static_cast<uint64_t>(bytes.size())) {
    throw Error("bit_count = " + std::to_string(bit_count) + " exceeds the " + std::to_string(8 * bytes.size()) +
                " bits of the given bytes");
  }
  BitSequence s;
  s.resize_bits(bit_count);
  const uint64_t nbytes = (bit_count + 7) / 8;
  for (uint64_t b = 0; b < nbytes; ++b) {
    s.words_[b >> 3] |= uint64_t{bytes[b]} << (56 - 8 * (b & 7));
  }
  if (bit_count & 63) s.words_[bit_count >> 6] &= ~uint64_t{0} << (64 - (bit_count & 63));
  return s;
}

BitSequence BitSequence::from_bytes(std::string_view bytes, uint64_t bit_count) {
  std::vector<uint8_t> copy(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) copy[i] = static_cast<uint8_t>(bytes[i]);
  return from_bytes(copy, bit_count == 0 ? 8 * static_cast<uint64_t>(bytes.size()) : bit_count);
}

BitSequence BitSequence::from_bits(std::span<const uint8_t> bits) {
  BitSequence s;
  s.resize_bits(bits.size());
  for (uint64_t i = 0; i < bits.size(); ++i) {
    if (bits[i] > 1) {
      throw Error("bit array: element " + std::to_string(i) + " = " + std::to_string(bits[i]) + " (allowed: 0 or 1)");
    }
    s.words_[i >> 6] |= uint64_t{bits[i]} << (63 - (i & 63));
  }
  return s;
}

BitSequence BitSequence::from_words(std::span<const uint64_t> words, uint64_t bit_count) {
  if (bit_count > 64 * static_cast<uint64_t>(words.size())) {
    throw Error("bit_count = " + std::to_string(bit_count) + " exceeds the " + std::to_string(64 * words.size()) +
                " bits of the given words");
  }
  BitSequence s;
  s.resize_bits(bit_count);
  for (uint64_t w = 0; w < (bit_count + 63) / 64; ++w) s.words_[w] = words[w];
  if (bit_count & 63) s.words_[bit_count >> 6] &= ~uint64_t{0} << (64 - (bit_count & 63));
  return s;
}

uint64_t BitSequence::count_ones(uint64_t begin, uint64_t len) const {
  RNGFREE_CHECK(begin + len <= size_, "count_ones range past the end");
  uint64_t total = 0;
  uint64_t pos = begin;
  const uint64_t end = begin + len;
  // Leading partial word.
  if ((pos & 63) != 0 && pos < end) {
    const uint64_t take = std::min<uint64_t>(64 - (pos & 63), end - pos);
    total += std::popcount(bits64(pos) >> (64 - take));
    pos += take;
  }
  for (; pos + 64 <= end; pos += 64) total += std::popcount(words_[pos >> 6]);
  if (pos < end) total += std::popcount(words_[pos >> 6] >> (64 - (end - pos)));
  return total;
}

BitSequence BitSequence::slice(uint64_t begin, uint64_t len) const {
  RNGFREE_CHECK(begin + len <= size_, "slice past the end");
  BitSequence s;
  s.resize_bits(len);
  for (uint64_t w = 0; w * 64 < len; ++w) s.words_[w] = bits64(begin + 64 * w);
  if (len & 63) s.words_[len >> 6] &= ~uint64_t{0} << (64 - (len & 63));
  return s;
}

std::string BitSequence::to_string() const {
  std::string out(size_, '0');
  for (uint64_t i = 0; i < size_; ++i) out[i] = static_cast<char>('0' + bit(i));
  return out;
}

std::vector<BitSequence> read_sequences(std::string_view data, BitInput input, uint64_t n, uint64_t streams,
                                        std::string_view source) {
  const std::string src(source);
  if (streams < 1) throw Error("--streams = 0 (allowed: >= 1)");
  // n x streams bits are read; a product past 2^64 could never be satisfied by an input in memory.
  const bool too_many = n > 0 && streams > UINT64_MAX / n;
  BitSequence all;
  if (input == BitInput::kAscii) {
    try {
      all = BitSequence::from_ascii(data, n > 0 && !too_many ? n * streams : 0);
    } catch (const Error& e) {
      throw Error(src + ": " + e.what());
    }
  } else {
    all = BitSequence::from_bytes(data);
  }
  const uint64_t bits = n > 0 ? n : all.size() / streams;
  if (bits == 0) throw Error(src + ": no bits to test (input has " + std::to_string(all.size()) + " bits)");
  if (too_many || bits * streams > all.size()) {
    throw Error("-n " + std::to_string(bits) + " x --streams " + std::to_string(streams) + " needs " +
                (too_many ? "more than 2^64" : std::to_string(bits * streams)) + " bits, but " + src + " has only " +
                std::to_string(all.size()) + " (use a smaller -n or --streams)");
  }
  std::vector<BitSequence> seqs;
  seqs.reserve(streams);
  for (uint64_t i = 0; i < streams; ++i) seqs.push_back(all.slice(i * bits, bits));
  return seqs;
}

}  // namespace rngfree::nist
