// `rngfree reproduce`'s results.csv (docs/lm.md, "In rngfree reproduce"): one row per run with the
// epochs and optimizer steps it trained and the metric its value columns hold. A run of --steps (the
// lm task's) trains a fraction of an epoch: the row gives the steps and steps / (steps per epoch),
// computed here from the data's size and the batch, not from the trainer.
#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "rngfree/train/reproduce.hpp"
#include "rngfree/train/text_data.hpp"
#include "support/files.hpp"

namespace fs = std::filesystem;
using namespace rngfree::train;

namespace {

void put_reproduce_be32(std::ofstream& f, uint32_t v) {
  const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                     static_cast<char>(v)};
  f.write(b, 4);
}

// `count` 28×28 images in IDX files (uncompressed): a label-dependent bright band on noise.
void write_reproduce_idx(const fs::path& dir, const std::string& prefix, int count, std::mt19937_64& rng) {
  std::ofstream img(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary);
  put_reproduce_be32(img, 0x00000803);
  put_reproduce_be32(img, static_cast<uint32_t>(count));
  put_reproduce_be32(img, 28);
  put_reproduce_be32(img, 28);
  std::ofstream lab(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary);
  put_reproduce_be32(lab, 0x00000801);
  put_reproduce_be32(lab, static_cast<uint32_t>(count));
  for (int i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng() % 10);
    lab.put(static_cast<char>(label));
    for (int p = 0; p < 28 * 28; ++p) {
      const int r = p / 28;
      const bool on = r >= 2 * label && r < 2 * label + 8;
      img.put(static_cast<char>(on ? 200 + rng() % 56 : rng() % 40));
    }
  }
}

std::vector<std::vector<std::string>> reproduce_csv_rows(const fs::path& file) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(rngfree::testing::read_file(file));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
    rows.push_back(f);
  }
  return rows;
}

}  // namespace

// lenet5 for 1 epoch of 256 images and the gpt for 3 steps: the lenet5 row says 1 epoch of
// 256 / batch steps and test_accuracy; the gpt row 3 steps, 3 / ⌊training bytes / (16 · 64)⌋ epochs
// (the reproduce size's batch and context) and val_loss, equal to the run's own summary.json.
TEST(Reproduce, ResultsCsvGivesStepsEpochsAndTheMetricOfEachRun) {
  const fs::path dir = rngfree::testing::fresh_test_dir("reproduce", "results-csv");
  const fs::path data = dir / "data";
  fs::create_directories(data);
  std::mt19937_64 rng(5);
  write_reproduce_idx(data, "train", 300, rng);
  write_reproduce_idx(data, "t10k", 64, rng);
  ReproduceOptions o;
  o.out_dir = (dir / "out").string();
  o.seeds = 1;
  o.threads = 1;
  o.data = "mnist:" + data.string();
  o.nist = false;
  o.superres = false;
  o.lm_steps = 3;
  o.progress = false;
  o.epochs = 1;
  o.train_limit = 256;
  o.test_limit = 64;
  o.presets = {"fp32"};
  (void)reproduce(o);

  const auto rows = reproduce_csv_rows(dir / "out" / "results.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"model", "preset", "seed", "epochs", "steps", "metric", "final",
                                                "best", "items_per_s", "wall_seconds"}));
  for (const auto& r : rows) ASSERT_EQ(r.size(), 10u);
  const int64_t lenet_batch = TrainConfig{}.batch;
  ASSERT_LE(lenet_batch, 256);
  EXPECT_EQ(rows[1][0], "lenet5");
  EXPECT_EQ(rows[1][3], "1");
  EXPECT_EQ(rows[1][4], std::to_string(256 / lenet_batch));
  EXPECT_EQ(rows[1][5], "test_accuracy");

  EXPECT_EQ(rows[2][0], "gpt");
  EXPECT_EQ(rows[2][1], "fp32");
  EXPECT_EQ(rows[2][4], "3");
  const double steps_per_epoch = static_cast<double>(load_text_data("fortunes").train.size() / (16 * 64));
  EXPECT_NEAR(std::stod(rows[2][3]), 3.0 / steps_per_epoch, 1e-5 * 3.0 / steps_per_epoch) << rows[2][3];
  EXPECT_EQ(rows[2][5], "val_loss");
  const auto summary =
      nlohmann::json::parse(rngfree::testing::read_file(dir / "out" / "runs" / "gpt-fp32-seed1" / "summary.json"));
  EXPECT_NEAR(std::stod(rows[2][6]), summary.at("val_loss").get<double>(), 1e-6);
  EXPECT_NEAR(std::stod(rows[2][7]), summary.at("best_val_loss").get<double>(), 1e-6);
}
