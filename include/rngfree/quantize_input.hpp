// The text input of `rngfree quantize` (outside input, so it is fuzzed: fuzz/quantize_lines.cpp):
// one value per line — a decimal or C99 hex float, parsed to the nearest FP32 (C99 strtof) — and,
// with given random words, "value word" with word an unsigned 32-bit decimal. Every bad line throws
// rngfree::Error naming its 1-based line number, the text and what is expected.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace rngfree {

struct QuantizeInput {
  std::vector<float> values;
  std::vector<uint32_t> words;  // one per value with `with_words`, else empty
};

// Lines end at '\n' (a final line without one counts; a trailing '\n' adds no empty line); spaces,
// tabs and '\r' around fields are ignored. An empty line is an error, as are extra fields.
QuantizeInput parse_quantize_lines(std::string_view text, bool with_words);

}  // namespace rngfree
