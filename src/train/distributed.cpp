// Data-parallel plumbing (distributed.hpp, collectives.hpp): the torchrun environment, the c10d
// TCPStore + ProcessGroupGloo collectives with timeouts, and the local launcher of `--nproc N`.
// Debian's libtorch_cpu.so exports ProcessGroupGloo and TCPStore; gloo's headers are libgloo-dev's.
// libtorch first, through torch.hpp (clang in C++20 mode needs ivalue.h before the rest, docs/testing.md).
#include "rngfree/train/torch.hpp"
#include "rngfree/train/distributed.hpp"

#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "collectives.hpp"

extern char** environ;

namespace rngfree::train {

void DistConfig::validate() const {
  (void)checked_integer("world size", world_size, limits::kWorldSize);
  (void)checked_integer("rank", rank, limits::kRank);
  if (rank >= world_size) {
    throw Error(fmt::format("rank {}: allowed 0..{} (world size {}); set RANK / --rank below WORLD_SIZE", rank,
                            world_size - 1, world_size));
  }
  (void)checked_integer("master port", master_port, limits::kMasterPort);
  (void)checked_integer("distributed timeout", timeout_s, limits::kDistTimeout);
  if (master_addr.empty()) throw Error("master address: empty; set MASTER_ADDR or --master-addr (e.g. 127.0.0.1)");
}

AllreduceFormat parse_allreduce_format(const std::string& text) {
  if (text == "fp32") return AllreduceFormat::kFp32;
  if (text == "G") return AllreduceFormat::kGradient;
  throw Error(fmt::format("--allreduce '{}': allowed fp32 (every gradient in FP32) or G (weight gradients in the G "
                          "site's fixed:WL:dyn format)", text));
}

DistConfig dist_config_from_env(DistConfig base) {
  auto env = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
  };
  if (const char* v = env("RANK")) base.rank = parse_integer<int>("RANK", v, limits::kRank);
  if (const char* v = env("WORLD_SIZE")) base.world_size = parse_integer<int>("WORLD_SIZE", v, limits::kWorldSize);
  if (const char* v = env("MASTER_ADDR")) base.master_addr = v;
  if (const char* v = env("MASTER_PORT")) base.master_port = parse_integer<int>("MASTER_PORT", v, limits::kMasterPort);
  if (const char* v = env("RNGFREE_AGENT_STORE")) base.agent_store = std::string_view(v) == "1";
  return base;
}

namespace {
// A tap computed from the rank's own batch (input, act, err, grad, prob): it differs between the
// ranks of a data-parallel run. The weights (identical on every rank) and `self` (the tensor being
// rounded) do not.
bool rank_local_tap(harvest::TapKind kind) {
  return kind != harvest::TapKind::kWeights && kind != harvest::TapKind::kSelf;
}
}  // namespace

ReplicaBits replica_bits(const PlannedSite& p, UpdateBits update_bits) {
  if (!p.active || p.source == SourceKind::kNone) return ReplicaBits::kNone;
  const bool update = p.site == Site::kUpdate || p.site == Site::kMomentum || p.site == Site::kVariance;
  if (p.source == SourceKind::kGenerator) {
    const bool differing = p.site == Site::kActivations || p.site == Site::kErrors || p.site == Site::kGradients;
    return differing ? ReplicaBits::kRankStream : ReplicaBits::kNone;
  }
  bool local = rank_local_tap(p.tap);
  for (const auto& e : p.extra) local = local || rank_local_tap(e.tap);
  if (!local) return ReplicaBits::kNone;
  return update && update_bits == UpdateBits::kRankZero ? ReplicaBits::kRankZeroWords : ReplicaBits::kRankLocal;
}

std::string describe(ReplicaBits bits) {
  switch (bits) {
    case ReplicaBits::kNone: return {};
    case ReplicaBits::kRankLocal: return "each rank harvests its own words";
    case ReplicaBits::kRankStream: return "rank R draws this stream + R*2^40";
    case ReplicaBits::kRankZeroWords: return "rank 0's words, broadcast to every rank";
  }
  return {};
}

// ---- collectives -------------------------------------------------------------------------------

struct Collectives::State {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

namespace {
std::string brief(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string s = c10 != nullptr ? c10->what_without_backtrace() : e.what();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

Collectives::Collectives(const DistConfig& config) : config_(config), state_(std::make_unique<State>()) {
  config_.validate();
  const auto timeout = std::chrono::milliseconds(int64_t{config_.timeout_s} * 1000);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(config_.master_port);
    so.isServer = !config_.agent_store && config_.rank == 0;
    so.numWorkers = c10::nullopt;
    so.waitWorkers = false;
    so.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(config_.master_addr, so);
    state_->store = c10::make_intrusive<c10d::PrefixStore>("rngfree", tcp);
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // The address this worker listens on for its peers: GLOO_SOCKET_IFNAME's interface when set (as
    // in PyTorch), loopback for a run on one machine, else the address this host's name resolves to.
    const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
    const bool loopback = config_.master_addr.rfind("127.", 0) == 0 || config_.master_addr == "localhost";
    options->devices.push_back(ifname != nullptr && *ifname != '\0'
                                   ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                               : loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                          : c10d::ProcessGroupGloo::createDefaultDevice());
    options->threads = 1;
    state_->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(state_->store, config_.rank, config_.world_size, options);
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {}: could not join the run at {}:{} within {} s ({}); are all {} workers "
                            "started with the same MASTER_ADDR and MASTER_PORT?",
                            config_.rank, config_.world_size, config_.master_addr, config_.master_port,
                            config_.timeout_s, brief(e), config_.world_size),
                e.what());
  }
}

Collectives::~Collectives() = default;

namespace {
// wchar of /proc/self/io: bytes passed to write-type system calls by every thread of this process.
int64_t bytes_written_so_far() {
  std::ifstream f("/proc/self/io");
  std::string key;
  int64_t value = 0;
  while (f >> key >> value) {
    if (key == "wchar:") return value;
  }
  return -1;
}
}  // namespace

void Collectives::run(const char* what, const std::function<void()>& body) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t w0 = bytes_written_so_far();
  try {
    body();
  } catch (const std::exception& e) {
    throw Error(fmt::format("rank {} of {}: {} failed ({}); another worker probably stopped (its own error says "
                            "why) or did not answer within {} s",
                            config_.rank, config_.world_size, what, brief(e), config_.timeout_s),
                e.what());
  }
  seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t w1 = bytes_written_so_far();
  if (w0 < 0 || w1 < 0 || bytes_written_ < 0) {
    bytes_written_ = -1;
  } else {
    bytes_written_ += w1 - w0;
  }
}

void Collectives::max(torch::Tensor& tensor) {
  std::vector<torch::Tensor> v{tensor};
  run("allreduce (max) of the gradient scales", [&] {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::MAX;
    state_->group->allreduce(v, o)->wait();
  });
}

std::vector<torch::Tensor> Collectives::allgather(const torch::Tensor& tensor) {
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < config_.world_size; ++r) out[0].push_back(torch::empty_like(tensor));
  std::vector<torch::Tensor> inputs{tensor};
  run("allgather of the low-precision gradients", [&] { state_->group->allgather(out, inputs)->wait(); });
  return out[0];
}

void Collectives::average(std::span<torch::Tensor> tensors) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> flat_parts;
  flat_parts.reserve(tensors.size());
  for (const auto& t : tensors) flat_parts.push_back(t.reshape({-1}));
  std::vector<torch::Tensor> buf{torch::cat(flat_parts)};
  run("allreduce of the gradients", [&] {
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    state_->group->allreduce(buf, o)->wait();
  });
  buf[0].div_(static_cast<double>(config_.world_size));
  int64_t at = 0;
  for (auto& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(buf[0].narrow(0, at, n).view_as(t));
    at += n;
  }
}

void Collectives::broadcast(torch::Tensor& tensor) {
  std::vector<torch::Tensor> v{tensor};
  run("broadcast from rank 0", [&] { state_->group->broadcast(v)->wait(); });
}

void Collectives::broadcast_words(std::span<uint32_t> words) {
  // int32 carries the 32 bits unchanged (Gloo moves bytes; no arithmetic on them).
  torch::Tensor t = torch::from_blob(words.data(), {static_cast<int64_t>(words.size())}, torch::kInt32);
  broadcast(t);
}

std::vector<uint64_t> Collectives::allgather(uint64_t value) {
  torch::Tensor in = torch::tensor({static_cast<int64_t>(value)}, torch::kInt64);
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < config_.world_size; ++r) out[0].push_back(torch::empty({1}, torch::kInt64));
  std::vector<torch::Tensor> inputs{in};
  run("allgather of the parameter hashes", [&] { state_->group->allgather(out, inputs)->wait(); });
  std::vector<uint64_t> v;
  for (const auto& t : out[0]) v.push_back(static_cast<uint64_t>(t.item<int64_t>()));
  return v;
}

std::vector<std::string> Collectives::gather_bytes(const std::string& bytes) {
  const std::vector<uint64_t> sizes = allgather(bytes.size());
  const int64_t longest = static_cast<int64_t>(*std::max_element(sizes.begin(), sizes.end()));
  torch::Tensor in = torch::zeros({std::max<int64_t>(1, longest)}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(in.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  std::vector<std::vector<torch::Tensor>> out(1);
  for (int r = 0; r < config_.world_size; ++r) out[0].push_back(torch::empty_like(in));
  std::vector<torch::Tensor> inputs{in};
  run("allgather of the ranks' checkpoint state", [&] { state_->group->allgather(out, inputs)->wait(); });
  std::vector<std::string> v;
  if (config_.rank != 0) return v;
  for (int r = 0; r < config_.world_size; ++r) {
    v.emplace_back(reinterpret_cast<const char*>(out[0][r].data_ptr<uint8_t>()), sizes[static_cast<size_t>(r)]);
  }
  return v;
}

// ---- the local launcher ------------------------------------------------------------------------

std::vector<std::string> own_command_line() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t p; (p = all.find('\0', start)) != std::string::npos; start = p + 1) args.push_back(all.substr(start, p - start));
  if (start < all.size()) args.push_back(all.substr(start));
  return args;
}

namespace {
std::string how_it_ended(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "ended";
}
}  // namespace

int launch_local_workers(int nproc, const std::vector<std::string>& argv, int timeout_s) {
  (void)checked_integer("--nproc", nproc, limits::kNproc);
  (void)checked_integer("--dist-timeout", timeout_s, limits::kDistTimeout);
  if (argv.empty()) throw Error("launch_local_workers: empty command line");
  // The store lives here, in the launcher (torchrun's agent store): port 0 lets the kernel pick a
  // free port, so two runs (or two ctest jobs) never race for one.
  c10d::TCPStoreOptions so;
  so.port = 0;
  so.isServer = true;
  so.waitWorkers = false;
  so.timeout = std::chrono::milliseconds(int64_t{timeout_s} * 1000);
  c10::intrusive_ptr<c10d::TCPStore> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", so);
  } catch (const std::exception& e) {
    throw Error(fmt::format("--nproc {}: could not start the rendezvous store on 127.0.0.1 ({})", nproc, brief(e)));
  }
  const int port = store->getPort();
  // Everything the children need is built before fork: the store's thread runs in this process, so
  // a child may only call async-signal-safe functions (execve, write, _exit) before it execs.
  std::vector<std::string> args(argv);
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::vector<std::string> ours = {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "RNGFREE_AGENT_STORE"};
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const std::string_view key = kv.substr(0, kv.find('='));
    if (std::find(ours.begin(), ours.end(), key) == ours.end()) base_env.emplace_back(kv);
  }
  std::vector<std::vector<std::string>> envs(static_cast<size_t>(nproc), base_env);
  std::vector<std::vector<char*>> cenvs(static_cast<size_t>(nproc));
  for (int r = 0; r < nproc; ++r) {
    auto& e = envs[static_cast<size_t>(r)];
    e.push_back("RANK=" + std::to_string(r));
    e.push_back("WORLD_SIZE=" + std::to_string(nproc));
    e.push_back("MASTER_ADDR=127.0.0.1");
    e.push_back("MASTER_PORT=" + std::to_string(port));
    e.push_back("RNGFREE_AGENT_STORE=1");
    for (auto& kv : e) cenvs[static_cast<size_t>(r)].push_back(kv.data());
    cenvs[static_cast<size_t>(r)].push_back(nullptr);
  }
  static constexpr char kExecFailed[] = "rngfree: error: a worker could not exec /proc/self/exe\n";
  std::fflush(nullptr);
  std::vector<pid_t> pids(static_cast<size_t>(nproc), -1);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = fork();
    if (pid < 0) {
      for (pid_t p : pids) {
        if (p > 0) kill(p, SIGKILL);
      }
      throw Error(fmt::format("--nproc {}: fork failed for rank {} ({})", nproc, r, std::strerror(errno)));
    }
    if (pid == 0) {
      execve("/proc/self/exe", cargv.data(), cenvs[static_cast<size_t>(r)].data());
      [[maybe_unused]] const ssize_t w = write(2, kExecFailed, sizeof kExecFailed - 1);
      _exit(127);
    }
    pids[static_cast<size_t>(r)] = pid;
  }
  std::vector<int> status(static_cast<size_t>(nproc), 0);
  std::vector<bool> done(static_cast<size_t>(nproc), false);
  int running = nproc;
  bool failed = false, killed_rest = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    int st = 0;
    const pid_t pid = waitpid(-1, &st, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r) {
        if (pids[static_cast<size_t>(r)] != pid || done[static_cast<size_t>(r)]) continue;
        done[static_cast<size_t>(r)] = true;
        status[static_cast<size_t>(r)] = st;
        --running;
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0) && !failed) {
          failed = true;
          deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s + 10);
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;
    if (failed && !killed_rest && std::chrono::steady_clock::now() > deadline) {
      for (int r = 0; r < nproc; ++r) {
        if (!done[static_cast<size_t>(r)]) kill(pids[static_cast<size_t>(r)], SIGKILL);
      }
      killed_rest = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!failed) return 0;
  std::string list;
  for (int r = 0; r < nproc; ++r) {
    const int st = status[static_cast<size_t>(r)];
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) continue;
    list += fmt::format("\n  rank {} (pid {}) {}", r, pids[static_cast<size_t>(r)], how_it_ended(st));
  }
  throw Error(fmt::format("--nproc {}: the run failed:{}{}", nproc, list,
                          killed_rest ? fmt::format("\n(workers still running {} s after the first failure were killed)",
                                                    timeout_s + 10)
                                      : std::string()));
}

}  // namespace rngfree::train
