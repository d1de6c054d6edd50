// The check a libtorch archive passes before libtorch reads it (checkpoint.cpp): libtorch 1.13's
// reader trusts the file, so a damaged or crafted checkpoint must be refused here, with an Error
// naming the file, rather than crash or read past a buffer inside libtorch.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "rngfree/train/torch.hpp"

namespace rngfree::train::detail {

// Throws rngfree::Error naming `path` unless `zip` is a zip archive (PKWARE APPNOTE 6.3, stored or
// deflated entries, zip64) whose every entry matches the CRC-32, sizes and name its central
// directory records, no two entries share a name, and every storage that a top-level pickle
// (`ROOT/NAME.pkl`) declares has its record `ROOT/NAME/KEY` holding exactly numel × itemsize bytes.
void check_torch_archive(std::string_view zip, const std::string& path);

// One storage a pickle declares through a persistent id ("storage", torch.TYPEStorage, key,
// location, numel), as libtorch's unpickler reads it.
struct StorageDeclaration {
  std::string type;  // e.g. "FloatStorage"
  std::string key;   // the record's name within NAME/
  int64_t numel = 0;
};

// The storages a pickle declares, in order. Walks the protocol-2 opcodes libtorch's pickler writes
// (a subset of what its unpickler accepts); anything else, a truncated argument, a stack underflow,
// an unknown memo index or a persistent id that is not a storage throws std::runtime_error saying so.
std::vector<StorageDeclaration> pickle_storages(std::string_view pickle);

// The tensors of an archive that torch::serialize::OutputArchive wrote, by name, read with
// libtorch's own zip reader and unpickler from ROOT/data.pkl — without importing the archive's
// TorchScript code (ROOT/code/): libtorch 1.13's TorchScript parser crashes on crafted code, and a
// CRC-32 is no defence against a crafted file (fuzz/findings/checkpoint-libtorch-jit-segv-crc).
// Call check_torch_archive first. Throws std::runtime_error for an archive it cannot read.
class ArchiveTensors {
 public:
  explicit ArchiveTensors(std::string_view zip);
  // The tensor named `key`; std::runtime_error naming it when there is none.
  void read(const std::string& key, torch::Tensor& tensor) const;
  bool contains(const std::string& key) const { return tensors_.count(key) != 0; }

 private:
  std::map<std::string, torch::Tensor> tensors_;
};

}  // namespace rngfree::train::detail
