// Fuzz target: the record parser of the language-model task's text (text_data.cpp: Debian's fortunes
// files, records separated by lines "%", split 9:1 by record number). The input is cut into "files"
// at every 0x00 byte. Invariants: both splits are whole records, each ending in "%\n"; they hold no
// more than the input's bytes plus "%\n" per line; and the length check accepts or refuses with
// rngfree::Error, nothing else.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/train/text_data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> files(1);
  size_t lines = 1;
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      files.emplace_back();
      ++lines;
      continue;
    }
    files.back().push_back(static_cast<char>(data[i]));
    lines += data[i] == '\n';
  }
  const rngfree::train::TextSplit s = rngfree::train::split_fortunes(files);
  for (const auto* split : {&s.train, &s.val}) {
    const size_t n = split->size();
    if (n != 0 && (n < 2 || (*split)[n - 2] != '%' || (*split)[n - 1] != '\n')) std::abort();
  }
  if (s.train.size() + s.val.size() > size + 2 * lines) std::abort();
  for (const int context : {1, 64}) {
    try {
      rngfree::train::check_text_length(s, context);
    } catch (const rngfree::Error&) {
    }
  }
  return 0;
}
