// Super-resolution data (superres.hpp): photographs that Debian ships as plain files, split by image
// so that the Set5/Set14 pictures among them (butterfly, baboon) are only ever test images.
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "rngfree/error.hpp"
#include "rngfree/train/superres.hpp"

namespace rngfree::train {
namespace fs = std::filesystem;

namespace {
constexpr const char* kSkimage = "/usr/lib/python3/dist-packages/skimage/data/";
constexpr const char* kOpencv = "/usr/share/doc/opencv-doc/examples/data/";
constexpr std::string_view kPhotosHint =
    "install Debian's python3-skimage and opencv-doc packages (scripts/install-deps.sh does), or use --data sr:DIR";
}  // namespace

std::vector<std::string> photos_train_files() {
  std::vector<std::string> f;
  for (const char* n : {"astronaut.png", "coffee.png", "chelsea.png", "motorcycle_left.png", "rocket.jpg"}) {
    f.push_back(std::string(kSkimage) + n);
  }
  for (const char* n : {"fruits.jpg", "building.jpg", "home.jpg", "orange.jpg", "apple.jpg", "squirrel_cls.jpg"}) {
    f.push_back(std::string(kOpencv) + n);
  }
  return f;
}

std::vector<std::string> photos_test_files() {
  std::vector<std::string> f;
  for (const char* n : {"butterfly.jpg", "baboon.jpg", "messi5.jpg"}) f.push_back(std::string(kOpencv) + n);
  return f;
}

SrImage make_sr_image(const Image& hr_in, int scale, std::string name) {
  SrImage s;
  s.name = std::move(name);
  s.scale = scale;
  s.lr_h = hr_in.height / scale;
  s.lr_w = hr_in.width / scale;
  if (s.lr_h < 4 || s.lr_w < 4) {
    throw Error(fmt::format("image '{}': {}x{} is too small for scale {} (allowed: at least {} pixels a side)", s.name,
                            hr_in.width, hr_in.height, scale, 4 * scale));
  }
  s.hr_h = s.lr_h * scale;
  s.hr_w = s.lr_w * scale;
  // HR cropped at its bottom/right to a multiple of the scale (the benchmarks' modcrop)
  s.hr_rgb.width = s.hr_w;
  s.hr_rgb.height = s.hr_h;
  s.hr_rgb.channels = hr_in.channels;
  s.hr_rgb.pixels.resize(static_cast<size_t>(s.hr_w) * s.hr_h * hr_in.channels);
  const size_t row = static_cast<size_t>(s.hr_w) * hr_in.channels;
  for (int y = 0; y < s.hr_h; ++y) {
    std::copy_n(hr_in.pixels.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(y) * hr_in.width * hr_in.channels),
                row, s.hr_rgb.pixels.begin() + static_cast<ptrdiff_t>(y * row));
  }
  s.lr_rgb = resize_bicubic(s.hr_rgb, s.lr_h, s.lr_w);
  s.hr = luma(s.hr_rgb);
  s.lr = luma(s.lr_rgb);
  s.bicubic = resize_bicubic(s.lr, s.lr_h, s.lr_w, s.hr_h, s.hr_w);
  return s;
}

SrPatches cut_patches(const std::vector<SrImage>& images, int lr_size) {
  SrPatches p;
  p.lr_size = lr_size;
  p.scale = images.empty() ? 2 : images.front().scale;
  const int hs = lr_size * p.scale;
  for (const auto& im : images) {
    for (int py = 0; py + lr_size <= im.lr_h; py += lr_size) {
      for (int px = 0; px + lr_size <= im.lr_w; px += lr_size) {
        for (int y = 0; y < lr_size; ++y) {
          const float* src = im.lr.data() + static_cast<size_t>(py + y) * im.lr_w + px;
          p.lr.insert(p.lr.end(), src, src + lr_size);
        }
        for (int y = 0; y < hs; ++y) {
          const size_t off = static_cast<size_t>(py * p.scale + y) * im.hr_w + static_cast<size_t>(px) * p.scale;
          p.hr.insert(p.hr.end(), im.hr.begin() + static_cast<ptrdiff_t>(off), im.hr.begin() + static_cast<ptrdiff_t>(off + hs));
          p.bicubic.insert(p.bicubic.end(), im.bicubic.begin() + static_cast<ptrdiff_t>(off),
                           im.bicubic.begin() + static_cast<ptrdiff_t>(off + hs));
        }
        ++p.count;
      }
    }
  }
  return p;
}

namespace {
std::vector<std::string> images_in(const fs::path& dir, std::string_view spec) {
  if (!fs::is_directory(dir)) {
    throw Error(fmt::format("--data '{}': folder '{}' not found; sr:DIR needs DIR/train and DIR/test holding HR .png or "
                            ".jpg images", spec, dir.string()));
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    if (ext == ".gz") ext = e.path().stem().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (ext == ".png" || ext == ".jpg" || ext == ".jpeg") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    throw Error(fmt::format("--data '{}': no .png or .jpg images in '{}'", spec, dir.string()));
  }
  return files;
}
}  // namespace

SrSplit load_sr_data(std::string_view spec, int scale, int lr_size) {
  if (scale < 2 || scale > 4) throw Error(fmt::format("scale {}: allowed 2, 3, 4", scale));
  SrSplit s;
  s.spec = std::string(spec);
  s.scale = scale;
  if (spec == "photos") {
    s.train_files = photos_train_files();
    s.test_files = photos_test_files();
    for (const auto& list : {s.train_files, s.test_files}) {
      for (const auto& f : list) {
        if (!fs::exists(f)) throw Error(fmt::format("image '{}' not found; {}", f, kPhotosHint));
      }
    }
  } else if (spec.starts_with("sr:")) {
    const std::string dir(spec.substr(3));
    if (dir.empty()) throw Error(fmt::format("--data '{}': empty folder after 'sr:'", spec));
    s.train_files = images_in(fs::path(dir) / "train", spec);
    s.test_files = images_in(fs::path(dir) / "test", spec);
  } else {
    throw Error(fmt::format("--data '{}': unknown for task superres; allowed: photos, sr:DIR", spec));
  }
  std::vector<SrImage> train;
  for (const auto& f : s.train_files) train.push_back(make_sr_image(read_image(f), scale, f));
  for (const auto& f : s.test_files) s.test.push_back(make_sr_image(read_image(f), scale, f));
  s.train = cut_patches(train, lr_size);
  if (s.train.count == 0) {
    throw Error(fmt::format("--data '{}': the training images give no {}x{} LR patches at scale {} (images too small)",
                            spec, lr_size, lr_size, scale));
  }
  return s;
}

}  // namespace rngfree::train
