// The two programs (app/rngfree/main.cpp): `rngfree` holds the commands that do not need
// libtorch and does not link it; every other command line is handed to `rngfree-torch` beside it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "support/cli.hpp"
#include "support/files.hpp"

namespace rngfree::testing {
namespace {

const std::string kTorchProgram = std::string(RNGFREE_BINARY_DIR) + "/rngfree-torch";

TEST(ProgramSplit, OnlyRngfreeTorchLinksLibtorch) {
  // ldd (glibc's) lists the shared libraries the loader would map at start.
  const CliResult light = run_shell("ldd " + rngfree_program() + " 2>&1");
  ASSERT_EQ(light.status, 0) << light.out;
  EXPECT_EQ(light.out.find("libtorch"), std::string::npos) << light.out;
  EXPECT_EQ(light.out.find("libc10"), std::string::npos) << light.out;
  const CliResult full = run_shell("ldd " + kTorchProgram + " 2>&1");
  ASSERT_EQ(full.status, 0) << full.out;
  EXPECT_NE(full.out.find("libtorch_cpu"), std::string::npos) << full.out;
}

TEST(ProgramSplit, CommandLinesRngfreeLacksAreRunByRngfreeTorchWithTheSameResult) {
  // The listing names the commands of both parts, also under `bench`.
  const CliResult help = run_rngfree("--help");
  EXPECT_EQ(help.status, 0) << help.out;
  for (const char* name : {"train", "reproduce", "audit", "nist", "quantize", "harvest", "random", "bench"}) {
    EXPECT_NE(help.out.find(std::string("\n  ") + name), std::string::npos) << name << "\n" << help.out;
  }
  const CliResult bench = run_rngfree("bench --help");
  for (const char* name : {"train", "quantize", "nist", "random"}) {
    EXPECT_NE(bench.out.find(std::string("\n  ") + name), std::string::npos) << name << "\n" << bench.out;
  }
  // A refused flag of a libtorch command: the same message and status as rngfree-torch's own.
  for (const std::string args : {"train --epochs 0", "--verbose train --preset no-such-preset", "no-such-command", ""}) {
    const CliResult via = run_rngfree(args);
    CliResult direct = run_shell(kTorchProgram + " " + args + " 2>&1");
    // A usage line names the program by argv[0], which rngfree hands on unchanged.
    for (size_t at; (at = direct.out.find(kTorchProgram)) != std::string::npos;) {
      direct.out.replace(at, kTorchProgram.size(), rngfree_program());
    }
    EXPECT_NE(via.status, 0) << args;
    EXPECT_EQ(via.status, direct.status) << args;
    EXPECT_EQ(via.out, direct.out) << args;
  }
}

TEST(ProgramSplit, WithoutRngfreeTorchOnlyItsCommandsFailAndSaySo) {
  const auto dir = fresh_test_dir("programs", "alone");
  std::filesystem::copy_file(rngfree_program(), dir / "rngfree", std::filesystem::copy_options::overwrite_existing);
  const std::string alone = (dir / "rngfree").string();
  const CliResult train = run_shell(alone + " train --epochs 1 2>&1");
  EXPECT_EQ(train.status, 2) << train.out;
  EXPECT_NE(train.out.find("rngfree: error: "), std::string::npos) << train.out;
  EXPECT_NE(train.out.find((dir / "rngfree-torch").string()), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("cannot be started"), std::string::npos) << train.out;
  const CliResult random = run_shell(alone + " random --source philox --seed 1 --count 2 2>&1");
  EXPECT_EQ(random.status, 0) << random.out;
  EXPECT_EQ(random.out, run_rngfree("random --source philox --seed 1 --count 2").out);
}

}  // namespace
}  // namespace rngfree::testing
