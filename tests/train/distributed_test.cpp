// Data-parallel training on c10d/Gloo over loopback (docs/distributed.md). Invariants:
//  - with harvested SR every rank ends with bit-identical parameters (compared here, outside the
//    run's own hash check), and with U's words taken rank-locally they do differ (the comparison can fail);
//  - with quantization off, 2 ranks × batch B follow 1 process × batch 2B up to FP32 summation order;
//  - the run's per-epoch hash check stops a run whose replicas diverge, naming the epoch and the rank;
//  - a killed worker ends the run with an error naming it, within the timeout, never a hang.
// The ranks are forked from the test process before it touches libtorch (each test runs in its own
// process under ctest), or started by `rngfree train --nproc 2`. The suite DistributedTrainLong holds
// the tests with several or long runs (the ASan tier leaves *Long suites out); DistributedTrain's
// tests still run real collectives there.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rngfree/train/trainer.hpp"
#include "support/cli.hpp"
#include "support/files.hpp"


namespace fs = std::filesystem;
using namespace rngfree;
using namespace rngfree::train;

namespace {

fs::path fresh_dir(const std::string& name) { return rngfree::testing::fresh_test_dir("train_distributed", name); }

// A port that was free a moment ago on 127.0.0.1 (the kernel's pick for port 0).
int free_port() {
  const int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (s < 0 || bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (s >= 0) close(s);
    return -1;
  }
  close(s);
  return ntohs(a.sin_port);
}

TrainConfig small_config(const std::string& preset, int batch) {
  TrainConfig c;
  apply_preset(c, preset);
  c.model = "lenet5";
  c.train_limit = 640;
  c.test_limit = 100;
  c.batch = batch;
  c.epochs = 1;
  c.threads = 1;
  return c;
}

struct RankResult {
  bool ok = false;
  std::string error;
  std::vector<float> params;
};

// Forks `world` ranks that each build a Trainer(cfg, rank) and run `steps` optimizer steps, and
// returns every rank's parameters. Each child has 90 s; a child still running then is killed.
std::vector<RankResult> run_ranks(const TrainConfig& cfg, int world, int64_t steps, UpdateBits bits,
                                  const fs::path& dir) {
  const int port = free_port();
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    const pid_t pid = fork();
    if (pid == 0) {
      int code = 0;
      try {
        DistConfig d;
        d.rank = r;
        d.world_size = world;
        d.master_port = port;
        d.timeout_s = 60;
        d.update_bits = bits;
        Trainer t(cfg, d);
        t.train_steps(steps);
        const std::vector<float> p = t.parameters();
        std::ofstream(dir / ("rank" + std::to_string(r) + ".bin"), std::ios::binary)
            .write(reinterpret_cast<const char*>(p.data()), static_cast<std::streamsize>(p.size() * sizeof(float)));
      } catch (const std::exception& e) {
        std::ofstream(dir / ("rank" + std::to_string(r) + ".err")) << e.what();
        code = 1;
      }
      std::fflush(nullptr);
      _exit(code);
    }
    pids.push_back(pid);
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (pid_t pid : pids) {
    int st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::vector<RankResult> out(static_cast<size_t>(world));
  for (int r = 0; r < world; ++r) {
    const fs::path bin = dir / ("rank" + std::to_string(r) + ".bin");
    const fs::path err = dir / ("rank" + std::to_string(r) + ".err");
    if (fs::exists(err)) out[r].error = rngfree::testing::read_file(err);
    if (!fs::exists(bin)) {
      if (out[r].error.empty()) out[r].error = "no result (killed or crashed)";
      continue;
    }
    const std::string bytes = rngfree::testing::read_file(bin);
    out[r].params.resize(bytes.size() / sizeof(float));
    std::memcpy(out[r].params.data(), bytes.data(), out[r].params.size() * sizeof(float));
    out[r].ok = true;
  }
  return out;
}

size_t count_different_bits(const std::vector<float>& a, const std::vector<float>& b) {
  size_t n = 0;
  for (size_t i = 0; i < a.size(); ++i) n += std::bit_cast<uint32_t>(a[i]) != std::bit_cast<uint32_t>(b[i]);
  return n;
}

}  // namespace

// Harvested SR everywhere (E, G from each rank's own taps; U from rank 0's, broadcast): after 20
// steps both ranks hold the same parameters bit for bit. The same run with rank-local U words
// diverges (after one step the replicas differ, and from then on their gradients too) — so the
// comparison discriminates, and rank 0's broadcast is what keeps the replicas equal.
TEST(DistributedTrainLong, TwoRanksStayBitIdenticalWithHarvestedSrAndDivergeWithLocalUpdateBits) {
  const TrainConfig cfg = small_config("int8-sr-harvest", 16);
  const fs::path d1 = fresh_dir("harvest_rank0_bits"), d2 = fresh_dir("harvest_local_bits");
  auto same = run_ranks(cfg, 2, 20, UpdateBits::kRankZero, d1);
  ASSERT_TRUE(same[0].ok) << same[0].error;
  ASSERT_TRUE(same[1].ok) << same[1].error;
  ASSERT_EQ(same[0].params.size(), same[1].params.size());
  EXPECT_EQ(count_different_bits(same[0].params, same[1].params), 0u);

  auto local = run_ranks(cfg, 2, 20, UpdateBits::kLocal, d2);
  ASSERT_TRUE(local[0].ok) << local[0].error;
  ASSERT_TRUE(local[1].ok) << local[1].error;
  EXPECT_GT(count_different_bits(local[0].params, local[1].params), 100u);
}

// fp32 (no quantization): 2 ranks × batch 16 against 1 process × batch 32, 20 steps of SGD with
// momentum on the same 32 images per step (rank r takes half r of each global batch). The gradients
// differ only in FP32 summation order (the mean over 32 against the mean of two means over 16, about
// 1e-7 relative), and 20 steps at lr 0.05 amplify that to well under 1e-4 of the weights' scale;
// a different run (1 process × batch 16, other images and twice the steps' noise) is orders of
// magnitude further away, so the tolerance discriminates.
TEST(DistributedTrain, Fp32TwoRanksOfBatch16FollowOneProcessOfBatch32) {
  const fs::path dir = fresh_dir("fp32_equivalence");
  auto ranks = run_ranks(small_config("fp32", 16), 2, 20, UpdateBits::kRankZero, dir);
  ASSERT_TRUE(ranks[0].ok) << ranks[0].error;
  ASSERT_TRUE(ranks[1].ok) << ranks[1].error;
  EXPECT_EQ(count_different_bits(ranks[0].params, ranks[1].params), 0u);

  Trainer one(small_config("fp32", 32));
  one.train_steps(20);
  const std::vector<float> ref = one.parameters();
  Trainer other(small_config("fp32", 16));
  other.train_steps(20);
  const std::vector<float> unrelated = other.parameters();
  ASSERT_EQ(ref.size(), ranks[0].params.size());
  double max_diff = 0, max_unrelated = 0, scale = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::fabs(ref[i] - ranks[0].params[i])));
    max_unrelated = std::max(max_unrelated, static_cast<double>(std::fabs(ref[i] - unrelated[i])));
    scale = std::max(scale, static_cast<double>(std::fabs(ref[i])));
  }
  EXPECT_LT(max_diff, 1e-4 * scale) << "max |2 ranks - 1 process| " << max_diff << ", weight scale " << scale;
  EXPECT_GT(max_unrelated, 100 * max_diff) << "the unrelated run is as close: the tolerance does not discriminate";
  RecordProperty("max_abs_diff", fmt::format("{:.3g} (weight scale {:.3g}, unrelated run {:.3g})", max_diff, scale, max_unrelated));
}

// `--unsafe-local-update-bits` lets rank 1 round U with its own harvested bits: the hash check at the
// end of epoch 1 stops the run, naming the epoch and the rank, and the launcher reports the failure.
TEST(DistributedTrain, HashCheckStopsARunWhoseReplicasDiverge) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path out = fresh_dir("diverge");
  const auto r = rngfree::testing::run_rngfree(
      "train --nproc 2 --preset int8-sr-harvest --train-limit 640 --test-limit 100 --batch 16 --epochs 1 "
      "--threads 1 --quiet --dist-timeout 30 --unsafe-local-update-bits --out " + out.string());
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("after epoch 1 the replicas differ"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("rank(s) 1 "), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(out / "checkpoint.pt")) << "a diverged run must not write a checkpoint";
}

// The ordinary 2-process run: exit 0, rank 0's reports say 2 processes and the global batch, and the
// checkpoint resumes (both ranks load it) only with the same number of processes.
TEST(DistributedTrainLong, NprocRunWritesReportsAndResumesOnlyWithTheSameNproc) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path out = fresh_dir("nproc_run");
  const std::string args = "train --preset int8-sr-harvest --train-limit 640 --test-limit 100 --batch 16 --threads 1 "
                           "--quiet --dist-timeout 30 --out " + out.string();
  const auto r = rngfree::testing::run_rngfree(args + " --nproc 2 --epochs 1");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("2 processes, global batch 32 (16 per process)"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(rngfree::testing::read_file(out / "summary.json"));
  EXPECT_EQ(j.at("world_size"), 2);
  EXPECT_EQ(j.at("global_batch"), 32);
  const auto again = rngfree::testing::run_rngfree(args + " --nproc 2 --epochs 2 --resume");
  EXPECT_EQ(again.status, 0) << again.out;
  const auto one = rngfree::testing::run_rngfree(args + " --epochs 3 --resume");
  EXPECT_NE(one.status, 0) << one.out;
  EXPECT_NE(one.out.find("was trained by 2 process(es), this one has 1"), std::string::npos) << one.out;
}

// A worker killed with SIGKILL mid-run: the other one stops with Gloo's error (its peer closed the
// connection) or at the latest at the 10 s timeout, and the launcher exits non-zero naming the
// killed rank — well before the test's own 60 s limit.
TEST(DistributedTrainLong, AKilledWorkerEndsTheRunWithAnErrorNotAHang) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path out = fresh_dir("killed_worker");
  const fs::path log = out / "log.txt";
  std::vector<std::string> args = {rngfree::testing::rngfree_program(), "train", "--nproc", "2", "--preset",
                                   "int8-sr-harvest", "--train-limit", "6400", "--test-limit", "100", "--batch", "16",
                                   "--epochs", "20", "--threads", "1", "--quiet", "--dist-timeout", "10"};
  const pid_t launcher = rngfree::testing::spawn_logged(args, log);
  ASSERT_GT(launcher, 0);
  // The launcher's children are the workers; wait until both exist and have run a little.
  auto children = [launcher] {
    std::vector<pid_t> v;
    for (const auto& e : fs::directory_iterator("/proc")) {
      const std::string name = e.path().filename().string();
      if (name.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream f(e.path() / "stat");
      std::string line;
      std::getline(f, line);
      const size_t close_paren = line.rfind(')');
      if (close_paren == std::string::npos) continue;
      std::istringstream rest(line.substr(close_paren + 2));
      char state = 0;
      pid_t ppid = 0;
      rest >> state >> ppid;
      if (ppid == launcher) v.push_back(std::stoi(name));
    }
    return v;
  };
  std::vector<pid_t> workers;
  for (int i = 0; i < 200 && workers.size() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    workers = children();
  }
  ASSERT_EQ(workers.size(), 2u) << rngfree::testing::read_file(log);
  std::this_thread::sleep_for(std::chrono::seconds(4));  // start-up and some steps
  const pid_t victim = *std::max_element(workers.begin(), workers.end());
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  const auto t0 = std::chrono::steady_clock::now();
  int st = 0;
  while (waitpid(launcher, &st, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - t0 > std::chrono::seconds(60)) {
      kill(launcher, SIGKILL);
      for (pid_t w : children()) kill(w, SIGKILL);
      waitpid(launcher, &st, 0);
      FAIL() << "the run did not end within 60 s of a worker's death:\n" << rngfree::testing::read_file(log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string text = rngfree::testing::read_file(log);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0) << text;
  EXPECT_NE(text.find(fmt::format("(pid {}) was killed by signal 9", victim)), std::string::npos) << text;
  EXPECT_LT(seconds, 30.0) << text;
  RecordProperty("seconds_to_stop", std::to_string(seconds));
}

// torchrun's environment is range-checked before anything connects.
TEST(DistributedTrain, BadRankOrWorldSizeIsRefusedNamingIt) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  auto r = rngfree::testing::run_rngfree_env("RANK=2 WORLD_SIZE=2", "train --epochs 1 --quiet");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("rank 2: allowed 0..1"), std::string::npos) << r.out;
  r = rngfree::testing::run_rngfree_env("RANK=0 WORLD_SIZE=0", "train --epochs 1 --quiet");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("WORLD_SIZE 0: allowed 1..256"), std::string::npos) << r.out;
  r = rngfree::testing::run_rngfree("train --nproc 0 --epochs 1 --quiet");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.out.find("--nproc 0: allowed 1..256"), std::string::npos) << r.out;
}
