// Text data of the lm task (text_data.hpp).
#include "rngfree/train/text_data.hpp"

#include <fmt/core.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "rngfree/error.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kFortunesHint =
    "install Debian's fortunes package (scripts/install-deps.sh does), or use --data text:FILE";

std::string read_text_file(const std::string& path, std::string_view spec, std::string_view hint) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(fmt::format("--data '{}': file '{}' not found; {}", spec, path, hint));
  if (fs::is_directory(path, ec)) throw Error(fmt::format("--data '{}': '{}' is a folder, not a text file", spec, path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("--data '{}': cannot read '{}' (permissions?)", spec, path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(fmt::format("--data '{}': reading '{}' failed", spec, path));
  return text;
}

void append(std::vector<uint8_t>& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

}  // namespace

std::vector<std::string> fortunes_files() {
  std::vector<std::string> f;
  for (const char* n : {"art",      "computers",   "cookie",    "debian",    "definitions", "disclaimer",    "drugs",
                        "education", "ethnic",     "food",      "fortunes",  "goedel",      "humorists",     "kids",
                        "knghtbrd",  "law",        "linux",     "linuxcookie", "literature", "love",         "magic",
                        "medicine",  "men-women",  "miscellaneous", "news",  "paradoxum",   "people",        "perl",
                        "pets",      "platitudes", "politics",  "pratchett", "riddles",     "science",       "songs-poems",
                        "sports",    "startrek",   "tao",       "wisdom",    "work",        "zippy"}) {
    f.push_back(fmt::format("{}/{}", kFortunesDir, n));
  }
  return f;
}

TextSplit split_fortunes(const std::vector<std::string>& texts) {
  TextSplit s;
  int64_t k = 0;
  std::string record;
  auto flush = [&] {
    if (record.empty()) return;
    std::vector<uint8_t>& dst = k % 10 == 9 ? s.val : s.train;
    append(dst, record);
    append(dst, "%\n");
    ++k;
    record.clear();
  };
  for (const std::string& text : texts) {
    for (size_t start = 0; start < text.size();) {
      const size_t nl = text.find('\n', start);
      const size_t end = nl == std::string::npos ? text.size() : nl + 1;  // the line with its newline
      const std::string_view line(text.data() + start, end - start);
      if (line == "%\n" || line == "%") {
        flush();
      } else {
        record += line;
      }
      start = end;
    }
    flush();  // a file's last record
  }
  return s;
}

TextSplit load_text_data(std::string_view spec) {
  TextSplit s;
  if (spec == "fortunes") {
    std::vector<std::string> texts;
    for (const std::string& f : fortunes_files()) texts.push_back(read_text_file(f, spec, kFortunesHint));
    s = split_fortunes(texts);
    s.files = fortunes_files();
  } else if (spec.starts_with("text:")) {
    const std::string path(spec.substr(5));
    if (path.empty()) throw Error("--data 'text:': no file named; allowed text:FILE");
    const std::string text = read_text_file(path, spec, "give an existing file");
    if (text.empty()) throw Error(fmt::format("--data '{}': file '{}' is empty", spec, path));
    const size_t cut = text.size() - text.size() / 10;
    append(s.train, std::string_view(text).substr(0, cut));
    append(s.val, std::string_view(text).substr(cut));
    s.files = {path};
  } else {
    throw Error(fmt::format("--data '{}': allowed for task lm: fortunes, text:FILE", spec));
  }
  s.spec = std::string(spec);
  return s;
}

void check_text_length(const TextSplit& split, int context) {
  for (const auto* part : {&split.train, &split.val}) {
    const bool train = part == &split.train;
    if (static_cast<int64_t>(part->size()) < int64_t{context} + 1) {
      throw Error(fmt::format("--data '{}': the {} text has {} bytes, shorter than one window of --context {} plus its "
                              "next byte ({} bytes); give a longer file (text:FILE validates on its last 10 %) or a "
                              "smaller --context",
                              split.spec, train ? "training" : "validation", part->size(), context, context + 1));
    }
  }
}

}  // namespace rngfree::train
