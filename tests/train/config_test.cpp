// Training configuration: presets carry the documented formats (docs/training.md), TOML keys
// override them, bad keys and values are rejected naming the key, JSON round-trips exactly.
#include <gtest/gtest.h>

#include <array>

#include "support/errors.hpp"

#include "rngfree/error.hpp"
#include "rngfree/train/config.hpp"

using namespace rngfree::train;
using rngfree::Error;

namespace {
const SiteConfig& site(const TrainConfig& c, Site s) { return c.quant.sites[static_cast<int>(s)]; }
using rngfree::testing::error_of;
}  // namespace

TEST(TrainConfig, PresetsQuantizeWhatTheySay) {
  TrainConfig c;
  apply_preset(c, "fp32");
  EXPECT_FALSE(c.quant.any());
  apply_preset(c, "int8-rne");
  for (Site s : {Site::kWeights, Site::kActivations, Site::kErrors, Site::kGradients}) {
    // E: a scale per 32 values (one per tensor made resnet20's evaluation collapse, docs/results.md).
    EXPECT_EQ(site(c, s).format, s == Site::kErrors ? "bfp:7:32" : "fixed:8:dyn");
    EXPECT_EQ(site(c, s).rounding, "nearest-even");
  }
  EXPECT_EQ(site(c, Site::kUpdate).rounding, "nearest-even");
  EXPECT_FALSE(site(c, Site::kUpdate).format.empty());
  // philox and xoshiro128pp give E and G (stochastic:8) four 8-bit words per word, U (stochastic:16)
  // two of 16 bits; lfsr:32 and harvest a word per rounding.
  const std::array<const char*, 3> sr[] = {{"int8-sr-lfsr", "lfsr:32", "lfsr:32"},
                                           {"int8-sr-xoshiro", "xoshiro128pp/8", "xoshiro128pp/16"},
                                           {"int8-sr-philox", "philox/8", "philox/16"},
                                           {"int8-sr-harvest", "harvest", "harvest"}};
  for (auto [name, backward, update] : sr) {
    TrainConfig p;
    apply_preset(p, name);
    EXPECT_EQ(p.preset, name);
    for (Site s : {Site::kErrors, Site::kGradients, Site::kUpdate}) {
      EXPECT_EQ(site(p, s).rounding, s == Site::kUpdate ? "stochastic:16" : "stochastic:8") << name;
      EXPECT_EQ(site(p, s).source, s == Site::kUpdate ? update : backward) << name;
    }
    // The U format is the same in every int8 preset: only the rounding differs from int8-rne.
    EXPECT_EQ(site(p, Site::kUpdate).format, site(c, Site::kUpdate).format);
    p.validate();
  }
  EXPECT_NE(error_of([&] { apply_preset(c, "int4"); }).find("int8-sr-harvest"), std::string::npos);
}

TEST(TrainConfig, TomlOverridesPresetAndFlagsStayValidated) {
  TrainConfig c;
  apply_toml_text(c, R"(
preset = "int8-sr-philox"
epochs = 7
lr = 0.01
[quant]
last_layer = false
[quant.E]
source = "harvest:err@-1"
[quant.harvest]
bits = "0-7"
whiten = false
)");
  EXPECT_EQ(c.preset, "int8-sr-philox");
  EXPECT_EQ(c.epochs, 7);
  EXPECT_DOUBLE_EQ(c.lr, 0.01);
  EXPECT_FALSE(c.quant.last_layer);
  EXPECT_EQ(site(c, Site::kErrors).source, "harvest:err@-1");
  EXPECT_EQ(site(c, Site::kGradients).source, "philox/8");  // untouched preset value
  EXPECT_EQ(c.quant.harvest.mix, "none");  // `whiten = false`: the old spelling of mix = "none" (default "field")
  c.validate();
  // --preset beats the file's preset key.
  TrainConfig d;
  apply_toml_text(d, "preset = \"int8-sr-philox\"\n", "cfg", "int8-rne");
  EXPECT_EQ(d.preset, "int8-rne");
}

TEST(TrainConfig, BadKeysAndValuesNamed) {
  TrainConfig c;
  EXPECT_NE(error_of([&] { apply_toml_text(c, "epoch = 3\n"); }).find("unknown key 'epoch'"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_toml_text(c, "[quant.X]\nformat = \"e4m3\"\n"); }).find("quant.X"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_toml_text(c, "lr = \"fast\"\n"); }).find("'lr' must be a number"), std::string::npos);
  EXPECT_NE(error_of([&] { apply_toml_text(c, "lr = \n"); }).find("line 1"), std::string::npos);
  TrainConfig m;
  m.model = "alexnet";
  EXPECT_NE(error_of([&] { m.validate(); }).find("mlp, lenet5, vgg7, resnet20"), std::string::npos);
  TrainConfig s;
  apply_preset(s, "int8-sr-philox");
  s.quant.sites[static_cast<int>(Site::kErrors)].source = "";
  EXPECT_NE(error_of([&] { s.validate(); }).find("quant.E.source"), std::string::npos);
  s.quant.sites[static_cast<int>(Site::kErrors)].source = "harvest:acts";
  EXPECT_NE(error_of([&] { s.validate(); }).find("quant.E"), std::string::npos);
  s.quant.sites[static_cast<int>(Site::kErrors)].source = "nosuchgen";
  EXPECT_NE(error_of([&] { s.validate(); }).find("quant.E"), std::string::npos);
  TrainConfig b;
  b.batch = 0;
  EXPECT_NE(error_of([&] { b.validate(); }).find("batch 0"), std::string::npos);
}

// Every numeric key is range-checked as TOML gives it (a 64-bit integer), never narrowed into the
// field first: epochs = 2^32 + 1 would become 1 with a cast. The message names the file, the key,
// the value and the range (config.hpp's limits).
TEST(TrainConfig, NumericKeysOutOfRangeAreRefusedNamingKeyValueAndRange) {
  const std::pair<const char*, const char*> cases[] = {
      {"epochs = 4294967297", "run.toml: epochs 4294967297: allowed 1..100000"},
      {"epochs = 0", "run.toml: epochs 0: allowed 1..100000"},
      {"seed = -5", "run.toml: seed -5: allowed 0..18446744073709551615"},
      {"width = 5000", "run.toml: width 5000: allowed 0..4096 (0: the model's default)"},
      {"batch = 65537", "run.toml: batch 65537: allowed 1..65536"},
      {"threads = -1", "run.toml: threads -1: allowed 0..1024 (0: all cores)"},
      {"train_limit = -3", "run.toml: train_limit -3: allowed 0..9223372036854775807 (0: all images)"},
      {"test_limit = -1", "run.toml: test_limit -1: allowed 0..9223372036854775807 (0: all images)"},
      {"lr = 0", "run.toml: lr 0: allowed (0, 100)"},
      {"lr = 1e3", "run.toml: lr 1000: allowed (0, 100)"},
      {"lr = inf", "run.toml: lr inf: allowed (0, 100)"},
      {"momentum = 1.0", "run.toml: momentum 1: allowed [0, 1)"},
      {"weight_decay = -0.5", "run.toml: weight_decay -0.5: allowed [0, 1)"},
      {"[dump]\nlayer = -1", "run.toml: dump.layer -1: allowed 0..1023 (a quantized layer's index, see --layers)"},
      {"[dump]\nmax_bits = 0", "run.toml: dump.max_bits 0: allowed 1..9223372036854775807"},
      {"epochs = 2.5", "run.toml: key 'epochs' must be an integer; allowed 1..100000"},
  };
  for (const auto& kase : cases) {
    const std::string text(kase.first);  // a lambda may not capture a structured binding in C++17
    TrainConfig c;
    EXPECT_EQ(error_of([&] { apply_toml_text(c, text + "\n", "run.toml"); }), kase.second) << text;
  }
  // The bounds themselves are accepted, exactly.
  TrainConfig c;
  apply_toml_text(c, "epochs = 100000\nseed = 9223372036854775807\nlr = 99.5\nmomentum = 0\nthreads = 1024\n");
  EXPECT_EQ(c.epochs, 100000);
  EXPECT_EQ(c.seed, uint64_t{9223372036854775807u});
  EXPECT_EQ(c.lr, 99.5);
  EXPECT_EQ(c.momentum, 0.0);
  EXPECT_EQ(c.threads, 1024);
  // validate() checks a config built in code against the same ranges.
  c.batch = 0;
  EXPECT_EQ(error_of([&] { c.validate(); }), "batch 0: allowed 1..65536");
}

// --resume's comparison: each differing setting named with its flag, saved and given value; the
// ignored keys are skipped; equal configurations have no difference.
TEST(TrainConfig, DifferencesNameEachSettingWithSavedAndGivenValues) {
  TrainConfig saved;
  apply_preset(saved, "int8-sr-harvest");
  TrainConfig given = saved;
  EXPECT_TRUE(config_differences(saved, given).empty());
  given.lr = 0.1;
  given.seed = 7;
  given.epochs = 9;
  given.quant.sites[static_cast<int>(Site::kErrors)].source = "philox";
  const auto d = config_differences(saved, given, {"epochs"});
  EXPECT_EQ(d, (std::vector<std::string>{"lr (--lr): saved 0.05, given 0.1", "seed (--seed): saved 1, given 7",
                                         "quant.E.source: saved \"harvest\", given \"philox\""}));
  EXPECT_EQ(config_differences(saved, given).size(), 4u) << "epochs counts unless ignored";
}

TEST(TrainConfig, JsonRoundTrip) {
  TrainConfig c;
  apply_preset(c, "int8-sr-harvest");
  c.lr = 0.1234567890123;
  c.seed = 0xfedcba9876543210ull;
  c.dump.path = "bits.bin";
  c.quant.batchnorm = "bf16";
  TrainConfig r = config_from_json(to_json(c));
  EXPECT_EQ(to_json(r), to_json(c));
  EXPECT_EQ(r.seed, c.seed);
  EXPECT_EQ(r.lr, c.lr);
  // A damaged saved configuration is refused, not narrowed: epochs 2^32 + 1 would read back as 1.
  std::string damaged = to_json(c);
  const std::string epochs = "\"epochs\": 4,";
  ASSERT_NE(damaged.find(epochs), std::string::npos) << damaged;
  damaged.replace(damaged.find(epochs), epochs.size(), "\"epochs\": 4294967297,");
  EXPECT_EQ(error_of([&] { config_from_json(damaged); }), "saved run configuration: epochs 4294967297: allowed 1..100000");
}
