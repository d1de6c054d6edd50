// Dataset readers: IDX (LeCun et al., the MNIST format; big-endian header, magic 0x0803 images /
// 0x0801 labels) optionally gzip-compressed, and the CIFAR binary batches (Krizhevsky 2009, one
// label byte (CIFAR-100: coarse + fine) then 1024 R, 1024 G, 1024 B bytes per record). Every
// size is checked exactly so truncated or padded files are rejected, never silently read short.
#include "rngfree/train/data.hpp"

#include <fmt/core.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "rngfree/error.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kFashionHint =
    "install Debian's dataset-fashion-mnist package (scripts/install-deps.sh does), or pass "
    "--data fashion-mnist:DIR with the four IDX files from https://github.com/zalandoresearch/fashion-mnist";
constexpr std::string_view kMnistHint =
    "put train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
    "t10k-labels-idx1-ubyte (optionally .gz) from http://yann.lecun.com/exdb/mnist/ in DIR";
constexpr std::string_view kCifar10Hint =
    "download cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it into DIR";
constexpr std::string_view kCifar100Hint =
    "download cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it into DIR";

std::vector<uint8_t> gunzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw Error(fmt::format("data file '{}': cannot open", path));
  std::vector<uint8_t> out;
  std::vector<uint8_t> chunk(1 << 20);
  for (;;) {
    int n = gzread(file, chunk.data(), static_cast<unsigned>(chunk.size()));
    if (n < 0) {
      int code = 0;
      std::string msg = gzerror(file, &code);
      gzclose(file);
      throw Error(fmt::format("data file '{}': corrupt gzip stream ({}); expected a gzip-compressed IDX file", path, msg));
    }
    if (n == 0) break;
    out.insert(out.end(), chunk.begin(), chunk.begin() + n);
  }
  // gzread returns 0 at a truncated stream's end without an error on some zlib versions; gzclose
  // reports Z_BUF_ERROR then.
  int rc = gzclose(file);
  if (rc != Z_OK) {
    throw Error(fmt::format("data file '{}': truncated or corrupt gzip stream (zlib code {}); expected a complete gzip file",
                            path, rc));
  }
  return out;
}

uint32_t read_be32(std::span<const uint8_t> b, size_t offset) {
  return (uint32_t{b[offset]} << 24) | (uint32_t{b[offset + 1]} << 16) | (uint32_t{b[offset + 2]} << 8) |
         uint32_t{b[offset + 3]};
}

// "DIR/name" or "DIR/name.gz", whichever exists.
std::string find_idx(const std::string& dir, const std::string& name, std::string_view hint) {
  fs::path plain = fs::path(dir) / name;
  fs::path gz = fs::path(dir) / (name + ".gz");
  if (fs::exists(gz)) return gz.string();
  if (fs::exists(plain)) return plain.string();
  throw Error(fmt::format("data file '{}' (or '{}.gz') not found; {}", plain.string(), plain.string(), hint));
}

std::string find_in(const std::vector<fs::path>& dirs, const std::string& name, std::string_view hint) {
  for (const auto& d : dirs) {
    if (fs::exists(d / name)) return (d / name).string();
  }
  throw Error(fmt::format("data file '{}' not found; {}", (dirs.front() / name).string(), hint));
}

}  // namespace

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  if (!fs::exists(path)) throw Error(fmt::format("data file '{}' not found", path));
  if (path.size() > 3 && path.ends_with(".gz")) return gunzip(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("data file '{}': cannot open", path));
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Dataset parse_idx_pair(std::span<const uint8_t> img, std::span<const uint8_t> lab, int num_classes,
                       std::string_view images_path, std::string_view labels_path, std::string_view hint) {
  Dataset d;
  if (img.size() < 16 || read_be32(img, 0) != 0x00000803) {
    throw Error(fmt::format("data file '{}': not an IDX image file (expected magic 0x00000803 for unsigned-byte "
                            "3-D data, file has {} bytes); {}", images_path, img.size(), hint));
  }
  const uint32_t n = read_be32(img, 4), rows = read_be32(img, 8), cols = read_be32(img, 12);
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096) {
    throw Error(fmt::format("data file '{}': corrupt IDX header ({}x{} images); {}", images_path, rows, cols, hint));
  }
  const uint64_t expect = 16 + uint64_t{n} * rows * cols;
  if (img.size() != expect) {
    throw Error(fmt::format("data file '{}': {} ({} bytes, expected {} for {} images of {}x{}); {}", images_path,
                            img.size() < expect ? "truncated" : "has trailing bytes", img.size(), expect, n, rows,
                            cols, hint));
  }
  if (lab.size() < 8 || read_be32(lab, 0) != 0x00000801) {
    throw Error(fmt::format("data file '{}': not an IDX label file (expected magic 0x00000801, file has {} bytes); {}",
                            labels_path, lab.size(), hint));
  }
  const uint32_t nl = read_be32(lab, 4);
  if (nl != n) {
    throw Error(fmt::format("data file '{}': {} labels, expected {} (one per image in '{}'); {}", labels_path, nl, n,
                            images_path, hint));
  }
  if (lab.size() != 8 + uint64_t{n}) {
    throw Error(fmt::format("data file '{}': {} ({} bytes, expected {}); {}", labels_path,
                            lab.size() < 8 + uint64_t{n} ? "truncated" : "has trailing bytes", lab.size(), 8 + uint64_t{n},
                            hint));
  }
  d.count = n;
  d.channels = 1;
  d.height = static_cast<int>(rows);
  d.width = static_cast<int>(cols);
  d.num_classes = num_classes;
  d.pixels.assign(img.begin() + 16, img.end());
  d.labels.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    int label = lab[8 + i];
    if (label >= num_classes) {
      throw Error(fmt::format("data file '{}': label {} at index {} is out of range 0..{}; the file is corrupt; {}",
                              labels_path, label, i, num_classes - 1, hint));
    }
    d.labels[i] = label;
  }
  return d;
}

Dataset read_idx_pair(const std::string& images_path, const std::string& labels_path, int num_classes,
                      std::string_view hint) {
  const std::vector<uint8_t> img = read_file_bytes(images_path);
  const std::vector<uint8_t> lab = read_file_bytes(labels_path);
  return parse_idx_pair(img, lab, num_classes, images_path, labels_path, hint);
}

Dataset empty_cifar_dataset(int num_classes) {
  Dataset d;
  d.channels = 3;
  d.height = 32;
  d.width = 32;
  d.num_classes = num_classes;
  return d;
}

void append_cifar_batch(Dataset& d, std::span<const uint8_t> b, int label_bytes, std::string_view path,
                        std::string_view hint) {
  constexpr int64_t kPixels = 3 * 32 * 32;
  const int64_t record = label_bytes + kPixels;
  if (b.empty() || static_cast<int64_t>(b.size()) % record != 0) {
    throw Error(fmt::format("data file '{}': {} bytes is not a whole number of {}-byte CIFAR records (truncated or "
                            "not a CIFAR binary batch); {}", path, b.size(), record, hint));
  }
  const int64_t n = static_cast<int64_t>(b.size()) / record;
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = b.data() + i * record;
    int label = r[label_bytes - 1];
    if (label >= d.num_classes) {
      throw Error(fmt::format("data file '{}': label {} in record {} is out of range 0..{}; the file is corrupt; {}",
                              path, label, i, d.num_classes - 1, hint));
    }
    d.labels.push_back(label);
    d.pixels.insert(d.pixels.end(), r + label_bytes, r + record);
  }
  d.count += n;
}

Dataset read_cifar_batches(std::span<const std::string> paths, int label_bytes, int num_classes, std::string_view hint) {
  Dataset d = empty_cifar_dataset(num_classes);
  for (const auto& path : paths) append_cifar_batch(d, read_file_bytes(path), label_bytes, path, hint);
  return d;
}

DataSplit load_data(std::string_view spec) {
  std::string kind(spec), dir;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    kind = std::string(spec.substr(0, colon));
    dir = std::string(spec.substr(colon + 1));
    if (dir.empty()) throw Error(fmt::format("--data '{}': empty folder after ':'", spec));
  }
  DataSplit s;
  s.name = kind;
  if (kind == "fashion-mnist" || kind == "mnist") {
    std::string_view hint = kind == "mnist" ? kMnistHint : kFashionHint;
    if (dir.empty()) {
      if (kind == "mnist") throw Error("--data 'mnist' needs a folder: mnist:DIR (no MNIST copy is installed by default)");
      dir = std::string(kFashionMnistDir);
    }
    s.train = read_idx_pair(find_idx(dir, "train-images-idx3-ubyte", hint), find_idx(dir, "train-labels-idx1-ubyte", hint),
                            10, hint);
    s.test = read_idx_pair(find_idx(dir, "t10k-images-idx3-ubyte", hint), find_idx(dir, "t10k-labels-idx1-ubyte", hint),
                           10, hint);
    if (s.train.height != s.test.height || s.train.width != s.test.width) {
      throw Error(fmt::format("--data '{}': train images are {}x{} but test images {}x{}", spec, s.train.height,
                              s.train.width, s.test.height, s.test.width));
    }
    if (kind == "mnist") {
      s.mean = {0.1307f, 0.1307f, 0.1307f};
      s.stddev = {0.3081f, 0.3081f, 0.3081f};
    } else {
      s.mean = {0.2860f, 0.2860f, 0.2860f};
      s.stddev = {0.3530f, 0.3530f, 0.3530f};
    }
  } else if (kind == "cifar10") {
    if (dir.empty()) throw Error("--data 'cifar10' needs a folder: cifar10:DIR");
    std::vector<fs::path> dirs = {fs::path(dir), fs::path(dir) / "cifar-10-batches-bin"};
    std::vector<std::string> train;
    for (int i = 1; i <= 5; ++i) train.push_back(find_in(dirs, fmt::format("data_batch_{}.bin", i), kCifar10Hint));
    std::vector<std::string> test = {find_in(dirs, "test_batch.bin", kCifar10Hint)};
    s.train = read_cifar_batches(train, 1, 10, kCifar10Hint);
    s.test = read_cifar_batches(test, 1, 10, kCifar10Hint);
    s.mean = {0.4914f, 0.4822f, 0.4465f};
    s.stddev = {0.2470f, 0.2435f, 0.2616f};
    s.augment = true;
  } else if (kind == "cifar100") {
    if (dir.empty()) throw Error("--data 'cifar100' needs a folder: cifar100:DIR");
    std::vector<fs::path> dirs = {fs::path(dir), fs::path(dir) / "cifar-100-binary"};
    std::vector<std::string> train = {find_in(dirs, "train.bin", kCifar100Hint)};
    std::vector<std::string> test = {find_in(dirs, "test.bin", kCifar100Hint)};
    s.train = read_cifar_batches(train, 2, 100, kCifar100Hint);
    s.test = read_cifar_batches(test, 2, 100, kCifar100Hint);
    s.mean = {0.5071f, 0.4865f, 0.4409f};
    s.stddev = {0.2673f, 0.2564f, 0.2762f};
    s.augment = true;
  } else if (kind == "synthetic") {
    // synthetic:C:S — random pixels and labels (SplitMix64 of the index), for speed measurements
    // without data files; nothing in it can be learnt.
    int c = 0, size = 0;
    if (std::sscanf(dir.c_str(), "%d:%d", &c, &size) != 2 || (c != 1 && c != 3) || size < 8 || size > 256) {
      throw Error(fmt::format("--data '{}': expected synthetic:C:S with C = 1 or 3 channels and S = 8..256 pixels", spec));
    }
    for (Dataset* d : {&s.train, &s.test}) {
      d->count = d == &s.train ? 4096 : 512;
      d->channels = c;
      d->height = d->width = size;
      d->num_classes = 10;
      d->pixels.resize(static_cast<size_t>(d->count * d->image_size()));
      uint64_t z = d == &s.train ? 1 : 2;
      for (auto& p : d->pixels) {
        z += 0x9e3779b97f4a7c15ull;
        p = static_cast<uint8_t>((z ^ (z >> 29)) * 0xbf58476d1ce4e5b9ull >> 56);
      }
      d->labels.resize(static_cast<size_t>(d->count));
      for (int64_t i = 0; i < d->count; ++i) d->labels[i] = static_cast<int32_t>((i * 7) % 10);
    }
    s.mean = {0.5f, 0.5f, 0.5f};
    s.stddev = {0.29f, 0.29f, 0.29f};
  } else {
    throw Error(fmt::format("--data '{}': unknown dataset '{}'; allowed: fashion-mnist, fashion-mnist:DIR, mnist:DIR, "
                            "cifar10:DIR, cifar100:DIR, synthetic:C:S", spec, kind));
  }
  return s;
}

}  // namespace rngfree::train
