// kill -9 at any moment of `rngfree train --out DIR` leaves a folder that the same command with
// --resume either continues to exactly the uninterrupted run's result — the same parameters bit for
// bit, the same metrics, the same dumped bits — or refuses with a clear error (no checkpoint yet:
// then the user starts it again). The kills land at several points: during start-up, mid-epoch,
// inside the checkpoint's write (a temporary checkpoint is left behind as proof) and inside the
// reports' writes; the test polls the run folder to catch those moments.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "rngfree/train/trainer.hpp"
#include "support/cli.hpp"
#include "support/files.hpp"


namespace fs = std::filesystem;
using namespace rngfree;
using rngfree::testing::run_rngfree;

namespace {

fs::path fresh_dir(const std::string& name) { return rngfree::testing::fresh_test_dir("train_kill", name); }

// Files in d whose names start with prefix (".checkpoint.pt.tmp." : write_file_atomic's temporaries).
int count_prefixed(const fs::path& d, const std::string& prefix) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(d, ec)) n += e.path().filename().string().rfind(prefix, 0) == 0;
  return n;
}

// lenet5 with harvested SR (taps carried across steps live in the checkpoint), 3 epochs of 20 steps,
// and a dump of a tap's bits: every kind of state a resume must restore.
std::vector<std::string> run_args(const fs::path& out) {
  return {"train", "--model", "lenet5", "--preset", "int8-sr-harvest", "--train-limit", "640", "--test-limit", "200",
          "--batch", "32", "--epochs", "3", "--threads", "1", "--quiet", "--dump", (out / "act1.bin").string(),
          "--dump-layer", "1", "--dump-bits", "200000", "--out", out.string()};
}

std::string shell_text(const std::vector<std::string>& args) {
  std::string s;
  for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
  return s;
}

// Starts the program with output to log; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all{rngfree::testing::rngfree_program()};
  all.insert(all.end(), args.begin(), args.end());
  return rngfree::testing::spawn_logged(all, log);
}

// Polls `ready` every 50 us while the child runs; SIGKILLs it once ready() holds. Returns true when
// the kill landed (the child was still running), false when it finished first.
bool kill_when(pid_t pid, const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    if (ready()) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  ::kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return true;
}

// The temporaries a killed write left (".NAME.tmp.PID.XXXXXX"): proof that the kill landed inside it.
std::string leftover_temporaries(const fs::path& d) {
  std::string names;
  for (const auto& e : fs::directory_iterator(d)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp.") == std::string::npos) continue;
    if (!names.empty()) names += ' ';
    names += n.substr(0, n.find(".tmp.") + 4);
  }
  return names.empty() ? "none" : names;
}

struct Point {
  std::string name;
  // Builds the trigger for a run writing into folder d (called once, when the run starts).
  std::function<std::function<bool()>(const fs::path& d)> trigger;
};

std::function<bool()> after(std::chrono::milliseconds delay) {
  const auto t0 = std::chrono::steady_clock::now();
  return [=] { return std::chrono::steady_clock::now() - t0 >= delay; };
}

// The final folder against the uninterrupted run's: parameters and step (loaded in this process),
// the metrics of every epoch, the dumped bits.
void expect_same_result(const fs::path& got, const fs::path& want) {
  const train::TrainConfig cfg = train::load_checkpoint_config((want / "checkpoint.pt").string());
  train::Trainer a(cfg), b(cfg);
  a.load_checkpoint((want / "checkpoint.pt").string());
  b.load_checkpoint((got / "checkpoint.pt").string());
  EXPECT_EQ(b.step(), a.step());
  EXPECT_TRUE(b.parameters() == a.parameters()) << "parameters differ";
  const auto ja = nlohmann::json::parse(rngfree::testing::read_file(want / "summary.json"));
  const auto jb = nlohmann::json::parse(rngfree::testing::read_file(got / "summary.json"));
  ASSERT_EQ(jb.at("epochs").size(), ja.at("epochs").size());
  for (size_t e = 0; e < ja.at("epochs").size(); ++e) {
    for (const char* k : {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr"}) {
      EXPECT_EQ(jb["epochs"][e][k], ja["epochs"][e][k]) << "epoch " << e + 1 << " " << k;
    }
  }
  auto ca = ja.at("config"), cb = jb.at("config");
  ca["dump"].erase("path");  // each run dumps into its own folder
  cb["dump"].erase("path");
  EXPECT_EQ(cb, ca);
  const std::string csv = rngfree::testing::read_file(got / "metrics.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  EXPECT_EQ(rngfree::testing::read_file(got / "act1.bin"), rngfree::testing::read_file(want / "act1.bin")) << "dumped bits differ";
}

TEST(TrainKillLong, KillNineAnywhereResumesBitIdenticallyOrRefusesClearly) {
  ASSERT_TRUE(rngfree::testing::rngfree_built()) << "the rngfree program is not built in " << RNGFREE_BINARY_DIR;
  const fs::path want = fresh_dir("uninterrupted");
  {
    const auto r = run_rngfree(shell_text(run_args(want)));
    ASSERT_EQ(r.status, 0) << r.out;
  }
  const std::vector<Point> points = {
      {"start-up (30 ms)", [](const fs::path&) { return after(std::chrono::milliseconds(30)); }},
      {"first checkpoint just renamed into place",
       [](const fs::path& d) { return [d] { return fs::exists(d / "checkpoint.pt"); }; }},
      {"mid-epoch 2 (checkpoint 1 + 150 ms)",
       [](const fs::path& d) {
         auto t = std::make_shared<std::chrono::steady_clock::time_point>();
         return [d, t] {
           if (*t == std::chrono::steady_clock::time_point{}) {
             if (fs::exists(d / "checkpoint.pt")) *t = std::chrono::steady_clock::now();
             return false;
           }
           return std::chrono::steady_clock::now() - *t >= std::chrono::milliseconds(150);
         };
       }},
      {"inside a checkpoint write", [](const fs::path& d) { return [d] { return count_prefixed(d, ".checkpoint.pt.tmp.") > 0; }; }},
      {"inside a later checkpoint write",
       [](const fs::path& d) {
         return [d] { return fs::exists(d / "checkpoint.pt") && count_prefixed(d, ".checkpoint.pt.tmp.") > 0; };
       }},
      {"inside a report write",
       [](const fs::path& d) {
         return [d] { return count_prefixed(d, ".summary.json.tmp.") + count_prefixed(d, ".metrics.csv.tmp.") > 0; };
       }},
      {"inside the dump's write", [](const fs::path& d) { return [d] { return count_prefixed(d, ".act1.bin.tmp.") > 0; }; }},
  };
  int landed = 0, inside_checkpoint_write = 0, refused_no_checkpoint = 0;
  for (size_t i = 0; i < points.size(); ++i) {
    SCOPED_TRACE(points[i].name);
    const fs::path d = fresh_dir("point" + std::to_string(i));
    const auto args = run_args(d);
    const pid_t pid = spawn(args, d.parent_path() / ("point" + std::to_string(i) + ".log"));
    ASSERT_GT(pid, 0);
    const bool killed = kill_when(pid, points[i].trigger(d));
    landed += killed;
    inside_checkpoint_write += killed && count_prefixed(d, ".checkpoint.pt.tmp.") > 0;
    const std::string left = leftover_temporaries(d);
    // What a user does next: the same command with --resume.
    auto r = run_rngfree(shell_text(args) + " --resume");
    if (r.status != 0) {
      const bool no_checkpoint = r.out.find("--resume: no checkpoint '" + (d / "checkpoint.pt").string() + "'") !=
                                 std::string::npos;
      const bool finished = r.out.find("has already done 3 epochs") != std::string::npos;
      ASSERT_TRUE(no_checkpoint || finished) << "not a clear refusal:\n" << r.out;
      refused_no_checkpoint += no_checkpoint;
      if (no_checkpoint) {
        r = run_rngfree(shell_text(args));  // nothing to continue: start again
        ASSERT_EQ(r.status, 0) << r.out;
      }
    }
    expect_same_result(d, want);
    EXPECT_EQ(leftover_temporaries(d), "none") << "the next run removes what the killed one left";
    std::printf("[ kill -9 ] %-42s %s; temporaries left by the kill: %s\n", points[i].name.c_str(),
                killed ? "killed" : "finished first", left.c_str());
  }
  std::printf("[ kill -9 ] %d of %zu kills landed, %d inside a checkpoint write, %d refused (no checkpoint yet)\n", landed,
              points.size(), inside_checkpoint_write, refused_no_checkpoint);
  // Start-up, the first checkpoint and mid-epoch 2 always come before the run's end; whether a kill
  // lands inside a write (a few milliseconds) depends on the machine, so those are counted, not required.
  EXPECT_GE(landed, 3) << "the run must be long enough for the kills to land";
}

}  // namespace
