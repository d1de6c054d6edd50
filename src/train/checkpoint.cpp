// Checkpoints (trainer.hpp): everything a bit-identical continuation needs — model, momentum,
// every generator's state, the stored taps, the position and the dump buffer — in one libtorch
// archive, serialized in memory and written with write_file_atomic (a kill leaves the old or the new).
#include <nlohmann/json.hpp>
#include <zlib.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string_view>

#include "rngfree/atomic_file.hpp"

#include "trainer_impl.hpp"

namespace rngfree::train {

void Trainer::save_checkpoint(const std::string& path, const std::string& extra) const {
  const Impl& m = *impl_;
  torch::serialize::OutputArchive ar;
  for (const auto& p : m.model->named_parameters()) ar.write("model." + p.key(), p.value());
  for (const auto& b : m.model->named_buffers()) ar.write("buffer." + b.key(), b.value());
  nlohmann::ordered_json meta;
  meta["format"] = "rngfree-checkpoint-1";
  meta["config"] = nlohmann::json::parse(to_json(m.cfg));
  meta["step"] = m.step;
  meta["dump_bits"] = m.dump_bits;
  std::vector<int> mom;
  for (size_t i = 0; i < m.opt->params.size(); ++i) {
    if (m.opt->params[i].momentum.defined()) {
      ar.write(fmt::format("momentum.{}", i), m.opt->params[i].momentum);
      mom.push_back(static_cast<int>(i));
    }
  }
  meta["momentum"] = mom;
  std::vector<int> var;  // AdamW's second moments
  for (size_t i = 0; i < m.opt->params.size(); ++i) {
    if (m.opt->params[i].variance.defined()) {
      ar.write(fmt::format("variance.{}", i), m.opt->params[i].variance);
      var.push_back(static_cast<int>(i));
    }
  }
  meta["variance"] = var;
  nlohmann::json sources = nlohmann::json::object(), taps = nlohmann::json::array();
  for (const auto& l : m.engine.layers) {
    for (int s = 0; s < kNumSites; ++s) {
      if (l->sites[s].source) sources[fmt::format("{}.{}", l->index, kSiteNames[s])] = l->sites[s].source->save_state();
    }
    for (int k = 0; k < kNumTapKinds; ++k) {
      if (k == static_cast<int>(harvest::TapKind::kWeights) || !l->taps[k].defined()) continue;
      ar.write(fmt::format("tap.{}.{}", l->index, k), l->taps[k]);
      taps.push_back(fmt::format("{}.{}", l->index, k));
    }
  }
  meta["sources"] = sources;
  meta["taps"] = taps;
  meta["extra"] = extra;
  ar.write("meta", bytes_tensor(meta.dump()));
  if (!m.dump_bytes.empty()) {
    ar.write("dump", bytes_tensor(std::string(m.dump_bytes.begin(), m.dump_bytes.end())));
  }
  std::ostringstream bytes;
  try {
    ar.save_to(bytes);
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': cannot serialize (", path), e, ")");
  }
  write_file_atomic(path, bytes.str());
}

namespace {
// The zip archive libtorch writes (PKWARE APPNOTE 6.3: local headers, a central directory, a zip64
// end record; entries stored or deflated) is checked entry by entry against the CRC-32 and sizes
// its central directory records before libtorch reads it. libtorch 1.13's reader (miniz, built
// without its CRC checks) hands a damaged entry to the TorchScript importer, which can crash on a
// corrupt code/ entry (fuzz/findings/checkpoint-libtorch-jit-segv): a damaged file must be an error.
class ZipCheck {
 public:
  ZipCheck(std::string_view z, const std::string& path) : z_(z), path_(path) {}

  void run() const {
    if (z_.size() < 22) fail("too short for a zip archive's end record");
    size_t eocd = std::string_view::npos;
    for (size_t i = z_.size() - 22 + 1, lo = z_.size() > 22 + 65535 ? z_.size() - 22 - 65535 : 0; i-- > lo;) {
      if (u32(i) == 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd == std::string_view::npos) fail("no zip end-of-central-directory record");
    uint64_t entries = u16(eocd + 10), cd_size = u32(eocd + 12), cd_offset = u32(eocd + 16);
    if (entries == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
      if (eocd < 20 || u32(eocd - 20) != 0x07064b50) fail("zip64 end record locator missing");
      const uint64_t z64 = u64(eocd - 20 + 8);
      if (z_.size() < 56 || z64 > z_.size() - 56 || u32(z64) != 0x06064b50) fail("zip64 end record missing");
      entries = u64(z64 + 32);
      cd_size = u64(z64 + 40);
      cd_offset = u64(z64 + 48);
    }
    if (cd_offset > z_.size() || cd_size > z_.size() - cd_offset) fail("central directory outside the file");
    size_t at = cd_offset;
    for (uint64_t e = 0; e < entries; ++e) at = entry(at, cd_offset + cd_size);
    if (at != cd_offset + cd_size) fail("central directory size does not match its entries");
  }

 private:
  // One central directory entry at `at` (ending before `end`) and its data; returns the next entry.
  size_t entry(size_t at, size_t end) const {
    if (at > end || end - at < 46 || u32(at) != 0x02014b50) fail("central directory entry damaged");
    const unsigned method = u16(at + 10), flags = u16(at + 8);
    const uint32_t crc = u32(at + 16);
    uint64_t csize = u32(at + 20), usize = u32(at + 24), local = u32(at + 42);
    const size_t nlen = u16(at + 28), xlen = u16(at + 30), clen = u16(at + 32);
    if (end - at - 46 < nlen + xlen + clen) fail("central directory entry damaged");
    const std::string name(z_.substr(at + 46, nlen));
    for (size_t x = at + 46 + nlen, xend = x + xlen; x + 4 <= xend;) {  // zip64 extra field: the 0xFFFFFFFF ones
      const unsigned id = u16(x), len = u16(x + 2);
      if (x + 4 + len > xend) fail("entry '" + name + "': extra field damaged");
      if (id == 0x0001) {
        size_t v = x + 4;
        for (uint64_t* f : {&usize, &csize, &local}) {
          if (*f != 0xFFFFFFFF) continue;
          if (v + 8 > x + 4 + len) fail("entry '" + name + "': zip64 field damaged");
          *f = u64(v);
          v += 8;
        }
      }
      x += 4 + len;
    }
    if ((flags & 1) != 0) fail("entry '" + name + "' is encrypted");
    if (local > z_.size() || z_.size() - local < 30 || u32(local) != 0x04034b50) {
      fail("entry '" + name + "': local header missing");
    }
    // The name is covered by no CRC: a record renamed in the central directory alone would hand
    // libtorch another record's bytes (a tensor over a smaller storage: fuzz/findings/
    // checkpoint-meta-storage-overflow). libtorch writes the same name in both headers.
    const size_t local_nlen = u16(local + 26);
    if (local_nlen != nlen || z_.size() - local - 30 < nlen || z_.substr(local + 30, nlen) != name) {
      fail("entry '" + name + "': its local header names another entry");
    }
    const uint64_t data = local + 30 + u16(local + 26) + u16(local + 28);
    if (data > z_.size() || csize > z_.size() - data) fail("entry '" + name + "' extends past the end of the file");
    const std::string_view bytes = z_.substr(data, csize);
    uLong got = crc32(0L, Z_NULL, 0);
    if (method == 0) {
      if (csize != usize) fail("entry '" + name + "': stored sizes differ");
      got = crc32_z(got, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size());
    } else if (method == 8) {
      got = inflated_crc(bytes, usize, name);
    } else {
      fail(fmt::format("entry '{}': compression method {} (libtorch writes 0 or 8)", name, method));
    }
    if (got != crc) fail(fmt::format("entry '{}' is damaged (CRC-32 {:08x}, recorded {:08x})", name, got, crc));
    return at + 46 + nlen + xlen + clen;
  }

  uLong inflated_crc(std::string_view in, uint64_t usize, const std::string& name) const {
    z_stream s{};
    if (inflateInit2(&s, -MAX_WBITS) != Z_OK) fail("zlib: cannot start inflating");
    std::array<unsigned char, 1 << 16> out;
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t total = 0;
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    s.avail_in = static_cast<uInt>(in.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
      s.next_out = out.data();
      s.avail_out = out.size();
      rc = inflate(&s, Z_NO_FLUSH);
      const size_t n = out.size() - s.avail_out;
      total += n;
      crc = crc32_z(crc, out.data(), n);
      if (total > usize || (rc == Z_OK && n == 0 && s.avail_in == 0)) break;
    }
    inflateEnd(&s);
    if (rc != Z_STREAM_END || total != usize) fail("entry '" + name + "': damaged deflate stream");
    return crc;
  }

  uint64_t le(size_t at, int n) const {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(z_[at + i]);
    return v;
  }
  unsigned u16(size_t at) const { return static_cast<unsigned>(le(at, 2)); }
  uint32_t u32(size_t at) const { return static_cast<uint32_t>(le(at, 4)); }
  uint64_t u64(size_t at) const { return le(at, 8); }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("checkpoint '{}': not a readable rngfree checkpoint ({}); the file was damaged after it "
                            "was written — run without --resume to start afresh",
                            path_, what));
  }

  std::string_view z_;
  const std::string& path_;
};

std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("checkpoint '{}': cannot open the file", path));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(fmt::format("checkpoint '{}': cannot read the file", path));
  return bytes;
}

// The archive is read from `path`, or from `bytes` when given (then `path` only names it).
nlohmann::json read_meta(torch::serialize::InputArchive& ar, const std::string& path,
                         std::optional<std::string_view> bytes = std::nullopt) {
  torch::Tensor meta;
  const std::string file = bytes ? std::string() : read_file_bytes(path);
  const std::string_view z = bytes ? *bytes : std::string_view(file);
  ZipCheck(z, path).run();
  try {
    ar.load_from(z.data(), z.size());
    ar.read("meta", meta);
    nlohmann::json j = nlohmann::json::parse(tensor_bytes(meta));
    if (!j.is_object() || !j.contains("config")) {
      throw Error(fmt::format("checkpoint '{}': its meta record has no run configuration, so it is not an rngfree "
                              "checkpoint; run without --resume to start afresh", path));
    }
    return j;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': not a readable rngfree checkpoint (", path), e,
                        "); run without --resume to start afresh");
  }
}
}  // namespace

TrainConfig load_checkpoint_config(const std::string& path) {
  if (!fs::exists(path)) {
    throw Error(fmt::format("--resume: no checkpoint '{}' (a run with --out DIR writes DIR/checkpoint.pt after each "
                            "epoch)", path));
  }
  torch::serialize::InputArchive ar;
  return config_from_json(read_meta(ar, path).at("config").dump());
}

TrainConfig checkpoint_config_from_bytes(std::string_view bytes, const std::string& name) {
  torch::serialize::InputArchive ar;
  return config_from_json(read_meta(ar, name, bytes).at("config").dump());
}

std::string Trainer::load_checkpoint(const std::string& path) {
  Impl& m = *impl_;
  torch::serialize::InputArchive ar;
  nlohmann::json meta = read_meta(ar, path);
  try {
    torch::NoGradGuard guard;
    for (auto& p : m.model->named_parameters()) {
      torch::Tensor t;
      ar.read("model." + p.key(), t);
      detail::check_storage(t, "model." + p.key());
      p.value().copy_(t);
    }
    for (auto& b : m.model->named_buffers()) {
      torch::Tensor t;
      ar.read("buffer." + b.key(), t);
      detail::check_storage(t, "buffer." + b.key());
      b.value().copy_(t);
    }
    for (auto& p : m.opt->params) p.momentum = torch::Tensor();
    for (int i : meta.at("momentum")) {
      torch::Tensor t;
      ar.read(fmt::format("momentum.{}", i), t);
      detail::check_storage(t, fmt::format("momentum.{}", i));
      m.opt->params.at(i).momentum = t.contiguous();
    }
    for (auto& p : m.opt->params) p.variance = torch::Tensor();
    if (meta.contains("variance")) {  // absent in checkpoints written before AdamW
      for (int i : meta.at("variance")) {
        torch::Tensor t;
        ar.read(fmt::format("variance.{}", i), t);
        detail::check_storage(t, fmt::format("variance.{}", i));
        m.opt->params.at(i).variance = t.contiguous();
      }
    }
    for (auto& l : m.engine.layers) {
      for (int k = 0; k < kNumTapKinds; ++k) {
        if (k != static_cast<int>(harvest::TapKind::kWeights)) l->taps[k] = torch::Tensor();
      }
    }
    for (const std::string key : meta.at("taps")) {
      const auto dot = key.find('.');
      const int li = std::stoi(key.substr(0, dot)), k = std::stoi(key.substr(dot + 1));
      torch::Tensor t;
      ar.read("tap." + key, t);
      detail::check_storage(t, "tap." + key);
      m.engine.layers.at(li)->taps.at(k) = t.contiguous();
    }
    const auto& sources = meta.at("sources");
    for (auto& l : m.engine.layers) {
      for (int s = 0; s < kNumSites; ++s) {
        const std::string key = fmt::format("{}.{}", l->index, kSiteNames[s]);
        if (l->sites[s].source && sources.contains(key)) l->sites[s].source->load_state(sources.at(key).get<std::string>());
      }
    }
    m.step = meta.at("step");
    m.opt->steps_done = m.step;  // AdamW's bias correction counts the optimizer steps done
    m.dump_bits = meta.at("dump_bits");
    m.dump_bytes.clear();
    if (m.dump_bits > 0) {
      torch::Tensor t;
      ar.read("dump", t);
      std::string b = tensor_bytes(t);
      m.dump_bytes.assign(b.begin(), b.end());
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw library_error(fmt::format("checkpoint '{}': does not match this run's model (", path), e,
                        "); resume with the same --model and --preset");
  }
  m.order_epoch = -1;
  m.reset_epoch_stats();
  return meta.at("extra").get<std::string>();
}

}  // namespace rngfree::train
