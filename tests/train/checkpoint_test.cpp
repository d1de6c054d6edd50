// Reading a checkpoint's run configuration from its bytes (what `--resume` reads first, and what
// fuzz/checkpoint.cpp fuzzes): libtorch archives written here, with a "meta" record that is the
// checkpoint's JSON, a JSON without the configuration, or not JSON; and bytes that are no archive.
// Every bad file is refused with rngfree::Error naming it, never a libtorch or JSON exception.
#include <gtest/gtest.h>
#include "rngfree/train/torch.hpp"

#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/trainer.hpp"
#include "support/errors.hpp"

namespace rngfree::train {
namespace {

using rngfree::testing::error_of;

// A libtorch archive holding one uint8 tensor "meta" with `meta`'s bytes.
std::string archive_with_meta(const std::string& meta) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(meta.size())}, torch::kUInt8);
  if (!meta.empty()) std::memcpy(t.data_ptr<uint8_t>(), meta.data(), meta.size());
  torch::serialize::OutputArchive ar;
  ar.write("meta", t);
  std::ostringstream out;
  ar.save_to(out);
  return out.str();
}

TEST(CheckpointBytes, ConfigRoundTrips) {
  TrainConfig cfg;
  apply_preset(cfg, "int8-sr-philox");
  cfg.model = "mlp";
  cfg.epochs = 3;
  const std::string bytes = archive_with_meta(R"({"format": "rngfree-checkpoint-1", "config": )" + to_json(cfg) + "}");
  EXPECT_EQ(to_json(checkpoint_config_from_bytes(bytes, "run/checkpoint.pt")), to_json(cfg));
}

TEST(CheckpointBytes, NotAnArchiveIsRefusedNamingTheFile) {
  const std::string msg = error_of([] { checkpoint_config_from_bytes("PK\x03\x04 not really a zip", "x.pt"); });
  EXPECT_NE(msg.find("checkpoint 'x.pt': not a readable rngfree checkpoint"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { checkpoint_config_from_bytes("", "empty.pt"); }).find("checkpoint 'empty.pt'"), std::string::npos);
}

// Regression: a meta record without "config" (or not an object) escaped as nlohmann::json's
// out_of_range / type_error instead of the library's error naming the file.
TEST(CheckpointBytes, MetaWithoutConfigIsRefusedNamingTheFile) {
  for (const std::string meta : {R"({"format": "rngfree-checkpoint-1"})", "[1, 2]", "7"}) {
    const std::string bytes = archive_with_meta(meta);
    const std::string msg = error_of([&] { checkpoint_config_from_bytes(bytes, "old.pt"); });
    EXPECT_NE(msg.find("checkpoint 'old.pt': its meta record has no run configuration"), std::string::npos)
        << meta << ": " << msg;
  }
  const std::string not_json = archive_with_meta("{\"config\": ");
  EXPECT_NE(error_of([&] { checkpoint_config_from_bytes(not_json, "cut.pt"); }).find("checkpoint 'cut.pt'"),
            std::string::npos);
}

TEST(CheckpointBytes, ConfigWithWrongTypesIsRefused) {
  const std::string bytes = archive_with_meta(R"({"config": {"preset": 5}})");
  EXPECT_NE(error_of([&] { checkpoint_config_from_bytes(bytes, "bad.pt"); }).find("saved run configuration"),
            std::string::npos);
}


// An entry's name and where its data lies, found independently of the loader: every local header
// ("PK\3\4") in the file, its name, and the data after it up to its data descriptor or the next header.
struct EntrySpan {
  std::string name;
  size_t data = 0, end = 0;
};
std::vector<EntrySpan> local_entries(const std::string& z) {
  std::vector<size_t> heads;
  for (size_t i = z.find("PK\x03\x04"); i != std::string::npos; i = z.find("PK\x03\x04", i + 4)) heads.push_back(i);
  const size_t cd = z.find("PK\x01\x02");
  std::vector<EntrySpan> out;
  for (size_t k = 0; k < heads.size(); ++k) {
    const size_t h = heads[k];
    const auto u16 = [&](size_t at) { return static_cast<unsigned char>(z[at]) | (static_cast<unsigned char>(z[at + 1]) << 8); };
    const size_t nlen = u16(h + 26), xlen = u16(h + 28);
    const size_t data = h + 30 + nlen + xlen, next = k + 1 < heads.size() ? heads[k + 1] : cd;
    const size_t descriptor = z.find("PK\x07\x08", data);  // a data descriptor follows the data when flag bit 3 is set
    out.push_back({z.substr(h + 30, nlen), data, descriptor < next ? descriptor : next});
  }
  return out;
}

// libtorch reads a damaged entry without checking its CRC-32, and its TorchScript importer can crash
// on a damaged code/ entry: one flipped byte in any entry's data is refused with the entry's name.
TEST(CheckpointBytes, AFlippedByteInAnyEntryIsRefusedNamingTheEntry) {
  TrainConfig cfg;
  const std::string good = archive_with_meta(R"({"format": "rngfree-checkpoint-1", "config": )" + to_json(cfg) + "}");
  ASSERT_NO_THROW(checkpoint_config_from_bytes(good, "ok.pt"));
  const auto entries = local_entries(good);
  ASSERT_GE(entries.size(), 5u);  // data/0, data.pkl, code/__torch__.py, ..., version
  for (const auto& e : entries) {
    ASSERT_LT(e.data, e.end) << e.name;
    for (const size_t at : {e.data, (e.data + e.end) / 2, e.end - 1}) {
      std::string bad = good;
      bad[at] = static_cast<char>(bad[at] ^ 0x20);
      const std::string msg = error_of([&] { checkpoint_config_from_bytes(bad, "flip.pt"); });
      EXPECT_NE(msg.find("checkpoint 'flip.pt': not a readable rngfree checkpoint (entry '" + e.name + "' is damaged"),
                std::string::npos)
          << e.name << " byte " << at << ": " << msg;
    }
  }
}

std::string finding(const std::string& name) {
  std::ifstream in(std::string(RNGFREE_SOURCE_DIR) + "/fuzz/findings/" + name, std::ios::binary);
  EXPECT_TRUE(in) << "fuzz/findings/" << name << " is missing";
  return {(std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()};
}

// The input with which fuzz_checkpoint crashed libtorch 1.13's TorchScript importer (SEGV in
// ScriptTypeParser::parseClassConstant): now an error naming the file.
TEST(CheckpointBytes, FuzzFindingWithADamagedCodeEntryIsRefused) {
  const std::string bytes = finding("checkpoint-libtorch-jit-segv");
  const std::string msg = error_of([&] { checkpoint_config_from_bytes(bytes, "finding.pt"); });
  EXPECT_NE(msg.find("checkpoint 'finding.pt': not a readable rngfree checkpoint ("), std::string::npos) << msg;
}

// Sound CRCs, two entry names swapped in the central directory only: libtorch gave the meta tensor
// (1535 bytes) another record's 24 bytes, and reading it overflowed the heap (ASan, fuzz_checkpoint).
TEST(CheckpointBytes, FuzzFindingWithATensorLargerThanItsStorageIsRefused) {
  const std::string bytes = finding("checkpoint-meta-storage-overflow");
  const std::string msg = error_of([&] { checkpoint_config_from_bytes(bytes, "finding.pt"); });
  EXPECT_NE(msg.find("checkpoint 'finding.pt': not a readable rngfree checkpoint (entry 'meta_and_tensor/data/1': its "
                     "local header names another entry)"),
            std::string::npos)
      << msg;
}

}  // namespace
}  // namespace rngfree::train
