// Data loaders against files written here in the real formats (IDX plain and gzipped, CIFAR
// binary records), built byte by byte from the format definitions — and truncated, padded and
// corrupted copies, each of which must be rejected with an error naming the file.
#include <gtest/gtest.h>

#include "support/errors.hpp"
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/idx.hpp"
#include "rngfree/error.hpp"
#include "rngfree/train/data.hpp"

namespace fs = std::filesystem;
using rngfree::Error;
using namespace rngfree::train;

using rngfree::testing::put_be32;
using rngfree::testing::write_gz;

namespace {

fs::path data_dir(const std::string& name) {
  fs::path d = fs::path(RNGFREE_BINARY_DIR) / "test_tmp" / "train_data" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::vector<uint8_t> b;
  put_be32(b, 0x00000803);
  put_be32(b, n);
  put_be32(b, rows);
  put_be32(b, cols);
  for (uint32_t i = 0; i < n * rows * cols; ++i) b.push_back(static_cast<uint8_t>((i * 7 + 3) & 0xff));
  return b;
}

std::vector<uint8_t> idx_labels(uint32_t n) {
  std::vector<uint8_t> b;
  put_be32(b, 0x00000801);
  put_be32(b, n);
  for (uint32_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i % 10));
  return b;
}

void write(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::vector<uint8_t> read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An MNIST-style folder: 5 train and 3 test images of 28x28.
fs::path make_mnist_dir(const std::string& name, bool gz) {
  fs::path d = data_dir(name);
  auto w = [&](const std::string& f, const std::vector<uint8_t>& b) {
    if (gz) write_gz(d / (f + ".gz"), b);
    else write(d / f, b);
  };
  w("train-images-idx3-ubyte", idx_images(5, 28, 28));
  w("train-labels-idx1-ubyte", idx_labels(5));
  w("t10k-images-idx3-ubyte", idx_images(3, 28, 28));
  w("t10k-labels-idx1-ubyte", idx_labels(3));
  return d;
}

using rngfree::testing::error_of;

}  // namespace

// Plain and gzipped IDX give the same images: count, shape, the pixel bytes written, the labels.
TEST(TrainData, IdxPlainAndGzipped) {
  for (bool gz : {false, true}) {
    fs::path d = make_mnist_dir(gz ? "idx_gz" : "idx_plain", gz);
    DataSplit s = load_data("mnist:" + d.string());
    EXPECT_EQ(s.train.count, 5);
    EXPECT_EQ(s.test.count, 3);
    EXPECT_EQ(s.train.channels, 1);
    EXPECT_EQ(s.train.height, 28);
    EXPECT_EQ(s.train.width, 28);
    ASSERT_EQ(s.train.pixels.size(), 5u * 784u);
    for (uint32_t i = 0; i < 5 * 784; ++i) ASSERT_EQ(s.train.pixels[i], static_cast<uint8_t>((i * 7 + 3) & 0xff));
    EXPECT_EQ(s.train.labels, (std::vector<int32_t>{0, 1, 2, 3, 4}));
    EXPECT_FALSE(s.augment);
  }
}

TEST(TrainData, MissingFileNamesItAndHowToGetIt) {
  fs::path d = data_dir("missing");
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
  EXPECT_NE(msg.find("yann.lecun.com"), std::string::npos) << msg;
  msg = error_of([&] { load_data("fashion-mnist:" + d.string()); });
  EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;
}

TEST(TrainData, TruncatedIdxImagesRejected) {
  fs::path d = make_mnist_dir("trunc", false);
  auto b = read(d / "train-images-idx3-ubyte");
  b.resize(b.size() - 100);
  write(d / "train-images-idx3-ubyte", b);
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(16 + 5 * 784)), std::string::npos) << msg;  // the expected size
}

TEST(TrainData, TrailingBytesRejected) {
  fs::path d = make_mnist_dir("trailing", false);
  auto b = read(d / "t10k-labels-idx1-ubyte");
  b.push_back(1);
  write(d / "t10k-labels-idx1-ubyte", b);
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("t10k-labels-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("trailing"), std::string::npos) << msg;
}

TEST(TrainData, BadMagicRejected) {
  fs::path d = make_mnist_dir("magic", false);
  auto b = read(d / "train-labels-idx1-ubyte");
  b[3] = 0x03;  // an image magic in a label file
  write(d / "train-labels-idx1-ubyte", b);
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("train-labels-idx1-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0x00000801"), std::string::npos) << msg;
}

TEST(TrainData, LabelOutOfRangeRejected) {
  fs::path d = make_mnist_dir("label", false);
  auto b = read(d / "train-labels-idx1-ubyte");
  b[8 + 2] = 10;
  write(d / "train-labels-idx1-ubyte", b);
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("label 10 at index 2"), std::string::npos) << msg;
}

TEST(TrainData, CountMismatchRejected) {
  fs::path d = make_mnist_dir("count", false);
  write(d / "train-labels-idx1-ubyte", idx_labels(4));
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("4 labels, expected 5"), std::string::npos) << msg;
}

TEST(TrainData, TruncatedAndCorruptGzipRejected) {
  fs::path d = make_mnist_dir("gzbad", true);
  fs::path f = d / "train-images-idx3-ubyte.gz";
  auto b = read(f);
  auto cut = b;
  cut.resize(b.size() / 2);
  write(f, cut);
  std::string msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  auto bad = b;
  for (size_t i = 20; i < bad.size() - 8; ++i) bad[i] ^= 0x5a;  // deflate data scrambled, header kept
  write(f, bad);
  msg = error_of([&] { load_data("mnist:" + d.string()); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gzip"), std::string::npos) << msg;
}

namespace {
std::vector<uint8_t> cifar_records(int n, int label_bytes, int first_label) {
  std::vector<uint8_t> b;
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < label_bytes - 1; ++k) b.push_back(static_cast<uint8_t>(99));  // coarse label
    b.push_back(static_cast<uint8_t>(first_label + i));
    for (int p = 0; p < 3072; ++p) b.push_back(static_cast<uint8_t>((p + i) & 0xff));
  }
  return b;
}
}  // namespace

// CIFAR-10: six batch files; record i's pixels are ((p + i) mod 256), its label first_label + i.
TEST(TrainData, Cifar10Batches) {
  fs::path d = data_dir("cifar10") / "cifar-10-batches-bin";
  fs::create_directories(d);
  for (int k = 1; k <= 5; ++k) write(d / ("data_batch_" + std::to_string(k) + ".bin"), cifar_records(2, 1, k));
  write(d / "test_batch.bin", cifar_records(3, 1, 0));
  DataSplit s = load_data("cifar10:" + d.parent_path().string());
  EXPECT_EQ(s.train.count, 10);
  EXPECT_EQ(s.test.count, 3);
  EXPECT_EQ(s.train.channels, 3);
  EXPECT_EQ(s.train.labels[0], 1);
  EXPECT_EQ(s.train.labels[9], 6);
  EXPECT_EQ(s.test.pixels[3072 + 5], 6);  // record 1, byte 5: (5 + 1)
  EXPECT_TRUE(s.augment);
}

TEST(TrainData, Cifar100FineLabelsAndTruncation) {
  fs::path d = data_dir("cifar100");
  write(d / "train.bin", cifar_records(4, 2, 50));
  write(d / "test.bin", cifar_records(2, 2, 98));
  DataSplit s = load_data("cifar100:" + d.string());
  EXPECT_EQ(s.train.num_classes, 100);
  EXPECT_EQ(s.train.labels, (std::vector<int32_t>{50, 51, 52, 53}));
  auto b = cifar_records(2, 2, 0);
  b.resize(b.size() - 1);
  write(d / "test.bin", b);
  std::string msg = error_of([&] { load_data("cifar100:" + d.string()); });
  EXPECT_NE(msg.find("test.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3074-byte"), std::string::npos) << msg;
  write(d / "test.bin", cifar_records(2, 2, 99));  // labels 99, 100: 100 is out of range
  msg = error_of([&] { load_data("cifar100:" + d.string()); });
  EXPECT_NE(msg.find("label 100"), std::string::npos) << msg;
}

TEST(TrainData, UnknownSpecListsAllowed) {
  std::string msg = error_of([] { load_data("imagenet"); });
  EXPECT_NE(msg.find("cifar10:DIR"), std::string::npos) << msg;
}
