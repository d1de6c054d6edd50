// write_file_atomic (atomic_file.hpp): the file holds exactly the bytes written; no temporary file
// is left behind, after success or failure; a failure names the path and leaves the old file whole;
// two writers racing on one file never mix their bytes or clobber each other's temporaries, and a
// reader only ever sees one whole version.
#include "rngfree/atomic_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "rngfree/error.hpp"
#include "support/errors.hpp"
#include "support/files.hpp"

namespace rngfree {
namespace {
namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) { return testing::fresh_test_dir("atomic_file", name); }
std::string read(const fs::path& p) { return testing::read_file(p); }

std::vector<std::string> names_in(const fs::path& d) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(d)) v.push_back(e.path().filename().string());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(AtomicFile, WritesExactBytesCreatesFoldersAndLeavesNoTemporary) {
  const fs::path d = fresh_dir("write");
  const fs::path p = d / "sub" / "x.bin";
  const std::string bytes("a\0b\n\xff", 5);  // binary-safe: a NUL and a high byte
  write_file_atomic(p.string(), bytes);
  EXPECT_EQ(read(p), bytes);
  write_file_atomic(p.string(), "second");  // replaces, shorter
  EXPECT_EQ(read(p), "second");
  EXPECT_EQ(names_in(d / "sub"), std::vector<std::string>{"x.bin"});
  // The mode a plain open(2) gives: 0666 less the umask (mkstemp alone would give 0600).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  struct stat st {};
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
  fs::remove_all(d);
}

TEST(AtomicFile, FailureNamesThePathAndKeepsTheOldFile) {
  const fs::path d = fresh_dir("fail");
  // The target is a folder: the rename fails; the folder and its content stay, no temporary remains.
  fs::create_directories(d / "target");
  write_file_atomic((d / "target" / "old").string(), "old");
  const std::string msg = testing::error_of([&] { write_file_atomic((d / "target").string(), "new"); });
  EXPECT_NE(msg.find((d / "target").string()), std::string::npos) << msg;
  EXPECT_EQ(read(d / "target" / "old"), "old");
  EXPECT_EQ(names_in(d), std::vector<std::string>{"target"});
  // The parent is a regular file: no temporary file can be made there.
  write_file_atomic((d / "plain").string(), "keep");
  const std::string msg2 = testing::error_of([&] { write_file_atomic((d / "plain" / "x").string(), "y"); });
  EXPECT_NE(msg2.find("cannot create a temporary file"), std::string::npos) << msg2;
  EXPECT_EQ(read(d / "plain"), "keep");
  fs::remove_all(d);
}

// Two writers replace one file 200 times each while a reader reads it: every read sees one whole
// version (all 'a' or all 'b', full length), and no temporary is left. With one fixed temporary
// name the writers would rename each other's half-written files.
TEST(AtomicFile, RacingWritersNeverMixAndReadersSeeWholeVersions) {
  const fs::path d = fresh_dir("race");
  const fs::path p = d / "result.csv";
  const size_t n = 1 << 16;
  const std::string a(n, 'a'), b(n, 'b');
  write_file_atomic(p.string(), a);
  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0}, reads{0};
  std::thread reader([&] {
    while (!done) {
      const std::string s = read(p);
      if (s != a && s != b) ++bad_reads;
      ++reads;
    }
  });
  auto writer = [&](const std::string& text) {
    for (int i = 0; i < 200; ++i) write_file_atomic(p.string(), text);
  };
  std::thread wa(writer, a), wb(writer, b);
  wa.join();
  wb.join();
  done = true;
  reader.join();
  EXPECT_EQ(bad_reads, 0) << "of " << reads << " reads";
  EXPECT_GT(reads, 0);
  const std::string last = read(p);
  EXPECT_TRUE(last == a || last == b);
  EXPECT_EQ(names_in(d), std::vector<std::string>{"result.csv"});
  fs::remove_all(d);
}


// Temporaries carry their writer's PID: one whose writer is gone is removed, one of a running
// writer (this process) and files of any other shape are kept.
TEST(AtomicFile, AbandonedTemporariesOfDeadWritersAreRemoved) {
  const fs::path d = fresh_dir("abandoned");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // reaped: no process has this PID now
  const std::string dead = std::to_string(child), alive = std::to_string(::getpid());
  for (const std::string& n : std::vector<std::string>{".checkpoint.pt.tmp." + dead + ".a1B2c3", ".metrics.csv.tmp." + dead + ".zzzzzz",
                              ".summary.json.tmp." + alive + ".Q9q9Q9", ".old.tmp.XXXXXX", "data.tmp." + dead + ".abcdef",
                              ".short.tmp." + dead + ".abc", "checkpoint.pt"}) {
    std::ofstream(d / n) << "x";
  }
  EXPECT_EQ(remove_abandoned_temporaries(d.string()), 2);
  EXPECT_EQ(names_in(d), (std::vector<std::string>{".old.tmp.XXXXXX", ".short.tmp." + dead + ".abc",
                                                   ".summary.json.tmp." + alive + ".Q9q9Q9", "checkpoint.pt",
                                                   "data.tmp." + dead + ".abcdef"}));
  EXPECT_EQ(remove_abandoned_temporaries((d / "missing").string()), 0);
}

}  // namespace
}  // namespace rngfree
