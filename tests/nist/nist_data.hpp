// Test helpers: loading the NIST reference data of tests/data/nist (data sets and TSV tables).
#pragma once
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/nist/bit_sequence.hpp"

namespace rngfree::nist::testing {

inline std::string nist_path(const std::string& name) { return std::string(RNGFREE_SHARED_DIR) + "/nist/" + name; }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The first n bits of data set `name` (e, pi, sqrt2, sqrt3: ASCII; sha1: binary), cached.
inline const BitSequence& data_set(const std::string& name) {
  static std::map<std::string, BitSequence> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second;
  const std::string text = read_file(nist_path("data." + name));
  BitSequence s;
  if (name == "sha1") {
    s = BitSequence::from_bytes(std::string_view(text), 1000000);
  } else {
    s = BitSequence::from_ascii(text, 1000000);
  }
  return cache.emplace(name, std::move(s)).first->second;
}

// Rows of a TSV file (header skipped), split at tabs.
inline std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::istringstream in(read_file(path));
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> f;
    std::string field;
    std::istringstream ls(line);
    while (std::getline(ls, field, '\t')) f.push_back(field);
    rows.push_back(f);
  }
  return rows;
}

// The last ';'-separated part of a sub_test column ("m=9;idx=1;B=000000001" -> "B=000000001").
inline std::string last_part(const std::string& sub) {
  const auto pos = sub.rfind(';');
  return pos == std::string::npos ? sub : sub.substr(pos + 1);
}

}  // namespace rngfree::nist::testing
