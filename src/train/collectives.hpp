// The collectives a data-parallel Trainer needs (internal to src/train), on c10d's ProcessGroupGloo
// with a TCPStore rendezvous (distributed.hpp). Every call waits at most the configured timeout and
// turns c10d's and Gloo's errors into rngfree::Error naming the rank and the operation.
#pragma once
#include "rngfree/train/torch.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rngfree/train/distributed.hpp"

namespace rngfree::train {

class Collectives {
 public:
  // Connects to the rendezvous and builds the process group (waits up to config.timeout_s for the
  // other ranks).
  explicit Collectives(const DistConfig& config);
  ~Collectives();
  Collectives(const Collectives&) = delete;
  Collectives& operator=(const Collectives&) = delete;

  int rank() const { return config_.rank; }
  int world_size() const { return config_.world_size; }
  const DistConfig& config() const { return config_; }

  // In place: every tensor (float32, contiguous) becomes the mean over ranks; one allreduce of one
  // flat buffer (the sum over ranks, then divided by world_size).
  void average(std::span<torch::Tensor> tensors);
  // In place: rank 0's contents everywhere.
  void broadcast(torch::Tensor& tensor);
  void broadcast_words(std::span<uint32_t> words);
  // Every rank's value, indexed by rank.
  std::vector<uint64_t> allgather(uint64_t value);
  // In place: the elementwise maximum over ranks (float32).
  void max(torch::Tensor& tensor);
  // Every rank's copy of `tensor` (same shape and type on every rank), indexed by rank.
  std::vector<torch::Tensor> allgather(const torch::Tensor& tensor);
  // Every rank's bytes on rank 0, indexed by rank (the other ranks get an empty vector): one
  // allgather of the sizes, then one of the byte strings padded to the longest.
  std::vector<std::string> gather_bytes(const std::string& bytes);
  // Seconds spent inside collectives since construction.
  double seconds() const { return seconds_; }
  // Bytes this process wrote (write/writev: Gloo's sockets) while inside collectives since
  // construction, from /proc/self/io's wchar; -1 where /proc/self/io cannot be read.
  int64_t bytes_written() const { return bytes_written_; }

 private:
  void run(const char* what, const std::function<void()>& body);
  DistConfig config_;
  struct State;
  std::unique_ptr<State> state_;
  double seconds_ = 0;
  int64_t bytes_written_ = 0;
};

}  // namespace rngfree::train
