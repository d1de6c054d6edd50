// Photographs for the super-resolution task (docs/superres.md): PNG/JPEG decoding through Debian's
// stb_image (libstb-dev), PNG writing, BT.601 luma, MATLAB-compatible bicubic resizing (imresize:
// Keys' cubic with a = -1/2, antialiased when shrinking, symmetric edges) and PSNR on Y with a border
// crop — the conventions of the SR literature (SRCNN, EDSR, Set5/Set14 evaluations). No libtorch here.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rngfree::train {

// An 8-bit image, rows top to bottom, channels interleaved (RGB, or one gray channel).
struct Image {
  int width = 0, height = 0, channels = 0;  // channels: 1 or 3
  std::vector<uint8_t> pixels;              // height × width × channels
};

// Decodes a PNG or JPEG file (a name ending in .gz is gunzipped first) to 1 (gray) or 3 (RGB)
// channels; an alpha channel is dropped. A missing, truncated (a PNG without its IEND chunk, a JPEG
// without its end-of-image marker) or undecodable file throws rngfree::Error naming the file.
Image read_image(const std::string& path);
// The same on bytes in memory; `name` names the file in messages.
Image decode_image(std::span<const uint8_t> bytes, std::string_view name);

// PNG bytes of an image (stb_image_write), and the file written atomically.
std::string encode_png(const Image& image);
void write_png(const std::string& path, const Image& image);

// ITU-R BT.601 luma of every pixel as the SR literature computes it (MATLAB rgb2ycbcr), scaled to
// [0, 1]: Y = (16 + 65.481 R' + 128.553 G' + 24.966 B') / 255 with R' = R / 255 (gray: R = G = B).
std::vector<float> luma(const Image& image);

// MATLAB imresize(img, [out_h out_w], 'bicubic') of one channel (row-major, h × w), in double
// precision without rounding (MATLAB rounds uint8 input after each pass; BasicSR's port and this
// one round once, at the end): separable, height first; when shrinking by
// s < 1 the kernel is stretched to width 4/s (antialiasing); edge samples are mirrored.
std::vector<float> resize_bicubic(std::span<const float> src, int h, int w, int out_h, int out_w);
// The same on an 8-bit image, each channel, rounded to the nearest integer and clamped to 0..255
// (what imresize returns for uint8 input: how LR images of DIV2K/Set5/Set14 are made).
Image resize_bicubic(const Image& src, int out_h, int out_w);

// The image with its luma changed from old_y to new_y (values in [0, 1], one per pixel) and its
// chroma kept: ΔY·255/219 is added to R', G' and B' alike, which leaves BT.601 Cb and Cr unchanged;
// rounded and clamped to 0..255. How a luma-only SR model's output is shown in colour.
Image replace_luma(const Image& rgb, std::span<const float> old_y, std::span<const float> new_y);
// A rectangle of an image (rngfree::Error when it does not fit).
Image crop(const Image& image, int y, int x, int h, int w);
// Images of equal height and channels side by side, `gap` white columns between them.
Image side_by_side(const std::vector<Image>& images, int gap);

// PSNR in dB of `test` against `reference` (h × w, values in [0, 1]) over the pixels at least
// `border` pixels from every edge: 10 log10(1 / MSE); +infinity when they are equal there.
double psnr(std::span<const float> test, std::span<const float> reference, int h, int w, int border);

// Mean SSIM (Wang et al. 2004: 11×11 Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 1) over
// the same cropped region, computed on the valid windows inside it (as MATLAB ssim_index does).
double ssim(std::span<const float> test, std::span<const float> reference, int h, int w, int border);

}  // namespace rngfree::train
