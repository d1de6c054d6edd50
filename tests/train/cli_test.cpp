// `rngfree train` (and the other training commands) from outside, as a user types them: every
// numeric flag out of its range is refused with the flag, the value and the range (exit status 2,
// nothing trained); --resume accepts the same command again and refuses only settings that differ,
// naming each with its saved and given value; a damaged checkpoint (CRC-32, sizes) is refused before
// libtorch reads it; one libtorch refuses gives libtorch's message and the file, its backtrace only with --verbose.
#include <gtest/gtest.h>
#include "rngfree/train/torch.hpp"  // first: clang's C++20 mode needs ivalue.h before the rest of libtorch
#include <caffe2/serialize/inline_container.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/cli.hpp"
#include "support/files.hpp"

namespace fs = std::filesystem;
using rngfree::testing::run_rngfree;

namespace {

fs::path fresh_dir(const std::string& name) { return rngfree::testing::fresh_test_dir("train_cli", name); }
std::string read_text(const fs::path& p) { return rngfree::testing::read_file(p); }

// A run small enough for a test: mlp, 256 images (8 steps of 32), 100 test images, one thread.
const std::string kSmallRun =
    "train --model mlp --preset int8-sr-harvest --train-limit 256 --test-limit 100 --batch 32 --threads 1 --quiet";

// A constant learning rate: the cosine schedule depends on the total epochs, so only with a constant
// one does a run continued 1 -> 2 -> 3 epochs equal a 3-epoch run (docs/training.md).
std::string constant_schedule(const fs::path& d) {
  const fs::path p = d / "constant.toml";
  std::ofstream(p) << "schedule = \"constant\"\n";
  return " --config " + p.string();
}

TEST(TrainCommandLong, EveryNumericFlagOutOfRangeIsRefusedNamingFlagValueAndRange) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const std::pair<std::string, std::string> cases[] = {
      {"train --seed -5", "--seed -5: allowed 0..18446744073709551615"},
      {"train --epochs 4294967297", "--epochs 4294967297: allowed 1..100000"},
      {"train --epochs 0", "--epochs 0: allowed 1..100000"},
      {"train --epochs 010x", "--epochs '010x': not a whole decimal number; allowed 1..100000"},
      {"train --batch 0", "--batch 0: allowed 1..65536"},
      {"train --lr 0", "--lr 0: allowed (0, 100)"},
      {"train --lr nan", "--lr nan: allowed (0, 100)"},
      {"train --width -1", "--width -1: allowed 0..4096 (0: the model's default)"},
      {"train --threads 5000", "--threads 5000: allowed 0..1024 (0: all cores)"},
      {"train --train-limit -1", "--train-limit -1: allowed 0..9223372036854775807 (0: all images)"},
      {"train --test-limit -1", "--test-limit -1: allowed 0..9223372036854775807 (0: all images)"},
      {"train --dump-layer -2", "--dump-layer -2: allowed 0..1023 (a quantized layer's index, see --layers)"},
      {"train --dump-bits 0", "--dump-bits 0: allowed 1..9223372036854775807"},
      {"atlas --seed -1", "--seed -1: allowed 0..18446744073709551615"},
      {"atlas --window 0", "--window 0: allowed 1..100000"},
      {"atlas --bits 999", "--bits 999: allowed 1000..100000000"},
      {"atlas --sequences 1001", "--sequences 1001: allowed 1..1000"},
      {"atlas --min-bits 0", "--min-bits 0: allowed 1..9223372036854775807 (at most --bits)"},
      {"atlas --steps 0", "--steps 0: allowed 1..9223372036854775807 (at least --window x phases)"},
      {"atlas --threads 0", "--threads 0: allowed 1..1024"},
      {"atlas --batch 70000", "--batch 70000: allowed 1..65536"},
      {"atlas --train-threads -1", "--train-threads -1: allowed 0..1024 (0: all cores)"},
      {"atlas --train-limit -1", "--train-limit -1: allowed 0..9223372036854775807 (0: all images)"},
      {"audit --epochs 0", "--epochs 0: allowed 1..100000"},
      {"audit --steps 0", "--steps 0: allowed 1..9223372036854775807"},
      {"audit --window 0", "--window 0: allowed 1..9223372036854775807"},
      {"audit --bits 999", "--bits 999: allowed 1000..1000000000"},
      {"audit --sequences 0", "--sequences 0: allowed 1..1000"},
      {"audit --calibration 65", "--calibration 65: allowed 1..64"},
      {"audit --seed -5", "--seed -5: allowed 0..18446744073709551615"},
      {"audit --threads 0", "--threads 0: allowed 1..1024"},
      {"audit --train-threads 2000", "--train-threads 2000: allowed 0..1024 (0: all cores)"},
      {"audit --train-limit -1", "--train-limit -1: allowed 0..9223372036854775807 (0: all images)"},
      {"reproduce --seeds 0 --plan", "--seeds 0: allowed 1..100"},
      {"reproduce --epochs 0 --plan", "--epochs 0: allowed 1..100000"},
      {"reproduce --threads -1 --plan", "--threads -1: allowed 0..1024 (0: all cores)"},
      {"reproduce --train-limit -1 --plan", "--train-limit -1: allowed 0..9223372036854775807 (0: all images)"},
      {"bench train --rounds 0", "--rounds 0: allowed 1..1000"},
      {"bench train --steps 0", "--steps 0: allowed 1..1000000"},
      {"bench train --batch 0", "--batch 0: allowed 1..65536"},
      {"bench train --threads -1", "--threads -1: allowed 0..1024 (0: all cores)"},
      {"bench quantize --repeats 0", "--repeats 0: allowed 1..1000"},
      {"bench quantize --log2-elements 29", "--log2-elements 29: allowed 10..28"},
      {"bench quantize --format bogus",
       "--format 'bogus': unknown; allowed: bf16, e4m3, fixed:8:dyn, fp16, tf32, e5m2, fixed:8:4, bfp:7:32"},
      {"bench quantize --log2-elements 10 --format bf16 --source nope",
       "--source 'nope': unknown; allowed: given, philox, xoshiro128pp, xoshiro128pp:16, xorshift32, xorshift32:16, "
       "mt19937, lfsr:32, lfsr:32:1, harvest, harvest:self, harvest-fused, harvest-fused:self, harvest-fused-sum, "
       "take:philox, take:xoshiro128pp, take:lfsr:32, take:philox/8, take:xoshiro128pp/8, take:lfsr:32/8, "
       "harvest-materialized"},
      {"bench random --repeats 1001", "--repeats 1001: allowed 1..1000"},
      {"bench nist --threads 0", "--threads 0: allowed 1..1024"},
      {"bench nist --sequences 0", "--sequences 0: allowed 1..100000"},
      {"bench nist -n 999", "--bits 999: allowed 1000..1073741824"},
  };
  // Four at a time: each case starts the program (and loads libtorch) once.
  std::vector<rngfree::testing::CliResult> results(std::size(cases));
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next++) < std::size(cases);) results[i] = run_rngfree(cases[i].first);
    });
  }
  for (auto& t : pool) t.join();
  for (size_t i = 0; i < std::size(cases); ++i) {
    EXPECT_EQ(results[i].status, 2) << cases[i].first << "\n" << results[i].out;
    EXPECT_EQ(results[i].out, "rngfree: error: " + cases[i].second + "\n") << cases[i].first;
  }
}

// The same command again with --resume is accepted (it used to be refused); settings that differ
// are refused, each named with its saved and given value, and nothing is trained; with no settings
// at all the saved run continues. The continued run equals one trained in a single go.
TEST(TrainCommandLong, ResumeAcceptsEqualFlagsAndRefusesOnlyThoseThatDiffer) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path d = fresh_dir("resume"), whole = fresh_dir("resume_whole");
  const std::string run = kSmallRun + constant_schedule(whole);
  auto r = run_rngfree(run + " --epochs 1 --out " + d.string());
  ASSERT_EQ(r.status, 0) << r.out;
  // The same command, --resume added and a further epoch: accepted.
  r = run_rngfree(run + " --epochs 2 --resume --out " + d.string());
  ASSERT_EQ(r.status, 0) << r.out;
  // Settings that differ: refused, every one named; the run folder is untouched.
  const std::string before = read_text(d / "checkpoint.pt");
  r = run_rngfree(run + " --epochs 3 --lr 0.1 --seed 2 --dump " + (d / "bits.bin").string() + " --resume --out " +
                  d.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("--resume: 3 setting(s) differ from the run saved in '" + (d / "checkpoint.pt").string() + "'"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lr (--lr): saved 0.05, given 0.1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seed (--seed): saved 1, given 2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("dump.path (--dump): saved \"\", given \"" + (d / "bits.bin").string() + "\""),
            std::string::npos) << r.out;
  EXPECT_EQ(read_text(d / "checkpoint.pt"), before);
  std::string fp32 = run;
  fp32.replace(fp32.find("int8-sr-harvest"), std::string("int8-sr-harvest").size(), "fp32");
  r = run_rngfree(fp32 + " --epochs 3 --resume --out " + d.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("preset (--preset): saved \"int8-sr-harvest\", given \"fp32\""), std::string::npos) << r.out;
  // Only --out and --epochs: the saved settings continue.
  r = run_rngfree("train --quiet --resume --epochs 3 --out " + d.string());
  ASSERT_EQ(r.status, 0) << r.out;
  r = run_rngfree(run + " --epochs 3 --out " + whole.string());
  ASSERT_EQ(r.status, 0) << r.out;
  const auto a = nlohmann::json::parse(read_text(d / "summary.json"));
  const auto b = nlohmann::json::parse(read_text(whole / "summary.json"));
  ASSERT_EQ(a.at("epochs").size(), 3u);
  ASSERT_EQ(b.at("epochs").size(), 3u);
  for (size_t e = 0; e < 3; ++e) {
    for (const char* k : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"}) {
      EXPECT_EQ(a["epochs"][e][k], b["epochs"][e][k]) << "epoch " << e + 1 << " " << k;
    }
  }
  EXPECT_EQ(a.at("config"), b.at("config"));
  // A finished run asked for no more epochs: refused, saying how to continue; its reports (lost
  // here as a kill between the last checkpoint and the reports would lose them) are written again
  // from the checkpoint, with the epochs it was trained to, not the refused --epochs.
  const std::string metrics = read_text(d / "metrics.csv");
  fs::remove(d / "summary.json");
  fs::remove(d / "metrics.csv");
  r = run_rngfree(run + " --epochs 2 --resume --out " + d.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("has already done 3 epochs; pass --epochs N with N > 3"), std::string::npos) << r.out;
  EXPECT_EQ(read_text(d / "metrics.csv"), metrics);
  const auto rewritten = nlohmann::json::parse(read_text(d / "summary.json"));
  EXPECT_EQ(rewritten.at("config"), a.at("config"));
  EXPECT_EQ(rewritten.at("epochs"), a.at("epochs"));
  EXPECT_EQ(rewritten.at("test_accuracy"), a.at("test_accuracy"));
}

// A one-epoch run in a fresh folder `name`; returns the folder (its checkpoint.pt is the test's subject).
fs::path one_epoch_run(const std::string& name) {
  const fs::path d = fresh_dir(name);
  const auto r = run_rngfree(kSmallRun + " --epochs 1 --out " + d.string());
  EXPECT_EQ(r.status, 0) << r.out;
  return d;
}

// A torn checkpoint is refused by the zip check, before libtorch reads it.
TEST(TrainCommand, TornCheckpointIsRefusedBeforeLibtorchReadsIt) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path d = one_epoch_run("torn");
  const fs::path ckpt = d / "checkpoint.pt";
  std::string bytes = read_text(ckpt);
  ASSERT_GT(bytes.size(), 1000u);
  bytes.resize(bytes.size() / 2);  // torn: the zip's central directory is gone
  std::ofstream(ckpt, std::ios::binary | std::ios::trunc) << bytes;
  const auto r = run_rngfree(kSmallRun + " --epochs 2 --resume --out " + d.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("rngfree: error: checkpoint '" + ckpt.string() +
                       "': not a readable rngfree checkpoint (no zip end-of-central-directory record); the file was "
                       "damaged after it was written"),
            std::string::npos)
      << r.out;
}

// A sound zip archive that libtorch refuses (no data.pkl): the error names the file and gives
// libtorch's own message, without the C++ backtrace libtorch appends ("Exception raised from ...
// frame #0"); --verbose prints that detail.
TEST(TrainCommand, UnreadableCheckpointGivesLibtorchsMessageAndTheFileBacktraceOnlyWithVerbose) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path d = one_epoch_run("corrupt");
  const fs::path ckpt = d / "checkpoint.pt";
  {
    caffe2::serialize::PyTorchStreamWriter writer(ckpt.string());  // libtorch's own zip writer
    const std::string text = "not a checkpoint";
    writer.writeRecord("notes.txt", text.data(), text.size());
    writer.writeEndOfFile();
  }
  auto r = run_rngfree(kSmallRun + " --epochs 2 --resume --out " + d.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("rngfree: error: checkpoint '" + ckpt.string() + "': not a readable rngfree checkpoint ("),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PytorchStreamReader"), std::string::npos) << "libtorch's message\n" << r.out;
  EXPECT_EQ(r.out.find("frame #"), std::string::npos) << "no backtrace without --verbose\n" << r.out;
  EXPECT_EQ(r.out.find("Exception raised from"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("run with --verbose"), std::string::npos) << r.out;
  r = run_rngfree(kSmallRun + " --epochs 2 --resume --verbose --out " + d.string());
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("not a readable rngfree checkpoint ("), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Exception raised from"), std::string::npos) << "the detail with --verbose\n" << r.out;
}

}  // namespace

// `--layers` lists the gpt's tensor sites a config turns on (docs/lm.md, "Tensor sites") with their
// format, rounding and generator stream, and none when they are off.
TEST(TrainCommand, LayersListsTheGptTensorSitesThatAreOn) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path d = fresh_dir("tensor_sites");
  const fs::path toml = d / "tensor_sites.toml";
  std::ofstream(toml) << "[quant.softmax]\nformat = \"bf16\"\nrounding = \"stochastic:8\"\nsource = \"philox\"\n"
                         "[quant.layernorm]\nformat = \"e4m3\"\n";
  const std::string lm = "train --task lm --width 16 --blocks 1 --heads 2 --context 16 --threads 1 --layers";
  const auto on = run_rngfree(lm + " --config " + toml.string());
  ASSERT_EQ(on.status, 0) << on.out;
  EXPECT_NE(on.out.find("tensor site layernorm: e4m3 nearest-even\n"), std::string::npos) << on.out;
  EXPECT_NE(on.out.find("tensor site softmax: bf16 stochastic:8 <- philox (stream 2^33 + 1)\n"), std::string::npos)
      << on.out;
  EXPECT_EQ(on.out.find("tensor site embedding"), std::string::npos) << on.out;
  const auto off = run_rngfree(lm);
  ASSERT_EQ(off.status, 0) << off.out;
  EXPECT_EQ(off.out.find("tensor site"), std::string::npos) << off.out;
}
