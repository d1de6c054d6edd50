// IDX files (the MNIST/Fashion-MNIST format) for tests: big-endian 32-bit header words, and a
// file written gzipped as the datasets ship.
#pragma once
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <vector>

namespace rngfree::testing {

inline void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
}

inline void write_gz(const std::filesystem::path& p, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  ASSERT_NE(f, nullptr) << p;
  ASSERT_EQ(gzwrite(f, b.data(), static_cast<unsigned>(b.size())), static_cast<int>(b.size())) << p;
  ASSERT_EQ(gzclose(f), Z_OK) << p;
}

}  // namespace rngfree::testing
