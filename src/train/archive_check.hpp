// The check a libtorch archive passes before libtorch reads it (checkpoint.cpp): libtorch 1.13's
// reader trusts the file, so a damaged or crafted checkpoint must be refused here, with an Error
// naming the file, rather than crash or read past a buffer inside libtorch.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace rngfree::train::detail
