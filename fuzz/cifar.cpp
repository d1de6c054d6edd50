// Fuzz target: CIFAR binary batches. The first byte chooses CIFAR-10 (1 label byte, 10 classes) or
// CIFAR-100 (2 label bytes, 100 classes); the rest is one batch, appended twice (two batch files).
// An accepted batch gives 3072 pixels and one in-range label per record.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "rngfree/error.hpp"
#include "rngfree/train/data.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool cifar100 = data[0] & 1;
  const int label_bytes = cifar100 ? 2 : 1, classes = cifar100 ? 100 : 10;
  const std::span<const uint8_t> batch(data + 1, size - 1);
  rngfree::train::Dataset d = rngfree::train::empty_cifar_dataset(classes);
  try {
    rngfree::train::append_cifar_batch(d, batch, label_bytes, "batch_1.bin", "fuzz");
    rngfree::train::append_cifar_batch(d, batch, label_bytes, "batch_2.bin", "fuzz");
  } catch (const rngfree::Error&) {
    return 0;
  }
  if (d.count * (label_bytes + 3072) != 2 * static_cast<int64_t>(batch.size()) ||
      static_cast<int64_t>(d.pixels.size()) != d.count * d.image_size() ||
      static_cast<int64_t>(d.labels.size()) != d.count) {
    std::abort();
  }
  for (int32_t label : d.labels) {
    if (label < 0 || label >= classes) std::abort();
  }
  return 0;
}
