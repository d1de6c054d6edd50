// Fuzz target: an IDX image file and its label file (Fashion-MNIST, MNIST). The first two bytes
// (little-endian) give the image file's length, the rest is split there. An accepted pair must be
// consistent: count × rows × cols pixels, one label per image, every label below the class count.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "rngfree/error.hpp"
#include "rngfree/train/data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::span<const uint8_t> rest(data + 2, size - 2);
  const size_t split = std::min<size_t>(data[0] | (size_t{data[1]} << 8), rest.size());
  rngfree::train::Dataset d;
  try {
    d = rngfree::train::parse_idx_pair(rest.first(split), rest.subspan(split), 10, "images", "labels", "fuzz");
  } catch (const rngfree::Error&) {
    return 0;
  }
  if (static_cast<int64_t>(d.pixels.size()) != d.count * d.image_size() ||
      static_cast<int64_t>(d.labels.size()) != d.count) {
    std::abort();
  }
  for (int32_t label : d.labels) {
    if (label < 0 || label >= 10) std::abort();
  }
  return 0;
}
