// Data of the super-resolution task (docs/superres.md): high-resolution photographs, their
// low-resolution versions made by bicubic downscaling (MATLAB imresize, rounded to 8 bits, as the
// DIV2K/Set5/Set14 benchmarks make them), the bicubic upscale of those, all as BT.601 luma in [0, 1];
// training patches cut from the training images, whole test images for evaluation. No libtorch here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "rngfree/train/image.hpp"

namespace rngfree::train {

// One image of the task at one scale: HR cropped to a multiple of `scale`, LR = bicubic downscale.
struct SrImage {
  std::string name;  // the file
  int scale = 2;
  int hr_h = 0, hr_w = 0, lr_h = 0, lr_w = 0;
  std::vector<float> hr, lr, bicubic;  // luma: hr_h×hr_w, lr_h×lr_w, hr_h×hr_w (bicubic upscale of lr)
  Image hr_rgb, lr_rgb;                // the 8-bit images (the picture of a run shows colour)
};
SrImage make_sr_image(const Image& hr, int scale, std::string name);

// Training patches: lr_size×lr_size LR luma and the matching (lr_size·scale)² bicubic and HR patches.
struct SrPatches {
  int64_t count = 0;
  int lr_size = 0, scale = 2;
  std::vector<float> lr, bicubic, hr;
  int64_t lr_elems() const { return int64_t{lr_size} * lr_size; }
  int64_t hr_elems() const { return lr_elems() * scale * scale; }
};

struct SrSplit {
  std::string spec;
  int scale = 2;
  std::vector<std::string> train_files, test_files;
  SrPatches train;
  std::vector<SrImage> test;
};

// The photographs of `photos` (Debian's python3-skimage and opencv-doc sample images), by split.
std::vector<std::string> photos_train_files();
std::vector<std::string> photos_test_files();

// Patches on a grid of stride lr_size (non-overlapping) from every training image.
SrPatches cut_patches(const std::vector<SrImage>& images, int lr_size);

// Loads "photos" (the default) or "sr:DIR" (DIR/train and DIR/test: HR .png/.jpg files, read in
// name order) at `scale` with LR patches of lr_size pixels. Errors name the file or folder.
SrSplit load_sr_data(std::string_view spec, int scale, int lr_size);

}  // namespace rngfree::train
