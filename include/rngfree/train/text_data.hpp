// Text of the language-model task (docs/lm.md): bytes, a vocabulary of 256 (byte-level, so any file
// is valid input, UTF-8 or not), split into a training and a validation text. No download: "fortunes"
// reads Debian's fortunes package; "text:FILE" any file. No libtorch here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rngfree::train {

inline constexpr int kTextVocab = 256;  // byte-level vocabulary

struct TextSplit {
  std::string spec;
  std::vector<uint8_t> train, val;
  std::vector<std::string> files;  // the files read, in order
};

// Debian's fortunes package: the folder and the files of English text read from it, in this order
// (every file of fortunes and fortunes-min except ascii-art, pictures, and translate-me, 12 records).
inline constexpr std::string_view kFortunesDir = "/usr/share/games/fortunes";
std::vector<std::string> fortunes_files();

// Splits the fortunes files' text into records (the lines "%" separate them) and numbers them over
// all files in order; record k is a validation record when k % 10 == 9 (10 %), else a training one.
// Each record keeps its text and is followed by "%\n" in its split, as in the files.
TextSplit split_fortunes(const std::vector<std::string>& texts);

// "fortunes" or "text:FILE" (FILE's first 90 % of bytes train, the last 10 % validate). Errors name
// the file: missing/unreadable, empty.
TextSplit load_text_data(std::string_view spec);

// Throws rngfree::Error when a split is too short for windows of `context` bytes and their next bytes
// (at least context + 1 bytes each), naming the spec, the split, its length and the context.
void check_text_length(const TextSplit& split, int context);

}  // namespace rngfree::train
