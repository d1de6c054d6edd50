// Images for super-resolution (image.hpp): decoding with stb_image (libstb-dev) after a structural
// check for truncation that stb_image does not make (it decodes a cut JPEG into a grey tail),
// MATLAB imresize's bicubic contributions, BT.601 luma, PSNR and SSIM.
#include "rngfree/train/image.hpp"

#include <fmt/core.h>
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>

#include "rngfree/atomic_file.hpp"
#include "rngfree/error.hpp"
#include "rngfree/train/data.hpp"

namespace rngfree::train {

namespace {

// 2^26 pixels (8192 x 8192; 192 MiB as RGB): far above any photograph of the SR sets (DIV2K's are
// about 2040 x 1400), and a header that claims more (a damaged or hostile file) is refused before
// stb_image allocates for it.
constexpr int64_t kMaxImagePixels = int64_t{1} << 26;

constexpr std::array<uint8_t, 8> kPngSignature = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

bool is_png(std::span<const uint8_t> b) {
  return b.size() >= 8 && std::equal(kPngSignature.begin(), kPngSignature.end(), b.begin());
}
bool is_jpeg(std::span<const uint8_t> b) { return b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff; }

// A PNG ends with its IEND chunk (length 0, type IEND, CRC AE 42 60 82).
bool png_complete(std::span<const uint8_t> b) {
  static constexpr std::array<uint8_t, 12> kIend = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
  return b.size() >= 8 + kIend.size() && std::equal(kIend.begin(), kIend.end(), b.end() - kIend.size());
}

// A JPEG has an end-of-image marker (FF D9) after its first start-of-scan (FF DA). The segments
// before the scan are skipped by their lengths (an EXIF thumbnail holds its own markers); inside
// entropy-coded data a 0xFF byte is always followed by 0x00 or a restart marker, so FF D9 there is EOI.
bool jpeg_complete(std::span<const uint8_t> b) {
  size_t pos = 2;
  while (pos + 4 <= b.size()) {
    if (b[pos] != 0xff) return false;
    const uint8_t marker = b[pos + 1];
    if (marker == 0xff) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xda) break;
    const size_t len = (size_t{b[pos + 2]} << 8) | b[pos + 3];
    pos += 2 + len;
  }
  if (pos + 4 > b.size()) return false;
  for (size_t i = b.size() - 1; i > pos; --i) {
    if (b[i] == 0xd9 && b[i - 1] == 0xff) return true;
  }
  return false;
}

// Keys' cubic convolution kernel with a = -1/2 (MATLAB's 'bicubic').
double cubic(double x) {
  const double ax = std::fabs(x), ax2 = ax * ax, ax3 = ax2 * ax;
  if (ax <= 1) return 1.5 * ax3 - 2.5 * ax2 + 1;
  if (ax <= 2) return -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2;
  return 0;
}

// MATLAB imresize's contributions(): for each output index, the input indices (0-based, mirrored
// at the edges) and normalized weights.
struct Contributions {
  int taps = 0;
  std::vector<int> index;      // out_length × taps
  std::vector<double> weight;  // out_length × taps
};

Contributions contributions(int in_length, int out_length) {
  const double scale = static_cast<double>(out_length) / in_length;
  const bool shrink = scale < 1;
  const double kernel_width = shrink ? 4.0 / scale : 4.0;
  Contributions c;
  c.taps = static_cast<int>(std::ceil(kernel_width)) + 2;
  c.index.resize(static_cast<size_t>(out_length) * c.taps);
  c.weight.resize(c.index.size());
  const int64_t period = 2 * int64_t{in_length};
  for (int x = 1; x <= out_length; ++x) {
    const double u = x / scale + 0.5 * (1 - 1 / scale);
    const int64_t left = static_cast<int64_t>(std::floor(u - kernel_width / 2));
    double sum = 0;
    for (int p = 0; p < c.taps; ++p) {
      const int64_t idx = left + p;  // 1-based
      const double d = u - static_cast<double>(idx);
      const double w = shrink ? scale * cubic(scale * d) : cubic(d);
      int64_t m = ((idx - 1) % period + period) % period;  // aux = [1..n, n..1]
      if (m >= in_length) m = period - 1 - m;
      c.index[static_cast<size_t>(x - 1) * c.taps + p] = static_cast<int>(m);
      c.weight[static_cast<size_t>(x - 1) * c.taps + p] = w;
      sum += w;
    }
    for (int p = 0; p < c.taps; ++p) c.weight[static_cast<size_t>(x - 1) * c.taps + p] /= sum;
  }
  return c;
}

// One 1-D pass of imresize over an h × w image (row-major): along the columns (`vertical`: h →
// c's output length, w kept) or along the rows (w → c's output length, h kept).
std::vector<double> resample_axis(std::span<const double> src, int h, int w, const Contributions& c, bool vertical) {
  const int out_len = static_cast<int>(c.index.size() / static_cast<size_t>(c.taps)), across = vertical ? w : h;
  const size_t along_in = vertical ? static_cast<size_t>(w) : 1, across_in = vertical ? 1 : static_cast<size_t>(w);
  const size_t along_out = vertical ? static_cast<size_t>(w) : 1, across_out = vertical ? 1 : static_cast<size_t>(out_len);
  std::vector<double> out(static_cast<size_t>(out_len) * across);
  for (int i = 0; i < out_len; ++i) {
    for (int j = 0; j < across; ++j) {
      double acc = 0;
      for (int p = 0; p < c.taps; ++p) {
        const size_t k = static_cast<size_t>(i) * c.taps + p;
        acc += c.weight[k] * src[static_cast<size_t>(c.index[k]) * along_in + j * across_in];
      }
      out[i * along_out + j * across_out] = acc;
    }
  }
  return out;
}

// MATLAB orders the two passes by scale (the smaller first; rows when equal). Here the intermediate
// image stays in double, so the order changes results only by double rounding: always rows first.
std::vector<double> resize_double(std::span<const double> src, int h, int w, int out_h, int out_w) {
  const std::vector<double> mid = resample_axis(src, h, w, contributions(h, out_h), true);
  return resample_axis(mid, out_h, w, contributions(w, out_w), false);
}

void check_resize(int h, int w, int out_h, int out_w) {
  if (h < 1 || w < 1 || out_h < 1 || out_w < 1) {
    throw Error(fmt::format("resize_bicubic: {}x{} -> {}x{}: sizes must be at least 1", h, w, out_h, out_w));
  }
}

void check_metric_args(std::span<const float> a, std::span<const float> b, int h, int w, int border,
                       const char* what) {
  RNGFREE_CHECK(a.size() == b.size() && a.size() == static_cast<size_t>(h) * w, "image sizes differ");
  if (border < 0 || 2 * border >= h || 2 * border >= w) {
    throw Error(fmt::format("{}: a border of {} pixels leaves nothing of a {}x{} image", what, border, h, w));
  }
}

}  // namespace

Image decode_image(std::span<const uint8_t> bytes, std::string_view name) {
  if (!is_png(bytes) && !is_jpeg(bytes)) {
    throw Error(fmt::format("image '{}': not a PNG or JPEG file ({} bytes; allowed: .png, .jpg, optionally .gz)", name,
                            bytes.size()));
  }
  if (is_png(bytes) && !png_complete(bytes)) {
    throw Error(fmt::format("image '{}': truncated PNG (no IEND chunk at its end, {} bytes)", name, bytes.size()));
  }
  if (is_jpeg(bytes) && !jpeg_complete(bytes)) {
    throw Error(fmt::format("image '{}': truncated JPEG (no end-of-image marker after its scan data, {} bytes)", name,
                            bytes.size()));
  }
  if (bytes.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    throw Error(fmt::format("image '{}': {} bytes is too large", name, bytes.size()));
  }
  int w = 0, h = 0, comp = 0;
  const auto* data = bytes.data();
  const int len = static_cast<int>(bytes.size());
  if (stbi_info_from_memory(data, len, &w, &h, &comp) == 0) {
    throw Error(fmt::format("image '{}': cannot decode ({})", name, stbi_failure_reason()));
  }
  if (static_cast<int64_t>(w) * h > kMaxImagePixels) {
    throw Error(fmt::format("image '{}': {}x{} pixels is more than the {} this tool decodes", name, w, h,
                            kMaxImagePixels));
  }
  const int want = comp <= 2 ? 1 : 3;
  std::unique_ptr<uint8_t, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &comp, want), stbi_image_free);
  if (!px) throw Error(fmt::format("image '{}': cannot decode ({})", name, stbi_failure_reason()));
  Image img;
  img.width = w;
  img.height = h;
  img.channels = want;
  img.pixels.assign(px.get(), px.get() + static_cast<size_t>(w) * h * want);
  return img;
}

Image read_image(const std::string& path) {
  std::vector<uint8_t> bytes;
  try {
    bytes = read_file_bytes(path);
  } catch (const Error& e) {
    throw Error(fmt::format("image '{}': {}", path, e.what()));
  }
  return decode_image(bytes, path);
}

std::string encode_png(const Image& img) {
  RNGFREE_CHECK(img.channels == 1 || img.channels == 3, "PNG of 1 or 3 channels");
  RNGFREE_CHECK(img.pixels.size() == static_cast<size_t>(img.width) * img.height * img.channels, "image size");
  std::string out;
  auto sink = [](void* ctx, void* data, int size) {
    static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<size_t>(size));
  };
  if (stbi_write_png_to_func(sink, &out, img.width, img.height, img.channels, img.pixels.data(),
                             img.width * img.channels) == 0) {
    throw Error(fmt::format("cannot encode a {}x{} PNG", img.width, img.height));
  }
  return out;
}

void write_png(const std::string& path, const Image& img) { write_file_atomic(path, encode_png(img)); }

std::vector<float> luma(const Image& img) {
  const size_t n = static_cast<size_t>(img.width) * img.height;
  std::vector<float> y(n);
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = img.pixels.data() + i * img.channels;
    const double r = p[0], g = img.channels == 3 ? p[1] : p[0], b = img.channels == 3 ? p[2] : p[0];
    y[i] = static_cast<float>((16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0) / 255.0);
  }
  return y;
}

std::vector<float> resize_bicubic(std::span<const float> src, int h, int w, int out_h, int out_w) {
  check_resize(h, w, out_h, out_w);
  RNGFREE_CHECK(src.size() == static_cast<size_t>(h) * w, "resize_bicubic: source size");
  std::vector<double> d(src.begin(), src.end());
  std::vector<double> r = resize_double(d, h, w, out_h, out_w);
  return std::vector<float>(r.begin(), r.end());
}

Image resize_bicubic(const Image& src, int out_h, int out_w) {
  check_resize(src.height, src.width, out_h, out_w);
  Image out;
  out.width = out_w;
  out.height = out_h;
  out.channels = src.channels;
  out.pixels.resize(static_cast<size_t>(out_w) * out_h * src.channels);
  std::vector<double> plane(static_cast<size_t>(src.width) * src.height);
  for (int c = 0; c < src.channels; ++c) {
    for (size_t i = 0; i < plane.size(); ++i) plane[i] = src.pixels[i * src.channels + c];
    const std::vector<double> r = resize_double(plane, src.height, src.width, out_h, out_w);
    for (size_t i = 0; i < r.size(); ++i) {
      out.pixels[i * src.channels + c] = static_cast<uint8_t>(std::clamp(std::nearbyint(r[i]), 0.0, 255.0));
    }
  }
  return out;
}

Image replace_luma(const Image& rgb, std::span<const float> old_y, std::span<const float> new_y) {
  const size_t n = static_cast<size_t>(rgb.width) * rgb.height;
  RNGFREE_CHECK(old_y.size() == n && new_y.size() == n, "replace_luma: sizes");
  Image out = rgb;
  for (size_t i = 0; i < n; ++i) {
    const double d = (static_cast<double>(new_y[i]) - old_y[i]) * 255.0 * 255.0 / 219.0;
    for (int c = 0; c < rgb.channels; ++c) {
      uint8_t& v = out.pixels[i * rgb.channels + c];
      v = static_cast<uint8_t>(std::clamp(std::nearbyint(v + d), 0.0, 255.0));
    }
  }
  return out;
}

Image crop(const Image& im, int y, int x, int h, int w) {
  if (y < 0 || x < 0 || h < 1 || w < 1 || y + h > im.height || x + w > im.width) {
    throw Error(fmt::format("crop {}x{} at ({}, {}): outside the {}x{} image", w, h, x, y, im.width, im.height));
  }
  Image out{w, h, im.channels, {}};
  for (int r = 0; r < h; ++r) {
    const auto* src = im.pixels.data() + (static_cast<size_t>(y + r) * im.width + x) * im.channels;
    out.pixels.insert(out.pixels.end(), src, src + static_cast<size_t>(w) * im.channels);
  }
  return out;
}

Image side_by_side(const std::vector<Image>& images, int gap) {
  RNGFREE_CHECK(!images.empty(), "side_by_side: no images");
  Image out{0, images.front().height, images.front().channels, {}};
  for (const auto& im : images) {
    RNGFREE_CHECK(im.height == out.height && im.channels == out.channels, "side_by_side: shapes differ");
    out.width += im.width;
  }
  out.width += gap * static_cast<int>(images.size() - 1);
  out.pixels.assign(static_cast<size_t>(out.width) * out.height * out.channels, 255);
  int x0 = 0;
  for (const auto& im : images) {
    for (int r = 0; r < im.height; ++r) {
      std::copy_n(im.pixels.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(r) * im.width * im.channels),
                  static_cast<size_t>(im.width) * im.channels,
                  out.pixels.begin() + static_cast<ptrdiff_t>((static_cast<size_t>(r) * out.width + x0) * out.channels));
    }
    x0 += im.width + gap;
  }
  return out;
}

double psnr(std::span<const float> test, std::span<const float> ref, int h, int w, int border) {
  check_metric_args(test, ref, h, w, border, "psnr");
  double se = 0;
  for (int y = border; y < h - border; ++y) {
    for (int x = border; x < w - border; ++x) {
      const double d = static_cast<double>(test[static_cast<size_t>(y) * w + x]) - ref[static_cast<size_t>(y) * w + x];
      se += d * d;
    }
  }
  const double mse = se / (static_cast<double>(h - 2 * border) * (w - 2 * border));
  return mse == 0 ? std::numeric_limits<double>::infinity() : 10 * std::log10(1 / mse);
}

double ssim(std::span<const float> test, std::span<const float> ref, int h, int w, int border) {
  check_metric_args(test, ref, h, w, border, "ssim");
  constexpr int kWin = 11;
  const int ch = h - 2 * border, cw = w - 2 * border;
  if (ch < kWin || cw < kWin) {
    throw Error(fmt::format("ssim: the {}x{} region inside the border is smaller than the 11x11 window", ch, cw));
  }
  std::array<double, kWin> g{};
  double gs = 0;
  for (int i = 0; i < kWin; ++i) {
    g[i] = std::exp(-((i - 5.0) * (i - 5.0)) / (2 * 1.5 * 1.5));
    gs += g[i];
  }
  for (auto& v : g) v /= gs;
  const double c1 = 0.01 * 0.01, c2 = 0.03 * 0.03;
  double total = 0;
  for (int y0 = border; y0 + kWin <= h - border; ++y0) {
    for (int x0 = border; x0 + kWin <= w - border; ++x0) {
      double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
      for (int i = 0; i < kWin; ++i) {
        for (int j = 0; j < kWin; ++j) {
          const double k = g[i] * g[j];
          const size_t p = static_cast<size_t>(y0 + i) * w + (x0 + j);
          const double a = test[p], b = ref[p];
          ma += k * a;
          mb += k * b;
          saa += k * a * a;
          sbb += k * b * b;
          sab += k * a * b;
        }
      }
      const double va = saa - ma * ma, vb = sbb - mb * mb, cov = sab - ma * mb;
      total += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
    }
  }
  return total / (static_cast<double>(ch - kWin + 1) * (cw - kWin + 1));
}

}  // namespace rngfree::train
