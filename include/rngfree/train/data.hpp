// Training data without downloads (DESIGN.md "Training"): Fashion-MNIST / MNIST IDX files (gzipped
// or not) and CIFAR-10/100 binary batches, read into memory as raw 8-bit pixels. Every file is
// validated (magic, dimensions, exact size, label range); a missing, truncated or corrupt file
// throws rngfree::Error naming the file, what was expected and how to get it. No libtorch here.
#pragma once
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rngfree::train {

// One split of a dataset: `count` images of channels×height×width bytes, stored image-major
// (CHW inside an image), and one label in [0, num_classes) per image.
struct Dataset {
  int64_t count = 0;
  int channels = 0, height = 0, width = 0;
  int num_classes = 0;
  std::vector<uint8_t> pixels;  // count × channels × height × width
  std::vector<int32_t> labels;  // count
  int64_t image_size() const { return int64_t{channels} * height * width; }
};

struct DataSplit {
  std::string name;            // "fashion-mnist", "mnist", "cifar10", "cifar100"
  Dataset train, test;
  std::array<float, 3> mean{};  // per channel, of pixel/255 (normalization)
  std::array<float, 3> stddev{};
  bool augment = false;         // random crop (4-pixel zero padding) + horizontal flip (CIFAR)
};

// Default location of Debian's dataset-fashion-mnist package.
inline constexpr std::string_view kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Parses a data spec and loads both splits:
//   "fashion-mnist" (Debian's copy), "fashion-mnist:DIR", "mnist:DIR"  — IDX files
//     {train,t10k}-{images-idx3,labels-idx1}-ubyte, each optionally gzipped (.gz);
//   "cifar10:DIR"  — data_batch_1..5.bin + test_batch.bin (DIR or DIR/cifar-10-batches-bin);
//   "cifar100:DIR" — train.bin + test.bin (DIR or DIR/cifar-100-binary), fine labels;
//   "synthetic:C:S" — 4096 + 512 random C×S×S images (benchmarks without data files; not learnable).
DataSplit load_data(std::string_view spec);

// Reads a whole file; a name ending in ".gz" is gunzipped. Throws rngfree::Error naming the file.
std::vector<uint8_t> read_file_bytes(const std::string& path);

// Reads one IDX image file and its label file (see load_data). `hint` says how to obtain them.
Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path, int num_classes,
                      std::string_view hint);

// Reads CIFAR binary batches (records of `label_bytes` label bytes + 3072 pixel bytes; the last
// label byte is used: the CIFAR-10 label, or CIFAR-100's fine label).
Dataset read_cifar_batches(std::span<const std::string> paths, int label_bytes, int num_classes,
                           std::string_view hint);

// The parsers behind the readers, on bytes already in memory (outside input: fuzzed by
// fuzz/idx.cpp and fuzz/cifar.cpp). The names are the files' for messages.
Dataset parse_idx_pair(std::span<const uint8_t> images, std::span<const uint8_t> labels, int num_classes,
                       std::string_view images_name, std::string_view labels_name, std::string_view hint);
// A dataset of 3×32×32 images with no records yet, and one CIFAR batch's records appended to it.
Dataset empty_cifar_dataset(int num_classes);
void append_cifar_batch(Dataset& d, std::span<const uint8_t> batch, int label_bytes, std::string_view name,
                        std::string_view hint);

}  // namespace rngfree::train
