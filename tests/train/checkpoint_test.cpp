// Reading a checkpoint's run configuration from its bytes (what `--resume` reads first, and what
// fuzz/checkpoint.cpp fuzzes): libtorch archives written here, with a "meta" record that is the
// checkpoint's JSON, a JSON without the configuration, or not JSON; and bytes that are no archive.
// Every bad file is refused with rngfree::Error naming it, never a libtorch or JSON exception.
#include <gtest/gtest.h>
#include "rngfree/train/torch.hpp"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/error.hpp"
#include "rngfree/train/config.hpp"
#include "rngfree/train/trainer.hpp"
#include "support/errors.hpp"
#include "../../src/train/archive_check.hpp"

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

// The storages data.pkl declares are the tensors written: one per tensor, its type and element count.
TEST(CheckpointPickle, DeclaresOneStoragePerTensorWithItsTypeAndSize) {
  torch::serialize::OutputArchive ar;
  ar.write("a", torch::zeros({3, 4}));
  ar.write("b", torch::zeros({5}, torch::kInt64));
  ar.write("c", torch::zeros({7}, torch::kUInt8));
  std::ostringstream out;
  ar.save_to(out);
  const std::string z = out.str();
  std::string pkl;
  for (const auto& e : local_entries(z)) {
    if (e.name.ends_with("/data.pkl")) pkl = z.substr(e.data, e.end - e.data);
  }
  ASSERT_FALSE(pkl.empty());
  std::map<std::string, int64_t> got;
  for (const auto& d : detail::pickle_storages(pkl)) got[d.type] += d.numel;
  EXPECT_EQ(got, (std::map<std::string, int64_t>{{"FloatStorage", 12}, {"LongStorage", 5}, {"ByteStorage", 7}}));
}

// Hand-assembled pickles (opcodes from Python's pickletools): the declaration is read through the
// memo and LONG1; damaged ones are refused saying what is wrong.
TEST(CheckpointPickle, ReadsHandAssembledPicklesAndRefusesDamagedOnes) {
  using namespace std::string_literals;
  // PROTO 2, MARK, BINUNICODE "storage", BINPUT 0, GLOBAL torch FloatStorage, BINUNICODE "k",
  // BINUNICODE "cpu", LONG1 3 bytes 0x010000 (65536), TUPLE, BINPERSID, STOP
  const std::string id = "\x80\x02("s + "X\x07\0\0\0storage"s + "q\x00"s + "ctorch\nFloatStorage\n" + "X\x01\0\0\0k"s +
                         "X\x03\0\0\0cpu"s + "\x8a\x03\x00\x00\x01"s + "tQ";
  const auto d = detail::pickle_storages(id + ".");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].type, "FloatStorage");
  EXPECT_EQ(d[0].key, "k");
  EXPECT_EQ(d[0].numel, 65536);
  // LONG1 0xff (one byte) is -1: sign-extended.
  const std::string minus = "\x80\x02(h\x00"s + "ctorch\nFloatStorage\n" + "X\x01\0\0\0k"s + "X\x03\0\0\0cpu"s + "\x8a\x01\xff"s + "tQ.";
  EXPECT_EQ(detail::pickle_storages(id + "0" + minus).back().numel, -1);
  const auto refused = [](const std::string& p) {
    try {
      detail::pickle_storages(p);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(refused(id).find("ends inside"), std::string::npos);                     // no STOP
  EXPECT_NE(refused(id.substr(0, 10)).find("ends inside"), std::string::npos);       // cut inside "storage"
  EXPECT_NE(refused(id.substr(0, 20)).find("no end of line"), std::string::npos);    // cut inside the GLOBAL
  EXPECT_NE(refused("\x80\x02h\x05."s).find("memo entry 5"), std::string::npos);     // BINGET of nothing
  EXPECT_NE(refused("\x80\x02\x95."s).find("opcode 0x95"), std::string::npos);       // FRAME (protocol 4)
  EXPECT_NE(refused("\x80\x02t."s).find("MARK"), std::string::npos);                 // TUPLE without MARK
  EXPECT_NE(refused("\x80\x02R."s).find("stack lacks"), std::string::npos);          // REDUCE on nothing
  EXPECT_NE(refused("\x80\x02)Q."s).find("not a storage"), std::string::npos);       // persistent id ()
  EXPECT_NE(refused(""s).find("empty"), std::string::npos);
}

// Two records renamed consistently in both headers (names carry no CRC): libtorch 1.13 would give
// each storage the other's record and size it from data.pkl, reading past the smaller one. Refused
// naming the record and both sizes.
TEST(CheckpointBytes, RecordsRenamedInBothHeadersAreRefused) {
  torch::serialize::OutputArchive ar;
  ar.write("small", torch::zeros({2}));
  ar.write("large", torch::zeros({300}));
  std::ostringstream out;
  ar.save_to(out);
  std::string z = out.str();
  std::string root;
  for (const auto& e : local_entries(z)) {
    if (e.name.ends_with("/data.pkl")) root = e.name.substr(0, e.name.size() - 8);
  }
  ASSERT_FALSE(root.empty());
  const std::string a = root + "data/0", b = root + "data/1", tmp = root + "data/#";
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{{a, tmp}, {b, a}, {tmp, b}}) {
    int renamed = 0;
    for (size_t at = z.find(from); at != std::string::npos; at = z.find(from, at + 1)) {
      if (z.compare(at, from.size() + 1, from + "/") == 0) continue;  // not a prefix of a longer name
      z.replace(at, from.size(), to);
      ++renamed;
    }
    ASSERT_EQ(renamed, 2) << from;  // local header and central directory
  }
  const std::string msg = error_of([&] { checkpoint_config_from_bytes(z, "renamed.pt"); });
  EXPECT_NE(msg.find("checkpoint 'renamed.pt': not a readable rngfree checkpoint (entry '" + root), std::string::npos) << msg;
  EXPECT_NE(msg.find("holds 1200 bytes but '" + root + "data.pkl' declares a FloatStorage of 2 elements (8 bytes)"),
            std::string::npos)
      << msg;
}

// An entry named model.json would send libtorch to its legacy importer: refused by name.
TEST(CheckpointBytes, LegacyModelJsonEntryIsRefused) {
  TrainConfig cfg;
  std::string z = archive_with_meta(R"({"format": "rngfree-checkpoint-1", "config": )" + to_json(cfg) + "}");
  std::string version;
  for (const auto& e : local_entries(z)) {
    if (e.name.ends_with("/version")) version = e.name;
  }
  ASSERT_GE(version.size(), 15u);
  const std::string legacy = version.substr(0, version.size() - 11) + "/model.json";  // same length
  int renamed = 0;
  for (size_t at = z.find(version); at != std::string::npos; at = z.find(version, at + 1), ++renamed) {
    z.replace(at, version.size(), legacy);
  }
  ASSERT_EQ(renamed, 2);
  const std::string msg = error_of([&] { checkpoint_config_from_bytes(z, "legacy.pt"); });
  EXPECT_NE(msg.find("(entry '" + legacy + "' is the legacy TorchScript format)"), std::string::npos) << msg;
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

// The same SEGV in libtorch's TorchScript importer, reached again by fuzz_checkpoint with every
// CRC-32 matching (the fuzzer learns the compared value): a checksum is no defence against a crafted
// file. Checkpoints are now read without importing their code/ entries at all (ArchiveTensors):
// this input is an error naming the file, not a crash.
TEST(CheckpointBytes, FuzzFindingWithCraftedCodeAndMatchingCrcIsReadWithoutTheTorchScriptImporter) {
  const std::string bytes = finding("checkpoint-libtorch-jit-segv-crc");
  const std::string msg = error_of([&] { checkpoint_config_from_bytes(bytes, "finding.pt"); });
  EXPECT_NE(msg.find("checkpoint 'finding.pt'"), std::string::npos) << msg;
  std::printf("[finding] %s\n", msg.c_str());
}

// An end record claiming 0 entries beside a zip64 end record of 6: libtorch's zip reader (miniz)
// takes the zip64 numbers, the check took the end record's and so checked nothing; libtorch's
// unpickler then read a damaged data.pkl whose string length made it allocate and clear gigabytes
// (a 29 s libFuzzer timeout). The check now reads the zip64 record whenever its locator is there.
TEST(CheckpointBytes, FuzzFindingWithAZip64RecordTheEndRecordContradictsIsChecked) {
  const std::string bytes = finding("checkpoint-zip64-entries-unchecked");
  const std::string msg = error_of([&] { checkpoint_config_from_bytes(bytes, "finding.pt"); });
  EXPECT_NE(msg.find("checkpoint 'finding.pt': not a readable rngfree checkpoint (entry 'meta_only/"), std::string::npos) << msg;
  EXPECT_NE(msg.find("' is damaged (CRC-32"), std::string::npos) << msg;
}

}  // namespace
}  // namespace rngfree::train
