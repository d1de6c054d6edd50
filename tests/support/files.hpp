// Files for tests: a fresh, empty folder under the build tree (build/<preset>/test_tmp/GROUP/NAME;
// tests that run in parallel use distinct names), and a whole file read as bytes.
#pragma once
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace rngfree::testing {

inline std::filesystem::path fresh_test_dir(const std::string& group, const std::string& name) {
  const std::filesystem::path d = std::filesystem::path(RNGFREE_BINARY_DIR) / "test_tmp" / group / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace rngfree::testing
