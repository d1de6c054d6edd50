// Fuzz target: the photograph decoder of the superres task (PNG/JPEG through stb_image, with the
// truncation checks of image.cpp). Anything but a decodable image must be refused with
// rngfree::Error naming the file; an accepted image must be consistent: positive size, 1 or 3
// channels, width × height × channels bytes of pixels.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "rngfree/error.hpp"
#include "rngfree/train/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rngfree::train::Image im;
  try {
    im = rngfree::train::decode_image(std::span<const uint8_t>(data, size), "fuzz.png");
  } catch (const rngfree::Error&) {
    return 0;
  }
  if (im.width <= 0 || im.height <= 0 || (im.channels != 1 && im.channels != 3) ||
      im.pixels.size() != static_cast<size_t>(im.width) * im.height * im.channels) {
    std::abort();
  }
  return 0;
}
