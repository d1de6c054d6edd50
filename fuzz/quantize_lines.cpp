// Fuzz target: `rngfree quantize`'s input. The first line is a format spec, the second a rounding
// spec, the rest the value lines (with words when the rounding is stochastic). Checks, beyond "no
// crash, no sanitizer report, only rngfree::Error": Format::parse(name()) round-trips, and every
// kernel result equals the plain reference (quantize_reference) bit for bit, on every SIMD level.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/quantize.hpp"
#include "rngfree/quantize_input.hpp"
#include "rngfree/simd.hpp"

namespace {

std::string_view next_line(std::string_view& text) {
  const size_t nl = text.find('\n');
  const std::string_view line = text.substr(0, nl);
  text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  return line;
}

bool same(float a, float b) { return std::isnan(a) ? std::isnan(b) : std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b); }

// The reference result of element i: fixed:dyn scales over the whole span, bfp per block.
float reference(std::span<const float> in, size_t i, const rngfree::Format& f, const rngfree::Rounding& r,
                std::span<const uint32_t> words) {
  using rngfree::FormatKind;
  const uint32_t w = words.empty() ? 0 : words[i];
  int step = 0;
  if (f.kind == FormatKind::kFixedDynamic) {
    step = rngfree::dynamic_step_exponent(in, f);
  } else if (f.kind == FormatKind::kBlockFloat) {
    const size_t b = static_cast<size_t>(f.block_size);
    const size_t first = i / b * b;
    step = rngfree::dynamic_step_exponent(in.subspan(first, std::min(b, in.size() - first)), f);
  }
  if (step == rngfree::kNoScaleStepExponent) return in[i];
  return rngfree::quantize_reference(in[i], f, r, w, step);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  const std::string_view format_spec = next_line(text), rounding_spec = next_line(text);
  rngfree::Format format;
  rngfree::Rounding rounding;
  rngfree::QuantizeInput input;
  try {
    format = rngfree::Format::parse(format_spec);
    rounding = rngfree::Rounding::parse(rounding_spec);
    input = rngfree::parse_quantize_lines(text, rounding.is_stochastic());
  } catch (const rngfree::Error&) {
    return 0;  // refused with a message: the expected outcome for bad input
  }
  if (!(rngfree::Format::parse(format.name()) == format)) std::abort();
  if (input.values.size() > 4096) return 0;  // the reference check is quadratic for fixed:dyn
  std::vector<float> out(input.values.size());
  const rngfree::SimdLevel best = rngfree::simd_level_supported();
  for (int level = 0; level <= static_cast<int>(best); ++level) {
    rngfree::set_simd_level(static_cast<rngfree::SimdLevel>(level));
    rngfree::quantize(input.values, out, format, rounding, input.words);
    for (size_t i = 0; i < out.size(); ++i) {
      if (!same(out[i], reference(input.values, i, format, rounding, input.words))) std::abort();
    }
  }
  rngfree::set_simd_level(best);
  return 0;
}
