// Reading a checkpoint's run configuration from its bytes (what `--resume` reads first, and what
// fuzz/checkpoint.cpp fuzzes): libtorch archives written here, with a "meta" record that is the
// checkpoint's JSON, a JSON without the configuration, or not JSON; and bytes that are no archive.
// Every bad file is refused with rngfree::Error naming it, never a libtorch or JSON exception.
#include <gtest/gtest.h>
#include "rngfree/train/torch.hpp"

#include <cstring>
#include <sstream>
#include <string>

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

}  // namespace
}  // namespace rngfree::train
