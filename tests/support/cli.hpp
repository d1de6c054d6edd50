// Runs the built `rngfree` program from a test, as a user would, and captures its exit status and
// output (stdout and stderr together). The test targets depend on the program (tests/CMakeLists.txt),
// so a test that finds it missing fails rather than skips.
#pragma once
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

extern char** environ;  // POSIX; the spawned program gets the test's environment

namespace rngfree::testing {

struct CliResult {
  int status = -1;  // the program's exit code (-1 when it could not be started)
  std::string out;  // stdout and stderr
};

inline std::string rngfree_program() { return std::string(RNGFREE_BINARY_DIR) + "/rngfree"; }
inline bool rngfree_built() { return std::filesystem::exists(rngfree_program()); }

// Runs a shell command line and captures its output (give "2>&1" in it for stderr too) and exit code.
inline CliResult run_shell(const std::string& cmd) {
  CliResult r;
  std::FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

// Starts `argv[0] argv[1..]` (no shell) with stdout and stderr into `log`; returns its pid (-1 when
// it could not be started). For tests that kill or wait for the process themselves.
inline pid_t spawn_logged(std::vector<std::string> args, const std::filesystem::path& log) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

// Runs `rngfree ARGS` (ARGS is shell text); `input`, when given, is fed on stdin from a file.
inline CliResult run_rngfree(const std::string& args, const std::string* input = nullptr) {
  std::string cmd = rngfree_program() + " " + args;
  std::string input_path;
  if (input != nullptr) {
    input_path = (std::filesystem::temp_directory_path() /
                  ("rngfree_cli_stdin_" + std::to_string(::getpid()) + ".txt")).string();
    std::ofstream(input_path, std::ios::binary) << *input;
    cmd += " < " + input_path;
  }
  cmd += " 2>&1";
  CliResult r = run_shell(cmd);
  if (!input_path.empty()) std::filesystem::remove(input_path);
  return r;
}

// Runs `rngfree ARGS` with environment variables set (ENV is shell text: "RANK=2 WORLD_SIZE=2").
inline CliResult run_rngfree_env(const std::string& env, const std::string& args) {
  return run_shell("env " + env + " " + rngfree_program() + " " + args + " 2>&1");
}

inline std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> v;
  size_t start = 0;
  for (size_t p; (p = s.find('\n', start)) != std::string::npos; start = p + 1) v.push_back(s.substr(start, p - start));
  if (start < s.size()) v.push_back(s.substr(start));
  return v;
}

}  // namespace rngfree::testing
