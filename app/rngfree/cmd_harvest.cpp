// `rngfree harvest --from FILE [--bits LO-HI] [--fold K] [--skip-zeros] [--mix NAME | --whiten] --out BITS.bin`
// (defaults: training's extractor, train::HarvestConfig):
// reads raw little-endian FP32 values (a dumped tap), extracts the harvester's bit stream
// (docs/random.md) and writes it MSB-first for `rngfree nist BITS.bin --input binary`.
#include <fmt/core.h>

#include <bit>
#include <cstdio>
#include <string>
#include <vector>

#include "command.hpp"
#include "rngfree/atomic_file.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/error.hpp"
#include "rngfree/harvest/harvest.hpp"

namespace rngfree::app {
namespace {

std::vector<float> read_fp32_le(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw Error(fmt::format("--from '{}': cannot open the file for reading", path));
  std::vector<unsigned char> bytes;
  unsigned char buf[1 << 16];
  size_t got = 0;
  while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) bytes.insert(bytes.end(), buf, buf + got);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw Error(fmt::format("--from '{}': read error", path));
  if (bytes.size() % 4 != 0) {
    throw Error(fmt::format("--from '{}': {} bytes is not a whole number of FP32 values (4 bytes each, little-endian)",
                            path, bytes.size()));
  }
  std::vector<float> x(bytes.size() / 4);
  for (size_t i = 0; i < x.size(); ++i) {
    const unsigned char* b = bytes.data() + 4 * i;
    const uint32_t w = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    x[i] = std::bit_cast<float>(w);
  }
  return x;
}

const RegisterCommand kHarvest("", "harvest", [](CLI::App& root) {
  auto* cmd = root.add_subcommand(
      "harvest", "Extract the harvester's bit stream from raw little-endian FP32 values (for `rngfree nist --input binary`)");
  struct Args {
    std::string from, out, bits = train::HarvestConfig{}.bits;  // training's defaults: one extractor
    int64_t fold = 1;
    bool skip_zeros = false, whiten = false;
    std::string mix;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("--from", a->from, "Input file: raw little-endian FP32 values")->required();
  cmd->add_option("--bits", a->bits,
                  "Bit field LO-HI of each FP32 pattern (bit 0 = LSB; mantissa is 0-22; default: training's, " +
                      train::HarvestConfig{}.bits + ")");
  add_integer_flag(cmd, "--fold", a->fold,
                   "XOR-fold K whole copies: n values give floor(n/K) fields, field i = XOR of values i + t*floor(n/K), "
                   "t < K", IntRange<int64_t>{1, std::numeric_limits<int64_t>::max()});
  cmd->add_flag("--skip-zeros", a->skip_zeros, "Drop exact zeros (+0 and -0) before extraction");
  cmd->add_option("--mix", a->mix,
                  "Mix each word after folding: field (a bijection on the field's width; training's default), none, "
                  "whiten32 (w ^= w>>16; w *= 0x7feb352d; w ^= w>>15 on 32 bits, then the field's width of low bits); "
                  "docs/random.md");
  cmd->add_flag("--whiten", a->whiten, "Alias for --mix whiten32");
  cmd->add_option("--out", a->out, "Output file: the bit stream, packed MSB-first, the last byte padded with zero bits "
                  "(as training's --dump)")->required();
  cmd->callback([a] {
    harvest::Extractor e = harvest::Extractor::parse_bits(a->bits);
    if (a->whiten && !a->mix.empty() && a->mix != "whiten32") {
      throw Error(fmt::format("--whiten is --mix whiten32 and contradicts --mix {}; give one of them", a->mix));
    }
    e.mix = a->whiten ? harvest::Mix::kWhiten32 : harvest::parse_mix(a->mix.empty() ? train::HarvestConfig{}.mix : a->mix);
    e.zeros = a->skip_zeros ? harvest::ZeroPolicy::kSkip : harvest::ZeroPolicy::kKeep;
    const auto x = read_fp32_le(a->from);
    const auto bs = harvest::harvest_bits(x, e, a->fold);
    const auto whole = bs.bytes.size();
    write_file_atomic(a->out, std::string_view(reinterpret_cast<const char*>(bs.bytes.data()), whole));
    fmt::print("{}: {} FP32 values, {}, fold {} -> {} bits; wrote {} bytes (the last padded with {} zero bits) to {}\n",
               a->from, x.size(), e.name(), a->fold, bs.bits, whole, static_cast<int64_t>(whole) * 8 - bs.bits, a->out);
  });
});
}  // namespace
}  // namespace rngfree::app
